/**
 * The embedded default backend: one SQLite file driven by raw `better-sqlite3` prepared statements, run synchronously
 * inside Effect (no connection pool, no statement cache lookup, no promise per operation). The database runs in WAL
 * mode with a busy timeout, so several processes may share one file: setup is idempotent and race-free, and every
 * read-modify-write runs in a `BEGIN IMMEDIATE` transaction, atomic across processes. Expired rows are invisible at
 * once and removed by a scoped sweeper in bounded batches, which writes of short-lived entries bring early, and by
 * the writes themselves (two expired rows per write that sets an expiry; see `SweepOptions`), so the file does not
 * grow under a stream of short-lived entries. The tables are those of the shared SQL schema, so a file
 * written here opens in `SqlStore` and vice versa.
 *
 * Values larger than `largeValueThreshold` (default 32 KiB) are files in `<filename>.files/` beside the database: each
 * is written to a temp file, flushed and renamed to a fresh random name before the row naming it is written, and the
 * file of a row that was overwritten or removed is deleted once that change committed. A crash therefore leaves at
 * most orphaned files (for `check`), never a row naming a missing file. A file's name carries the CRC-32 of its
 * bytes, and every read of it checks its length and checksum: a file missing, truncated or altered behind the store's
 * back is `StoreCorrupted` naming the key, never returned as data (files written before checksums, by format 2, are
 * checked by length until their key is written again; the first open of such a database marks it format 3, which
 * older versions refuse to open). `SqlStore` cannot read such rows (it fails with `Unsupported`), and its overwrites and removals of
 * them leave orphaned files. `volume` is the database, its write-ahead log and every file of the directory (orphans
 * and files being written included: what the store occupies on disk). Copy or back up the directory with the
 * database.
 *
 * Opening checks the file's structure (`verifyOnOpen`: SQLite's `quick_check`, by default for databases up to 64 MiB)
 * and refuses a damaged file with `StoreCorrupted`; `check` reports damage it cannot repair in place, and `recover`
 * copies every entry that can still be read into a new file.
 *
 * Optional size limits (`maxEntries`, `maxSize`) evict by policy inside each write's transaction, counting through a
 * counters row kept by triggers; reads record their uses in memory and write them in batches (see `Options`). The row
 * and its triggers are created (from a count of the table) by the first open with a limit, and stay in the file from
 * then on: a store without limits on a file no limited store opened writes no counters (format 4; files of formats
 * 2 and 3, whose every write updated the counters, are migrated at their first open: the counters are dropped).
 *
 * Caveat: better-sqlite3 waits for another connection's lock synchronously, on the calling thread, for up to
 * `busyTimeout` (default 5 seconds). While another process holds the write lock, a write of this store (and the
 * sweeper's `DELETE`) blocks the whole event loop for that long: no other fiber, timer or I/O callback of the process
 * runs until the lock is free or the wait ends with `Busy`. Keep `busyTimeout` short where the event loop must stay
 * responsive and other processes write to the same file. Inside one process, the SqliteStores (and index
 * configurations) of one file share their transaction regions' bookkeeping: while one holds a region, the others'
 * fibers wait for it without blocking the thread. A fiber inside the region that uses another store of the file, or a
 * connection of another kind holding the lock across an asynchronous step (a `SqlStore`'s client in the middle of
 * `sql.withTransaction`), cannot get the lock while the wait blocks the thread, so that operation fails with `Busy`.
 *
 * Transaction regions (`withTransaction`, `transaction`) are `BEGIN IMMEDIATE` transactions; nested ones are
 * savepoints. A fenced write is one `BEGIN IMMEDIATE` transaction (a savepoint inside a region) holding the check of
 * the lock's lease row and the write. A rollback restores every row and large-value file, and the eviction and expiration counts; uses of
 * entries recorded for `"lru"`/`"lfu"` and written inside a region that rolls back are lost (the order is approximate
 * anyway).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as sqlSchema from "../internal/sql/schema.js"
import * as sqliteCheck from "../internal/sqlite/check.js"
import * as eviction from "../internal/sqlite/eviction.js"
import * as sqliteFile from "../internal/sqlite/file.js"
import * as sqliteIndex from "../internal/sqlite/indexConfig.js"
import * as largeValues from "../internal/sqlite/largeValues.js"
import * as sqliteLeases from "../internal/sqlite/leases.js"
import * as sqliteRecover from "../internal/sqlite/recover.js"
import * as sweeper from "../internal/sweeper.js"
import * as validate from "../internal/validate.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { BackendError, Busy } from "../KeyValueStoreError.js"
import { InvalidArgument, LockLost, StoreCorrupted } from "../KeyValueStoreError.js"

/**
 * Options of a SQLite store; only `filename` is required.
 *
 * Size limits (`maxEntries`, `maxSize`: bytes of values; no limit by default) are kept in the file by a counters row
 * that triggers maintain, so a write never counts the table (created by the first open with a limit, which counts the
 * table once; every store writing the file then pays one update of that row per write). A write that takes the store
 * beyond a limit removes expired entries first, then the policy's victims (never the entry it writes), in the same transaction: after it
 * returns the limits hold, unless it needed more than 1000 removals; then it removes 1000 and the sweeper removes the
 * rest on its next tick, in transactions of 1000 (so a write never blocks for long). With `eviction: "none"` such a
 * write fails with `StoreFull` and changes nothing. Uses that order `"lru"`/`"lfu"` victims (reads returning the entry,
 * and writes) are buffered in memory and written in one transaction per 1000 keys, per sweeper tick, before an
 * eviction and when the scope closes: a process does not see another's unwritten uses, so across processes the order
 * is approximate. A limit creates an index of the policy in the file, which every later write pays to maintain.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends KeyValueStore.StoreOptions, KeyValueStore.SweepOptions, KeyValueStore.LimitOptions {
  /** Database file; a leading `~` is the home directory, missing parent directories are created. `":memory:"` works. */
  readonly filename: string
  /** Table name (plain identifier, default `"effect_kv"`); the store also uses `<table>_tags` and `<table>_meta`. */
  readonly table?: string | undefined
  /**
   * How long a statement waits for another connection's lock before failing with `Busy` (default 5 seconds). The
   * wait is synchronous: under contention from another process, a write (and the sweeper's `DELETE`) blocks the
   * event loop for up to this long.
   */
  readonly busyTimeout?: Duration.DurationInput | undefined
  /** `PRAGMA synchronous`: `"normal"` (default; durable in WAL mode across process crashes), `"full"`, `"off"`. */
  readonly synchronous?: "normal" | "full" | "off" | undefined
  /** `PRAGMA mmap_size` in bytes (default 256 MiB; 0 disables memory mapping). */
  readonly mmapSize?: number | undefined
  /**
   * Whether opening runs SQLite's structural check (`PRAGMA quick_check`: every page, b-tree and record) and refuses a
   * damaged file with `StoreCorrupted`. It reads the whole database: about 25 ms for 64 MiB in the page cache, 0.8 to
   * 1.2 s for 1.35 GB (25 s when none of it is cached) on our machines. By default it runs when the database and its
   * write-ahead log hold at most 64 MiB; `true` checks any size, `false` never (`check` still finds the damage). A
   * header damaged beyond reading fails every open.
   */
  readonly verifyOnOpen?: boolean | undefined
  /**
   * Values strictly larger than this many bytes are stored as files in `<filename>.files/` beside the database
   * (default 32 KiB; `Infinity` keeps every value inline). A `":memory:"` database keeps every value inline.
   */
  readonly largeValueThreshold?: number | undefined
}

/**
 * What a SQLite store on a file can do. A `":memory:"` store reports `persistent`, `crossProcess` and `volume` as
 * false: its entries live and die with its connection.
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: KeyValueStore.Capabilities = {
  persistent: true,
  expiry: true,
  eviction: true,
  crossProcess: true,
  orderedKeys: true,
  enumeration: true,
  tags: true,
  metadata: true,
  transactions: true,
  locks: true,
  check: true,
  volume: true,
  fencedWrites: true
}

const memoryCapabilities: KeyValueStore.Capabilities = sqliteFile.inMemory(capabilities)

const backend = "sqlite"

// A `get` row as an array (`value, file, size`): no object per row. `size` checks a value read from its file.
type GetRow = readonly [value: Buffer, file: string | null, size: number | bigint]

interface ScanRow {
  readonly key: string
  readonly value: Buffer
  readonly file: string | null
  readonly size: number | bigint
}

const { attempt, openError, toError } = sqliteFile.errorsOf(backend)

interface Settings extends sqliteFile.ConnectionSettings {
  readonly table: string
  readonly sweep: sweeper.Settings
  readonly largeValueThreshold: number
}

const settingsOf = (options: Options): Settings | InvalidArgument => {
  const table = sqlSchema.tableOf(options.table)
  if (table instanceof InvalidArgument) return table
  const connection = sqliteFile.connectionSettings(options)
  if (connection instanceof InvalidArgument) return connection
  const sweep = sweeper.settings(options)
  if (sweep instanceof InvalidArgument) return sweep
  const largeValueThreshold = largeValues.thresholdOf(options.largeValueThreshold)
  if (largeValueThreshold instanceof InvalidArgument) return largeValueThreshold
  return { ...connection, table, sweep, largeValueThreshold }
}

// Creates the schema and the format row in the opening `BEGIN IMMEDIATE` transaction: concurrent openers queue on the
// write lock and `IF NOT EXISTS` makes the later ones no-ops. The format is read before anything else is created, so
// a table of another format (an index, a future version) is refused untouched; an older format is migrated in the same
// transaction, and a store with limits creates the counters (once per file). Then prepares the statements and sets
// up large values and eviction, all inside `sqliteFile.open`'s busy retry.
const open = (
  settings: Settings,
  statements: sqlSchema.Statements,
  limits: validate.Limits,
  counters: eviction.Counters
) =>
  sqliteFile.open(settings, (db) => {
    const [metaTable, ...rest] = statements.schema
    db.exec(metaTable!)
    const existing = db.prepare(statements.readFormat).pluck().get()
    if (existing !== undefined) {
      const mismatch = sqlSchema.checkFormat(backend, settings.table, settings.filename, existing, "sqlite")
      if (mismatch !== undefined) throw mismatch
    }
    for (const statement of rest) db.exec(statement)
    for (const statement of sqliteLeases.schema(settings.table)) db.exec(statement)
    const version = String(sqlSchema.formatVersion("sqlite"))
    db.prepare(statements.initFormat).run(version)
    if (existing !== undefined && existing !== version) {
      for (const statement of statements.migrate) db.exec(statement)
      db.prepare(statements.upgradeFormat).run(version, existing)
    }
    // Only a store with size limits pays for the counters' triggers (a third page written by every commit).
    if (limits.maxEntries !== undefined || limits.maxSize !== undefined) {
      if (db.prepare(statements.counting.present).get() === undefined) {
        for (const statement of statements.counting.create) db.exec(statement)
      }
    }
  }, (db) => {
    const s = statements
    const prepared = {
      getStatement: db.prepare<[string, number], GetRow>(s.get).raw(),
      getValueStatement: db.prepare<[string, number], Buffer>(s.getValue).pluck(),
      getEntryStatement: db.prepare<[string, number], sqlSchema.EntryRow>(s.getEntry),
      hasStatement: db.prepare<[string, number], number>(s.has).pluck(),
      expiresAtStatement: db.prepare<[string, number], number | null>(s.expiresAt).pluck(),
      upsertStatement: db.prepare(s.upsert),
      insertTagStatement: db.prepare<[string, string]>(s.insertTag),
      removeStatement: db.prepare<[string], number | null>(s.remove).pluck(),
      removeTagStatement: db.prepare<[string], number | null>(s.removeTag).pluck(),
      removeTagInRangeStatements: [false, true].map((bounded) => db.prepare(s.removeTagInRange(bounded)).pluck()),
      touchStatement: db.prepare<[number | null, number, number, string, number]>(s.touch),
      deleteExpiredBatchStatement: db.prepare<[number, number]>(s.deleteExpiredBatch),
      deleteExpiredStatement: db.prepare<[number]>(s.deleteExpired),
      clearStatements: s.clear.map((text) => db.prepare(text)),
      sizeStatement: db.prepare<[number], number>(s.size).pluck(),
      scanKeysStatements: [false, true].map((bounded) => db.prepare(s.scanKeys(bounded)).pluck()),
      scanEntriesStatements: [false, true].map((bounded) =>
        db.prepare<Array<unknown>, ScanRow>(s.scanEntries(bounded))
      ),
      countRangeStatements: [false, true].map((bounded) => db.prepare(s.countRange(bounded)).pluck()),
      removeRangeStatements: [false, true].map((bounded) => db.prepare(s.removeRange(bounded)).pluck())
    }
    const files = largeValues.make(db, {
      backend,
      table: settings.table,
      databaseFile: db.memory || sqliteFile.isMemory(settings.filename) ? undefined : settings.filename,
      threshold: settings.largeValueThreshold,
      durable: settings.synchronous !== "OFF"
    })
    const evict = eviction.make({
      db,
      table: settings.table,
      backend,
      limits,
      counters,
      wrap: files.run,
      toError: (method, cause) => toError(method, undefined, cause)
    })
    return { db, prepared, files, evict }
  })

/**
 * Opens (creating when needed) a SQLite store whose sweeper and connection live as long as the scope. Closing the
 * scope stops the sweeper and closes the connection; an operation after that fails with `BackendError`.
 *
 * A file that is not a SQLite database, a damaged one (see `verifyOnOpen`), or a store written by an incompatible
 * format version, fails with `StoreCorrupted` (`recover` copies what a damaged file still holds into a new one); a
 * location that cannot be created or opened fails with `BackendError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* SqliteStore.make({ filename: "~/.cache/my-app/kv.db" })
 *   yield* store.set("a", "1", { ttl: "1 hour" })
 *   return yield* store.getString("a")
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<KeyValueStore.Service, StoreCorrupted | BackendError | Busy | InvalidArgument, Scope.Scope> =>
  Effect.gen(function*() {
    const optionsError = validate.checkStoreOptions(options)
    if (optionsError !== undefined) return yield* optionsError
    const settings = settingsOf(options)
    if (settings instanceof InvalidArgument) return yield* Effect.fail(settings)
    const limits = validate.checkLimits(options)
    if (limits instanceof InvalidArgument) return yield* Effect.fail(limits)
    const s = sqlSchema.statements(settings.table, "sqlite")
    const counters = { evictions: 0, expirations: 0 }
    const { db, evict, files, prepared } = yield* Effect.acquireRelease(
      Effect.try({ try: () => open(settings, s, limits, counters), catch: openError }),
      ({ db }) => Effect.sync(() => db.close())
    )
    const {
      clearStatements,
      countRangeStatements,
      deleteExpiredBatchStatement,
      deleteExpiredStatement,
      expiresAtStatement,
      getEntryStatement,
      getStatement,
      getValueStatement,
      hasStatement,
      insertTagStatement,
      removeRangeStatements,
      removeStatement,
      removeTagInRangeStatements,
      removeTagStatement,
      scanEntriesStatements,
      scanKeysStatements,
      sizeStatement,
      touchStatement,
      upsertStatement
    } = prepared
    // Runs before the connection closes (finalizers run in reverse order): buffered uses are not lost.
    yield* Effect.addFinalizer(() => Effect.ignore(Effect.try(() => evict.flush())))

    // Throws a damaged row's `StoreCorrupted`, which rolls back an enclosing transaction and passes `toError` as is.
    const readEntry = (method: string, key: string, now: number): Option.Option<KeyValueStore.Entry> => {
      const found = getEntryStatement.get(key, now)
      const row = found === undefined || found.file === null
        ? found
        : files.load(method, key, found, () => getEntryStatement.get(key, now))
      if (row === undefined) return Option.none()
      const entry = sqlSchema.toEntry(backend, method, key, row)
      if (entry instanceof StoreCorrupted) throw entry
      return Option.some(entry)
    }

    // `file`: the file `files.spill` wrote the value to, or null to keep the value in the row. `enforce`: bring the
    // store within its limits after this row (a batch under policy "none" does it once, after its last row).
    const writeRow = (
      key: string,
      value: Uint8Array,
      write: KeyValueStore.Write,
      now: number,
      file: string | null = null,
      enforce = true
    ): void => {
      evict.beforeWrite(key)
      upsertStatement.run(...sqlSchema.upsertParams(key, value, write, now, file))
      for (const tag of write.tags) insertTagStatement.run(tag, key)
      if (enforce) evict.afterWrite(key, now)
    }

    // `get` of this `DELETE ... RETURNING` reads all its rows, so a failed autocommit throws (sqliteFile `reportCommits`).
    const removeRow = (key: string, now: number): boolean => sqlSchema.isLive(removeStatement.get(key), now)

    const writeTagged = db.transaction(writeRow)
    const setMany = db.transaction(
      (entries: ReadonlyArray<KeyValueStore.WriteEntry>, now: number, spilled: ReadonlyArray<string | null>) => {
        entries.forEach((entry, i) =>
          writeRow(entry.key, entry.value, entry.write, now, spilled[i] ?? null, !evict.refuses)
        )
        const last = entries[entries.length - 1]
        if (evict.refuses && last !== undefined) evict.afterWrite(last.key, now)
      }
    )
    const removeMany = db.transaction((keys: ReadonlyArray<string>, now: number) => {
      let n = 0
      for (const key of keys) if (removeRow(key, now)) n++
      return n
    })
    // The value of a `get` row. One naming a file reads the file, outside any transaction: when another process has
    // just replaced the row and deleted the file, `files.load` reads the row again.
    const valueOf = (
      method: string,
      key: string,
      row: GetRow | undefined,
      now: number
    ): Option.Option<Uint8Array> => {
      if (row === undefined) return Option.none()
      if (row[1] === null) return Option.some(row[0])
      const reread = () => {
        const again = getStatement.get(key, now)
        return again && { value: again[0], file: again[1], size: again[2] }
      }
      const loaded = files.load(method, key, { value: row[0], file: row[1], size: row[2] }, reread)
      return loaded === undefined ? Option.none() : Option.some(loaded.value)
    }
    // An empty value may stand for a file: its row is read again with the file column (the same snapshot).
    const getMany = db.transaction((keys: ReadonlyArray<string>, now: number) =>
      keys.map((key): Buffer | GetRow | undefined => {
        const value = getValueStatement.get(key, now)
        return value === undefined || value.byteLength > 0 ? value : getStatement.get(key, now)
      })
    )
    const clear = db.transaction(() => {
      for (const statement of clearStatements) statement.run()
    })
    const modify = db.transaction(
      (
        key: string,
        now: number,
        f: (current: Option.Option<KeyValueStore.Entry>) => readonly [unknown, KeyValueStore.Mutation]
      ): unknown => {
        const [result, mutation] = f(readEntry("modify", key, now))
        if (mutation._tag === "Write") writeRow(key, mutation.value, mutation.write, now, files.spill(mutation.value))
        else if (mutation._tag === "Remove") removeStatement.get(key)
        return result
      }
    )
    const removeRange = db.transaction((range: KeyValueStore.KeyRange, now: number) => {
      let n = 0
      const removed = sqliteFile.inRange(
        removeRangeStatements,
        range.prefix,
        range.after,
        (statement, bounds) => statement.all(...bounds)
      )
      for (const expiresAt of removed) if (sqlSchema.isLive(expiresAt as number | null, now)) n++
      return n
    })

    // Reads that return an entry are uses only with a limit under "lru" or "lfu"; otherwise reads record nothing.
    const used = evict.used
    const seen = <A>(key: string, now: number, found: Option.Option<A>): Option.Option<A> => {
      if (used !== undefined && found._tag === "Some") used(key, now)
      return found
    }

    const unsafe = {
      get: (key: string, now: number): Option.Option<Uint8Array> => {
        let value: Buffer | undefined
        try {
          value = getValueStatement.get(key, now)
        } catch (cause) {
          throw toError("get", key, cause)
        }
        if (value === undefined) return Option.none()
        if (used !== undefined) used(key, now)
        if (value.byteLength > 0) return Option.some(value)
        // An empty value is inline or stands for a file: the row is read again with its file column.
        try {
          return valueOf("get", key, getStatement.get(key, now), now)
        } catch (cause) {
          throw toError("get", key, cause)
        }
      },
      set: (key: string, value: Uint8Array, write: KeyValueStore.Write, now: number): void => {
        try {
          files.run(() => {
            // The file is written before the transaction, so that no write lock is held while it is.
            const file = files.spill(value)
            if (write.tags.length === 0 && !evict.active) writeRow(key, value, write, now, file)
            else evict.run("set", () => writeTagged.immediate(key, value, write, now, file))
          })
        } catch (cause) {
          throw toError("set", key, cause)
        }
      },
      has: (key: string, now: number): boolean => {
        try {
          return hasStatement.get(key, now) !== undefined
        } catch (cause) {
          throw toError("has", key, cause)
        }
      },
      remove: (key: string, now: number): boolean => {
        try {
          return files.run(() => removeRow(key, now))
        } catch (cause) {
          throw toError("remove", key, cause)
        }
      }
    }

    const regions = sqliteFile.regionsOf(db, files, (method, cause) => toError(method, undefined, cause), counters)
    const leases = sqliteLeases.make(db, settings.table, (method, cause) => toError(method, undefined, cause))

    // A fenced write: the lease check and the write `body` in one `BEGIN IMMEDIATE` transaction (a savepoint inside
    // an open one), in one synchronous step, so no other connection can take the lock between them; files the write
    // releases are deleted once it committed.
    const fencedWrite = db.transaction(
      (fence: KeyValueStore.Fence, now: number, method: string, key: string | undefined, body: () => unknown) => {
        if (!leases.holds(fence.name, fence.owner, now)) throw new LockLost({ method, key, name: fence.name })
        return body()
      }
    )
    const fenced = <A>(
      method: string,
      key: string | undefined,
      fence: KeyValueStore.Fence | undefined,
      now: number,
      body: () => A
    ): A => fence === undefined ? body() : files.run(() => fencedWrite.immediate(fence, now, method, key, body) as A)

    // Write-side reclamation (see `sweeper.start`), best effort and outside transaction regions only: a statement that
    // fails inside one may have ended its transaction, which the region must then report.
    const reclaim = (now: number, most: number): void => {
      if (db.inTransaction) return
      try {
        files.run(() => {
          counters.expirations += deleteExpiredBatchStatement.run(now, most).changes
        })
      } catch {
        // The sweeper meets the same rows, and reports what fails.
      }
    }

    const { batch } = settings.sweep
    const pacer = yield* sweeper.start(
      settings.sweep,
      sweeper.drain(regions.guard(
        Effect.clockWith((clock) =>
          attempt("sweep", undefined, () =>
            files.run((): sweeper.Slice => {
              const removed = deleteExpiredBatchStatement.run(clock.unsafeCurrentTimeMillis(), batch).changes
              counters.expirations += removed
              return { removed, full: removed >= batch }
            }))
        )
      )).pipe(Effect.zipRight(evict.sweep(regions.guard))),
      "SqliteStore",
      reclaim
    )

    return KeyValueStore.make(sweeper.paced(pacer, {
      backend,
      capabilities: db.memory ? memoryCapabilities : capabilities,
      separator: options.separator,
      maxKeyBytes: options.maxKeyBytes,
      // A value larger than `maxSize` could never be kept: it fails with `ValueTooLarge` whatever the policy.
      maxValueBytes: limits.maxSize === undefined
        ? options.maxValueBytes
        : Math.min(options.maxValueBytes ?? limits.maxSize, limits.maxSize),
      unsafe,
      get: (key, now) => attempt("get", key, () => unsafe.get(key, now)),
      getEntry: (key, now) => attempt("getEntry", key, () => seen(key, now, readEntry("getEntry", key, now))),
      set: (key, value, write, now, fence) =>
        attempt("set", key, () => fenced("set", key, fence, now, () => unsafe.set(key, value, write, now))),
      has: (key, now) => attempt("has", key, () => unsafe.has(key, now)),
      remove: (key, now, fence) =>
        attempt("remove", key, () => fenced("remove", key, fence, now, () => unsafe.remove(key, now))),
      modify: (key, now, f, fence) =>
        sqliteFile.modifyWith(
          f,
          (guarded) =>
            fenced(
              "modify",
              key,
              fence,
              now,
              () => files.run(() => evict.run("modify", () => modify.immediate(key, now, guarded)))
            ),
          (cause) => toError("modify", key, cause)
        ),
      getMany: (keys, now) =>
        attempt(
          "getMany",
          undefined,
          () =>
            getMany.deferred(keys, now).map((row, i) =>
              seen(keys[i]!, now, row instanceof Uint8Array ? Option.some(row) : valueOf("getMany", keys[i]!, row, now))
            )
        ),
      setMany: (entries, now, fence) =>
        attempt("setMany", undefined, () =>
          files.run(() => {
            // Files are written before the transaction, so that no write lock is held while they are.
            const spilled = entries.map((entry) => files.spill(entry.value))
            fenced(
              "setMany",
              undefined,
              fence,
              now,
              () => evict.run("setMany", () => setMany.immediate(entries, now, spilled))
            )
          })),
      removeMany: (keys, now, fence) =>
        attempt(
          "removeMany",
          undefined,
          () => fenced("removeMany", undefined, fence, now, () => files.run(() => removeMany.immediate(keys, now)))
        ),
      removeTag: (tag, now, range) =>
        attempt("removeTag", undefined, () =>
          files.run(() => {
            const removed = range === undefined
              ? removeTagStatement.all(tag)
              : sqliteFile.inRange(
                removeTagInRangeStatements,
                range.prefix,
                range.after,
                (statement, bounds) => statement.all(tag, ...bounds) as Array<number | null>
              )
            let n = 0
            for (const expiresAt of removed) if (sqlSchema.isLive(expiresAt, now)) n++
            return n
          })),
      expiresAt: (key, now) =>
        attempt("ttl", key, () => {
          const expiresAt = expiresAtStatement.get(key, now)
          return expiresAt === undefined ? Option.none() : Option.some(expiresAt)
        }),
      touch: (key, expiresAt, now, fence) =>
        attempt(
          "touch",
          key,
          () =>
            fenced(
              "touch",
              key,
              fence,
              now,
              () => touchStatement.run(expiresAt, now, sqlSchema.useStamp(now), key, now).changes > 0
            )
        ),
      expire: (now) =>
        attempt("expire", undefined, () =>
          files.run(() => {
            const n = deleteExpiredStatement.run(now).changes
            counters.expirations += n
            return n
          })),
      clear: attempt("clear", undefined, () => files.run(() => clear.immediate())),
      size: (now) => attempt("size", undefined, () => sizeStatement.get(now) ?? 0),
      volume: db.memory ? undefined : attempt("volume", undefined, () => {
        return sqliteFile.databaseBytes(db) + files.volume()
      }),
      scanKeys: (range, now) =>
        attempt("keys", undefined, () =>
          sqliteFile.inRange(
            scanKeysStatements,
            range.prefix,
            range.after,
            (statement, bounds) => statement.all(...bounds, now, range.limit) as Array<string>
          )),
      scanEntries: (range, now) =>
        attempt("entries", undefined, () => {
          const page: Array<readonly [string, Uint8Array]> = []
          // A key whose row went away between the scan and the read of its file is left out; the page is then
          // topped up from after the last key scanned, so that only a short scan ends the enumeration.
          for (let after = range.after; page.length < range.limit;) {
            const wanted = range.limit - page.length
            const rows = sqliteFile.inRange(
              scanEntriesStatements,
              range.prefix,
              after,
              (statement, bounds) => statement.all(...bounds, now, wanted)
            )
            for (const row of rows) {
              if (row.file === null) page.push([row.key, row.value])
              else {
                const value = valueOf("entries", row.key, [row.value, row.file, row.size], now)
                if (Option.isSome(value)) page.push([row.key, value.value])
              }
            }
            if (rows.length < wanted) break
            after = rows[rows.length - 1]!.key
          }
          return page
        }),
      countRange: (range, now) =>
        attempt("countPattern", undefined, () =>
          sqliteFile.inRange(
            countRangeStatements,
            range.prefix,
            range.after,
            (statement, bounds) => statement.get(...bounds, now) as number
          )),
      removeRange: (range, now) =>
        attempt("removePattern", undefined, () => files.run(() => removeRange.immediate(range, now))),
      counters: () => ({ ...counters }),
      resetCounters: () => {
        counters.evictions = 0
        counters.expirations = 0
      },
      check: sqliteCheck.make({
        db,
        table: settings.table,
        backend,
        directory: files.directory,
        run: files.run,
        toError: (method, cause) => toError(method, undefined, cause)
      }),
      leases,
      gate: regions,
      withTransaction: regions.withTransaction,
      transaction: regions.transaction
    }))
  })

/**
 * Options of `recover`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecoverOptions {
  /** The damaged database file. It is only read (through a copy), never written. */
  readonly from: string
  /** The new database file; neither it nor `<to>.files/` may exist. Missing parent directories are created. */
  readonly to: string
  /** The store table to recover (default `"effect_kv"`); other tables of the file are not copied. */
  readonly table?: string | undefined
}

/**
 * What `recover` copied and what it could not.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecoverReport {
  /** The engine's structural check of `from` (`["ok"]` when it found nothing wrong), naming the damaged pages. */
  readonly engine: ReadonlyArray<string>
  /** Whether the file's 100-byte header had to be rebuilt (on the copy) before anything could be read. */
  readonly headerRebuilt: boolean
  /** Entries copied into `to`. */
  readonly entries: number
  /** Of those, entries whose value is a file, each verified (length, and checksum where its name carries one). */
  readonly files: number
  /**
   * Entries not copied, by key, and why: their row cannot be read or is damaged, or their value file is missing, of
   * another length or fails its checksum.
   */
  readonly lost: ReadonlyArray<{ readonly key: string; readonly reason: string }>
  /**
   * Stretches of the table (by rowid, inclusive; `last` is `Infinity` when the rest of the table could not be read)
   * that could not be read and whose keys the key index could not name either, so entries lost there are not in
   * `lost`. Empty when the index named every key of every unreadable stretch.
   */
  readonly unreadable: ReadonlyArray<{ readonly first: number; readonly last: number }>
  /** Other things not copied, one line each (fencing tokens that could not be read). */
  readonly other: ReadonlyArray<string>
  /** Nothing was lost: `lost`, `unreadable` and `other` are empty. */
  readonly complete: boolean
}

/**
 * Copies every entry SQLite can still read from a damaged store file into a new file, with its value file, and
 * reports what it could not: for a file that `make` refuses (`StoreCorrupted`) or whose `check` reports engine damage
 * (which `check({ fix: true })` cannot repair in place). Stop every process that uses `from` first.
 *
 * It works on a copy of `from` (and its write-ahead log) beside `to`, deleted at the end, rebuilding the copy's file
 * header when the damage is there; reads the entries in rowid order and steps over what cannot be read, naming lost
 * entries by key through the key index where it can; verifies every value file it copies; keeps entries' times, tags
 * and metadata, and the locks' fencing tokens (not the leases). The new file is a store of the current format with
 * `check` clean. Damage the engine cannot see (bytes changed inside a value kept in a row) is copied as it is:
 * only values in files carry a checksum.
 *
 * Fails with `InvalidArgument` for a missing `from` or an existing `to`, `StoreCorrupted` when not even the schema
 * can be read (and for a table of another format), `BackendError` when the new file cannot be written; a failed or
 * interrupted recovery removes the new file.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteStore } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const report = yield* SqliteStore.recover({ from: "data/kv.db", to: "data/kv-recovered.db" })
 *   yield* Effect.log(`copied ${report.entries} entries, lost ${report.lost.length}`)
 *   for (const { key, reason } of report.lost) yield* Effect.logWarning(`${key}: ${reason}`)
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const recover = (
  options: RecoverOptions
): Effect.Effect<RecoverReport, StoreCorrupted | BackendError | Busy | InvalidArgument> =>
  sqliteRecover.recover(
    options,
    (filename, table) =>
      Effect.scoped(Effect.asVoid(make({ filename, table, sweepInterval: "1000 days", verifyOnOpen: false })))
  )

/**
 * A layer providing a SQLite store; the database closes when the layer's scope does.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, SqliteStore } from "effect-kv"
 *
 * Effect.flatMap(KeyValueStore.KeyValueStore, (store) => store.set("k", "v")).pipe(
 *   Effect.provide(SqliteStore.layer({ filename: "data/kv.db" }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<KeyValueStore.KeyValueStore, StoreCorrupted | BackendError | Busy | InvalidArgument> =>
  Layer.scoped(KeyValueStore.KeyValueStore, make(options))

/**
 * A layer reading its options from `Config` (environment variables in production).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { SqliteStore } from "effect-kv"
 *
 * SqliteStore.layerConfig({
 *   filename: Config.string("KV_FILE"),
 *   busyTimeout: Config.duration("KV_BUSY_TIMEOUT").pipe(Config.withDefault("5 seconds"))
 * })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  KeyValueStore.KeyValueStore,
  ConfigError.ConfigError | StoreCorrupted | BackendError | Busy | InvalidArgument
> => Layer.scoped(KeyValueStore.KeyValueStore, Effect.flatMap(Config.unwrap(config), make))

/**
 * Options of the index configuration: those of a store without the expiry, limits and large-value settings. The
 * default table is `effect_kv_index`, so an index and a store can share one file.
 *
 * @since 0.1.0
 * @category models
 */
export type IndexOptions = sqliteIndex.Options

/**
 * What the index configuration can do: persistent, ordered, enumerable; no expiry, tags, metadata or eviction.
 *
 * @since 0.1.0
 * @category models
 */
export const indexCapabilities: KeyValueStore.Capabilities = sqliteIndex.capabilities

/**
 * Opens the index configuration (the seed's `Index`): a plain persistent key-value table with no expiry, tags,
 * metadata, eviction, large-value files or counters to maintain, for plain key-value use where those are not
 * needed. A `ttl`, tags or metadata fail with `Unsupported`; everything else is the same service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const index = yield* SqliteStore.makeIndex({ filename: "data/index.db" })
 *   yield* index.set("user.1", "Ada")
 *   return yield* index.getString("user.1")
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const makeIndex = (
  options: IndexOptions
): Effect.Effect<KeyValueStore.Service, StoreCorrupted | BackendError | Busy | InvalidArgument, Scope.Scope> =>
  sqliteIndex.make(options)

/**
 * A layer providing the index configuration.
 *
 * @example
 * ```ts
 * import { SqliteStore } from "effect-kv"
 *
 * const IndexLive = SqliteStore.layerIndex({ filename: "data/index.db" })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerIndex = (
  options: IndexOptions
): Layer.Layer<KeyValueStore.KeyValueStore, StoreCorrupted | BackendError | Busy | InvalidArgument> =>
  Layer.scoped(KeyValueStore.KeyValueStore, makeIndex(options))
