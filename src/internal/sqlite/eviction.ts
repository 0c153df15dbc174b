/**
 * Size limits of a SQLite store (`maxEntries`, `maxSize`, an eviction policy), kept on the SQL side: the number of
 * rows and the bytes of their values come from the counters row of the shared schema (maintained by triggers that the
 * open of a store with limits creates, never counted), victims come from an index of the policy, and the uses that order `lru`/`lfu` victims are buffered in
 * memory and written in one transaction at a time instead of turning every read into a write.
 *
 * - A write runs in a `BEGIN IMMEDIATE` transaction: the row is written, then `enforce` reads the counters and, when a
 *   limit is exceeded, removes expired rows (counted as expirations) and then the policy's victims, never the key
 *   being written, until both limits hold or `EVICT_STEP` rows were removed; the sweeper continues from there in
 *   batches of `EVICT_STEP`, one transaction each. With `"none"` the write fails with `StoreFull` instead and the
 *   transaction rolls back.
 * - Uses (reads returning an entry) are buffered as key → (last use stamp, uses) and flushed when `FLUSH_AT` keys
 *   are buffered, on each sweeper tick, before any eviction decision, and when the scope closes. Another process's
 *   buffered uses are not seen until it flushes: across processes the order is approximate.
 *
 * SQLite only (`INDEXED BY`, better-sqlite3 statements).
 *
 * @internal
 */
import type Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import { StoreFull } from "../../KeyValueStoreError.js"
import type * as regions from "../regions.js"
import * as sqlSchema from "../sql/schema.js"
import type { Limits } from "../validate.js"

/**
 * Most rows one write (or one sweeper transaction) removes to bring the store within its limits.
 *
 * @internal
 */
export const EVICT_STEP = 1000

/**
 * Buffered keys that trigger a flush of the uses.
 *
 * @internal
 */
export const FLUSH_AT = 1000

/** @internal */
export type Policy = Exclude<Limits["policy"], "none">

const orders: Record<Policy, string> = {
  lru: "accessed_at",
  lfu: "access_count, accessed_at",
  lrs: "updated_at, accessed_at"
}

/**
 * The name of the index a policy's victims are read through.
 *
 * @internal
 */
export const indexName = (table: string, policy: Policy): string => `${table}_${policy}`

/**
 * The statement texts of a table's limits under `policy`.
 *
 * @internal
 */
export interface Statements {
  /** Creates the policy's index; `undefined` for `"none"`, which has no victims. */
  readonly index: string | undefined
  /** `key, size` of the policy's victims in order: parameters the key to spare (or null), limit. */
  readonly victims: string | undefined
  /** `key, size` of expired rows, earliest expiry first: parameters now, the key to spare (or null), limit. */
  readonly expired: string
  readonly remove: string
  /** Applies buffered uses to a row: parameters stamp, count, key. */
  readonly use: string
}

/** @internal */
export const statements = (table: string, policy: Limits["policy"]): Statements => {
  if (!sqlSchema.isValidTableName(table)) throw new Error(`invalid table name: ${table}`)
  const t = `"${table}"`
  return {
    index: policy === "none"
      ? undefined
      : `CREATE INDEX IF NOT EXISTS "${indexName(table, policy)}" ON ${t} (${orders[policy]})`,
    victims: policy === "none"
      ? undefined
      : `SELECT key, size FROM ${t} INDEXED BY "${indexName(table, policy)}" WHERE key IS NOT ?
        ORDER BY ${orders[policy]} LIMIT ?`,
    expired: `SELECT key, size FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ? AND key IS NOT ?
      ORDER BY expires_at LIMIT ?`,
    remove: `DELETE FROM ${t} WHERE key = ?`,
    use: `UPDATE ${t} SET accessed_at = max(accessed_at, ?), access_count = access_count + ? WHERE key = ?`
  }
}

/**
 * Counters of the store instance, shared with the store that reports them.
 *
 * @internal
 */
export type Counters = regions.Counts

/** @internal */
export interface Eviction {
  /** A limit is configured. */
  readonly active: boolean
  /**
   * The limits refuse writes (policy `"none"`): a batch is then judged on its final state, by one `afterWrite` after
   * its last entry, as MemoryStore judges it.
   */
  readonly refuses: boolean
  /**
   * Records a read that returned the entry of `key`; `undefined` when reads are not uses worth recording (no limit,
   * or a policy that ignores reads), so that such reads do no bookkeeping at all.
   */
  readonly used: ((key: string, now: number) => void) | undefined
  /** Run inside a write's transaction just before it writes `key`: applies the key's buffered uses first. */
  readonly beforeWrite: (key: string) => void
  /**
   * Run inside a write's transaction once it wrote `key`: brings the store within its limits, or throws `StoreFull`
   * (policy `"none"`), which rolls the transaction back.
   */
  readonly afterWrite: (key: string, now: number) => void
  /**
   * Runs a write transaction (`f`) on behalf of `method`: the counters count its removals only once it committed.
   * Must wrap every transaction that calls `afterWrite`.
   */
  readonly run: <A>(method: string, f: () => A) => A
  /** Writes the buffered uses in one transaction. */
  readonly flush: () => void
  /**
   * One sweeper tick: flushes the uses, then removes rows in transactions of at most `EVICT_STEP` rows, yielding
   * between them, until the limits hold (rows written by other processes, or left by a write that met its step).
   */
  readonly sweep: (
    guard: <A>(step: Effect.Effect<A, KeyValueStoreError>) => Effect.Effect<A, KeyValueStoreError>
  ) => Effect.Effect<void, KeyValueStoreError>
}

interface Use {
  stamp: number
  count: number
}

interface Candidate {
  readonly key: string
  readonly size: number
}

interface Counts {
  readonly entries: sqlSchema.BigIntColumn
  readonly bytes: sqlSchema.BigIntColumn
}

const noop = (): void => {}

/**
 * The limits of one SQLite connection's store, creating the policy's index when a limit is configured. `wrap` runs
 * a transaction that removes rows (the large-value files' `run`, which deletes the files of removed rows after
 * commit); `toError` maps a driver failure of the sweeper.
 *
 * @internal
 */
export const make = (options: {
  readonly db: Database.Database
  readonly table: string
  readonly backend: string
  readonly limits: Limits
  readonly counters: Counters
  readonly wrap?: (<A>(f: () => A) => A) | undefined
  readonly toError: (method: string, cause: unknown) => KeyValueStoreError
}): Eviction => {
  const { backend, counters, db, limits } = options
  const { maxEntries, maxSize, policy } = limits
  const active = maxEntries !== undefined || maxSize !== undefined
  if (!active) {
    return {
      active,
      refuses: false,
      used: undefined,
      beforeWrite: noop,
      afterWrite: noop,
      run: (_method, f) => f(),
      flush: noop,
      sweep: () => Effect.void
    }
  }
  const wrap = options.wrap ?? ((f) => f())
  const s = statements(options.table, policy)
  if (s.index !== undefined) db.exec(s.index)
  const text = sqlSchema.statements(options.table, "sqlite")
  const countsStatement = db.prepare<[], Counts>(text.counters)
  const recountStatement = db.prepare(text.recount)
  const victimsStatement = s.victims === undefined
    ? undefined
    : db.prepare<[string | null, number], Candidate>(s.victims)
  const expiredStatement = db.prepare<[number, string | null, number], Candidate>(s.expired)
  const removeStatement = db.prepare<[string]>(s.remove)
  const useStatement = db.prepare<[number, number, string]>(s.use)

  const tracking = policy === "lru" || policy === "lfu"
  const buffer = new Map<string, Use>()
  // Removals of the running write, counted once it commits, and how many more it may make (one budget for a whole
  // `setMany`, so that no write removes more than `EVICT_STEP` rows).
  let pending = { evictions: 0, expirations: 0 }
  let budget = EVICT_STEP
  let method = "set"

  const applyUses = (): void => {
    for (const [key, use] of buffer) useStatement.run(use.stamp, use.count, key)
    buffer.clear()
  }
  const flushTransaction = db.transaction(applyUses)
  const flush = (): void => {
    if (buffer.size > 0) flushTransaction.immediate()
  }

  const used = (key: string, now: number): void => {
    const stamp = sqlSchema.useStamp(now)
    const use = buffer.get(key)
    if (use === undefined) buffer.set(key, { stamp, count: 1 })
    else {
      use.stamp = stamp
      use.count++
    }
    if (buffer.size >= FLUSH_AT) {
      try {
        flush()
      } catch {
        // The read succeeded; its bookkeeping is best effort (another process holding the lock past the busy
        // timeout, a closed connection): the buffered uses are dropped rather than failing reads.
        buffer.clear()
      }
    }
  }

  const beforeWrite = (key: string): void => {
    const use = buffer.get(key)
    if (use === undefined) return
    buffer.delete(key)
    useStatement.run(use.stamp, use.count, key)
  }

  const counts = (): Counts => {
    const row = countsStatement.get()
    if (row !== undefined) return row
    // The row was deleted behind the store's back: recount rather than evict blindly.
    recountStatement.run()
    return countsStatement.get()!
  }

  // Removes rows until both limits hold or the budget is spent; returns whether the limits hold and how many rows
  // went. `spare` is the key being written (never its own victim); `strict` fails a `"none"` store.
  const enforce = (
    now: number,
    spare: string | null,
    strict: boolean
  ): { readonly within: boolean; readonly removed: number } => {
    const row = counts()
    let entries = sqlSchema.toNumber(row.entries)
    let bytes = sqlSchema.toNumber(row.bytes)
    const over = () => (maxEntries !== undefined && entries > maxEntries) || (maxSize !== undefined && bytes > maxSize)
    if (!over()) return { within: true, removed: 0 }
    if (tracking) applyUses()
    let removed = 0
    // Collects candidates first (a statement being iterated blocks the connection), then deletes them.
    const take = (candidates: IterableIterator<Candidate>): number => {
      const keys: Array<string> = []
      for (const candidate of candidates) {
        keys.push(candidate.key)
        entries--
        bytes -= sqlSchema.toNumber(candidate.size)
        if (!over()) break
      }
      for (const key of keys) removeStatement.run(key)
      removed += keys.length
      budget -= keys.length
      return keys.length
    }
    pending.expirations += take(expiredStatement.iterate(now, spare, budget))
    if (over() && victimsStatement !== undefined && budget > 0) {
      pending.evictions += take(victimsStatement.iterate(spare, budget))
    }
    if (over() && strict && policy === "none") {
      const limit = maxEntries !== undefined && entries > maxEntries ? "maxEntries" : "maxSize"
      throw new StoreFull({
        method,
        ...(spare === null ? {} : { key: spare }),
        backend,
        limit,
        max: limit === "maxEntries" ? maxEntries! : maxSize!
      })
    }
    return { within: !over(), removed }
  }

  const run = <A>(name: string, f: () => A): A => {
    method = name
    pending = { evictions: 0, expirations: 0 }
    budget = EVICT_STEP
    const result = wrap(f)
    counters.evictions += pending.evictions
    counters.expirations += pending.expirations
    return result
  }

  const sweepStep = db.transaction((now: number) => enforce(now, null, false))

  // Each step runs behind `guard` (the store's transaction gate), so no step joins a transaction region that opened
  // while the sweeper yielded.
  const sweep = (
    guard: <A>(step: Effect.Effect<A, KeyValueStoreError>) => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<void, KeyValueStoreError> => {
    const step = guard(Effect.clockWith((clock) =>
      Effect.try({
        try: () => run("sweep", () => sweepStep.immediate(clock.unsafeCurrentTimeMillis())),
        catch: (cause) => options.toError("sweep", cause)
      })
    ))
    const loop: Effect.Effect<void, KeyValueStoreError> = Effect.flatMap(
      step,
      (result) => result.within || result.removed === 0 ? Effect.void : Effect.zipRight(Effect.yieldNow(), loop)
    )
    return Effect.zipRight(
      guard(Effect.try({ try: flush, catch: (cause) => options.toError("sweep", cause) })),
      loop
    )
  }

  return {
    active,
    refuses: policy === "none",
    used: tracking ? used : undefined,
    beforeWrite: tracking ? beforeWrite : noop,
    afterWrite: (key, now) => {
      enforce(now, key, true)
    },
    run,
    flush,
    sweep
  }
}
