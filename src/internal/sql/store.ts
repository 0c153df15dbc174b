/**
 * The store over an `@effect/sql` `SqlClient`, shared by SqlStore, PostgresStore and MysqlStore (which differ only in
 * who builds the client and in the backend name their errors carry). Statements come from the shared schema
 * (`sql/schema.ts`), whose dialect table says how each engine has to be driven:
 *
 * - SQLite: single statements with `RETURNING`, tags kept by triggers; a read-modify-write takes the database's write
 *   lock with its first statement (`lockForWrite`).
 * - PostgreSQL: the same statements (binary keys, `$n` placeholders); a read-modify-write claims its key's row (an
 *   expired placeholder when absent) and reads it `FOR UPDATE`, so it is atomic across processes, absent keys
 *   included; `removeTag` locks the rows carrying the tag before deleting them, so a row whose tags changed
 *   meanwhile is judged on its new tags. A batch travels as array parameters: `setMany` is one multi-row upsert
 *   (`unnest`) per chunk of the batch and one insert of its tag rows, `removeMany` one `DELETE ... = ANY` per chunk.
 * - MySQL/MariaDB: no `DELETE ... RETURNING` and no triggers, so a removal locks its rows (`SELECT ... FOR UPDATE`),
 *   counts the live ones and deletes them and their tag rows in one transaction, page by page; a write replaces the
 *   key's tag rows in the transaction that writes the row. Rows are always locked entry first, tags second.
 *   `setMany` writes a chunk of the batch with one multi-row upsert, one delete of its keys' tag rows and one insert
 *   of the new ones, chunks bounded by rows and by bytes (at most half the server's `max_allowed_packet`).
 *
 * Every statement runs through the client, so inside the application's `sql.withTransaction` (or the store's own
 * regions, `sql/regions.ts`) it joins that transaction. A store over a pool of its own (PostgresStore, MysqlStore)
 * runs them on that pool directly (`sql/pool.ts`'s `directOf`: the transaction in the fiber's context, or a
 * connection of the pool), without `@effect/sql`'s statement compilation, span and scope per statement, and its fixed
 * texts are prepared statements of every connection. A fenced write is a transaction that checks the lock's slot,
 * locking its row (see `sql/leases.ts`), before it writes. Multi-statement operations run in a transaction of their own
 * (a savepoint when nested); one that a deadlock or serialization failure rolls back is tried again when it is a
 * transaction of its own (inside an enclosing transaction the conflict surfaces as `TransactionConflict`).
 *
 * @internal
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as SqlStore from "../../backends/SqlStore.js"
import * as KeyValueStore from "../../KeyValueStore.js"
import type { Busy, KeyValueStoreError } from "../../KeyValueStoreError.js"
import {
  BackendError,
  InvalidArgument,
  InvalidKey,
  LockLost,
  StoreCorrupted,
  Unsupported
} from "../../KeyValueStoreError.js"
import * as Pattern from "../../Pattern.js"
import * as sweeper from "../sweeper.js"
import * as validate from "../validate.js"
import { capabilities } from "./capabilities.js"
import * as sqlLeases from "./leases.js"
import * as sqlPool from "./pool.js"
import * as sqlRegions from "./regions.js"
import * as sqlSchema from "./schema.js"

/** @internal */
export interface Options extends KeyValueStore.StoreOptions, KeyValueStore.SweepOptions {
  readonly table?: string | undefined
}

/** @internal */
export type OpenError = BackendError | StoreCorrupted | Busy | InvalidArgument | Unsupported

/** @internal */
export { capabilities }

// Keys per statement that names keys: far below every engine's bound on bound parameters.
const chunkSize = 500
// (tag, key) rows per statement of a batch write: 2 parameters each, far below the bound on bound parameters.
const tagBatch = 10_000
// Rows per page of a removal that locks its rows first (MySQL).
const removalPage = 1000
// Attempts of a transaction of its own that a deadlock or serialization failure rolled back.
const conflictRetries = 20
// Attempts of a read-modify-write to lock its row, which a concurrent removal may delete between claim and lock.
const claimAttempts = 100
// Seconds an open waits for another process's setup (MySQL's session lock; PostgreSQL's waits in the transaction).
const setupLockSeconds = 60

interface ValueRow {
  readonly key?: unknown
  readonly value: Uint8Array | ArrayBuffer
  readonly file: string | null
}

interface ExpiryRow {
  readonly expires_at: sqlSchema.BigIntColumn | null
}

interface KeyExpiryRow extends ExpiryRow {
  readonly key: unknown
}

interface CountRow {
  readonly n: sqlSchema.BigIntColumn
}

const toBytes = (value: Uint8Array | ArrayBuffer): Uint8Array =>
  value instanceof Uint8Array ? value : new Uint8Array(value)

const emptyValue = new Uint8Array(0)

const missing = Effect.succeed(Option.none<Uint8Array>())

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const byKey = <A>(keyOf: (a: A) => string) => (a: A, b: A): number => Pattern.compareKeys(keyOf(a), keyOf(b))

/**
 * Builds a store over the `SqlClient` in context; errors name `backend`. See `SqlStore.make`.
 *
 * @internal
 */
export const make = (
  options: Options,
  backend: string,
  commandTimeout?: number
): Effect.Effect<KeyValueStore.Service, OpenError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const optionsError = validate.checkStoreOptions(options)
    if (optionsError !== undefined) return yield* optionsError
    const table = sqlSchema.tableOf(options.table)
    if (table instanceof InvalidArgument) return yield* table
    const sweep = sweeper.settings(options)
    if (sweep instanceof InvalidArgument) return yield* sweep
    const sql = yield* SqlClient.SqlClient
    const dialect = sql.onDialect({
      sqlite: () => "sqlite" as const,
      pg: () => "pg" as const,
      mysql: () => "mysql" as const,
      mssql: () => "mssql" as const,
      clickhouse: () => "clickhouse" as const
    })
    if (dialect === "mssql" || dialect === "clickhouse") {
      return yield* new Unsupported({ method: "open", backend: `${backend} (${dialect})` })
    }
    const spec = sqlSchema.specs[dialect]
    const maxKeyBytes = options.maxKeyBytes ?? 1024
    if (spec.keyColumnBytes !== undefined && maxKeyBytes > spec.keyColumnBytes) {
      return yield* new InvalidArgument({
        method: "open",
        argument: "maxKeyBytes",
        reason: `the key column of this engine holds at most ${spec.keyColumnBytes} bytes`
      })
    }
    // MySQL's session locks wait in the statement: a second, or less when the statement must be answered sooner.
    const sessionLockWait = commandTimeout === undefined
      ? 1
      : Math.max(0.001, Math.min(1, Math.floor(commandTimeout / 2) / 1000))
    const s = sqlSchema.statements(table, dialect, sessionLockWait)

    const toError = (method: string, key: string | undefined, cause: unknown): KeyValueStoreError =>
      sqlSchema.toError(backend, method, key, cause)
    const openError = (error: KeyValueStoreError): OpenError =>
      error._tag === "BackendError" || error._tag === "StoreCorrupted" || error._tag === "Busy" ||
        error._tag === "InvalidArgument" || error._tag === "Unsupported"
        ? error
        : new BackendError({ method: "open", backend, cause: error })
    const k = (key: string) => sqlSchema.keyParam(spec, key)
    const bytes = (value: Uint8Array) => sqlSchema.bytesParam(spec, value)
    const keyOf = sqlSchema.keyOf

    // A store over a pool of its own (PostgresStore, MysqlStore) runs its statements on the pool directly, its
    // fixed texts as prepared statements of every connection; over any other client, as the client's statements.
    const direct = sqlPool.directOf(sql)
    direct?.prepare(sqlSchema.fixedTexts(s, spec))
    const run: (
      text: string,
      params: ReadonlyArray<unknown>,
      mode: "rows" | "raw"
    ) => Effect.Effect<unknown, SqlError> = direct?.run ??
      ((text, params, mode) =>
        mode === "raw" ? sql.unsafe(text, params).raw : sql.unsafe(text, params).withoutTransform)

    const query = <A extends object>(
      method: string,
      key: string | undefined,
      text: string,
      params: ReadonlyArray<unknown>
    ): Effect.Effect<ReadonlyArray<A>, KeyValueStoreError> =>
      Effect.mapError(
        run(text, params, "rows") as Effect.Effect<ReadonlyArray<A>, SqlError>,
        (error) => toError(method, key, error)
      )

    const execute = (
      method: string,
      key: string | undefined,
      text: string,
      params: ReadonlyArray<unknown>
    ): Effect.Effect<number, KeyValueStoreError> =>
      run(text, params, "raw").pipe(
        Effect.map((raw) => sqlSchema.affectedRows(dialect, raw)),
        Effect.mapError((error) => toError(method, key, error))
      )

    // Reads rows that carry a value. A row whose value SqliteStore keeps in a file beside the database fails with
    // `Unsupported` naming its key: this store reads no files (the row itself is sound).
    const queryValues = <A extends ValueRow>(
      method: string,
      key: string | undefined,
      text: string,
      params: ReadonlyArray<unknown>
    ): Effect.Effect<ReadonlyArray<A>, KeyValueStoreError> =>
      Effect.flatMap(query<A>(method, key, text, params), (rows) => {
        const inFile = rows.find((row) => row.file !== null)
        return inFile === undefined
          ? Effect.succeed(rows)
          : Effect.fail(new Unsupported({ method, key: inFile.key === undefined ? key : keyOf(inFile.key), backend }))
      })

    // A transaction, or a savepoint of the enclosing one. `withTransaction` turns a failed COMMIT into a defect; here it
    // becomes the typed error it is. A transaction of its own that a conflict rolled back is tried again.
    const transaction = <A>(
      method: string,
      key: string | undefined,
      effect: Effect.Effect<A, KeyValueStoreError>
    ): Effect.Effect<A, KeyValueStoreError> => {
      const once = sql.withTransaction(effect).pipe(
        Effect.mapError((error) => toError(method, key, error)),
        Effect.catchSomeDefect((defect) =>
          defect instanceof SqlError ? Option.some(Effect.fail(toError(method, key, defect))) : Option.none()
        )
      )
      return Effect.flatMap(
        Effect.serviceOption(SqlClient.TransactionConnection),
        (outer) =>
          outer._tag === "Some" ? once : Effect.retry(once, {
            times: conflictRetries,
            while: (error) => error._tag === "TransactionConflict"
          })
      )
    }

    // Writes the engine's columns cannot hold are refused, never cut (MySQL's VARBINARY key and tag columns).
    const checkColumns = (method: string, key: string, write: KeyValueStore.Write): KeyValueStoreError | undefined => {
      if (spec.keyColumnBytes !== undefined && Buffer.byteLength(key, "utf8") > spec.keyColumnBytes) {
        return new InvalidKey({
          method,
          key,
          reason: `the key (with its namespace) is longer than the ${spec.keyColumnBytes} bytes this engine holds`
        })
      }
      const tagLimit = spec.tagColumnBytes
      if (tagLimit !== undefined && write.tags.some((tag) => Buffer.byteLength(tag, "utf8") > tagLimit)) {
        return new InvalidArgument({
          method,
          key,
          argument: "tags",
          reason: `a tag of this engine is at most ${tagLimit} UTF-8 bytes`
        })
      }
      return undefined
    }

    // Setup runs on a reserved connection. PostgreSQL and SQLite: one transaction that holds the table's setup lock
    // (PostgreSQL's advisory lock, SQLite's write lock) from its start, so concurrent openers queue, `IF NOT EXISTS`
    // makes the later ones no-ops, and a foreign format rolls back untouched. MySQL commits each DDL statement by
    // itself: the whole setup holds a session lock instead, and the format row, written last, marks it complete.
    yield* Effect.scoped(Effect.gen(function*() {
      const connection = yield* Effect.mapError(sql.reserve, (error) => toError("open", undefined, error))
      const run = <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
        Effect.mapError(
          connection.executeUnprepared(text, params, undefined) as Effect.Effect<ReadonlyArray<A>, SqlError>,
          (error) => toError("open", undefined, error)
        )
      const create = Effect.gen(function*() {
        // The format is read before anything else is created: a table of another format is refused untouched.
        const [metaTable, ...rest] = s.schema
        yield* run(metaTable!)
        const existing = (yield* run<{ readonly value: unknown }>(s.readFormat))[0]?.value
        const version = String(sqlSchema.formatVersion(spec.dialect))
        if (existing !== undefined) {
          const mismatch = sqlSchema.checkFormat(backend, table, undefined, existing, spec.dialect)
          if (mismatch !== undefined) return yield* mismatch
          if (String(existing) !== version) {
            for (const statement of s.migrate) yield* run(statement)
            yield* run(s.upgradeFormat, [version, existing])
          }
          if (spec.schemaOnce) return
        }
        for (const statement of rest) yield* run(statement)
        for (const statement of s.leases.schema) yield* run(statement)
        yield* run(s.initFormat, [version])
      })
      const lock = s.setupLock
      if (lock !== undefined && lock.session) {
        yield* Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(
            Effect.mapError(
              sqlRegions.takeSessionLock(
                connection,
                lock.acquire,
                restore,
                Math.ceil(setupLockSeconds / sessionLockWait)
              ),
              (cause) => toError("open", undefined, cause)
            ),
            Effect.ensuring(restore(create), Effect.ignore(run(lock.release!)))
          )
        )
        return
      }
      yield* Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(
          run(s.begin),
          Effect.flatMap(
            Effect.exit(restore(lock === undefined ? create : Effect.zipRight(run(lock.acquire), create))),
            (exit) =>
              Exit.isSuccess(exit)
                ? Effect.zipRight(Effect.tapError(run(s.commit), () => Effect.ignore(run(s.rollback))), exit)
                : Effect.zipRight(Effect.ignore(run(s.rollback)), exit)
          )
        )
      )
    })).pipe(Effect.mapError(openError))

    // Bytes of one batch statement: MySQL's is bounded by the server's `max_allowed_packet` as well.
    const batchBytes = s.maxPacket === undefined ? spec.batchBytes : yield* query<CountRow>(
      "open",
      undefined,
      s.maxPacket,
      []
    ).pipe(
      Effect.map((rows) => {
        const packet = rows[0] === undefined ? NaN : sqlSchema.toNumber(rows[0].n)
        return Number.isFinite(packet) ? Math.min(spec.batchBytes, Math.floor(packet / 2)) : spec.batchBytes
      }),
      Effect.mapError(openError)
    )

    const counters = { expirations: 0 }

    const get = (key: string, now: number): Effect.Effect<Option.Option<Uint8Array>, KeyValueStoreError> =>
      Effect.flatMap(
        queryValues<ValueRow>("get", key, s.get, [k(key), now]),
        (rows) => rows.length === 0 ? missing : Effect.succeed(Option.some(toBytes(rows[0]!.value)))
      )

    const entryOf = (
      method: string,
      key: string,
      row: sqlSchema.EntryRow | undefined
    ): Effect.Effect<Option.Option<KeyValueStore.Entry>, KeyValueStoreError> => {
      if (row === undefined) return Effect.succeed(Option.none<KeyValueStore.Entry>())
      if (row.file !== null) return Effect.fail(new Unsupported({ method, key, backend }))
      const entry = sqlSchema.toEntry(backend, method, key, row)
      return entry instanceof StoreCorrupted ? Effect.fail(entry) : Effect.succeed(Option.some(entry))
    }

    const getEntry = (method: string, key: string, now: number) =>
      Effect.flatMap(
        query<sqlSchema.EntryRow>(method, key, s.getEntry, [k(key), now]),
        (rows) => entryOf(method, key, rows[0])
      )

    const insertTags = (method: string, key: string, tags: ReadonlyArray<string>) =>
      Effect.forEach(
        chunks(tags, chunkSize),
        (chunk) => execute(method, key, s.insertTags(chunk.length), chunk.flatMap((tag) => [k(tag), k(key)])),
        { discard: true }
      )

    // Runs inside a transaction whenever the row has tags or the engine has no tag triggers, so the row and its tag
    // rows change together.
    const writeRow = (method: string, key: string, value: Uint8Array, write: KeyValueStore.Write, now: number) => {
      const [, , ...rest] = sqlSchema.upsertParams(key, value, write, now)
      const upsert = execute(method, key, s.upsert, [k(key), bytes(value), ...rest])
      const tagged = write.tags.length === 0 ? upsert : Effect.zipRight(upsert, insertTags(method, key, write.tags))
      return spec.tagTriggers ? tagged : Effect.zipRight(
        upsert,
        Effect.zipRight(execute(method, key, s.untag, [k(key)]), insertTags(method, key, write.tags))
      )
    }

    const set = (method: string, key: string, value: Uint8Array, write: KeyValueStore.Write, now: number) => {
      const invalid = checkColumns(method, key, write)
      if (invalid !== undefined) return Effect.fail(invalid)
      // Without tags (and with triggers keeping the tag rows) a write is one statement, atomic by itself: no
      // transaction (the hot path).
      return write.tags.length === 0 && spec.tagTriggers
        ? Effect.asVoid(writeRow(method, key, value, write, now))
        : Effect.asVoid(transaction(method, key, writeRow(method, key, value, write, now)))
    }

    // Consecutive runs of `items` of at most `spec.batchRows` items and `batchBytes` bytes (an item that costs more
    // goes alone).
    const batchChunks = <A>(items: ReadonlyArray<A>, cost: (a: A) => number): Array<ReadonlyArray<A>> => {
      const out: Array<ReadonlyArray<A>> = []
      let current: Array<A> = []
      let bytes = 0
      for (const item of items) {
        const c = cost(item)
        if (current.length > 0 && (current.length >= spec.batchRows || bytes + c > batchBytes)) {
          out.push(current)
          current = []
          bytes = 0
        }
        current.push(item)
        bytes += c
      }
      if (current.length > 0) out.push(current)
      return out
    }

    // `setMany` on an engine that takes a batch in few statements (`spec.batches`): distinct keys (the last write of
    // a key wins; PostgreSQL's upsert refuses to touch a row twice) in key order, as every multi-row operation locks
    // its rows, in chunks; per chunk one upsert, then (without tag triggers) one delete of the chunk's old tag rows,
    // then its new tag rows. A batch of one statement is atomic by itself and runs without a transaction.
    const writeBatch = (entries: ReadonlyArray<KeyValueStore.WriteEntry>, now: number) => {
      const last = new Map<string, KeyValueStore.WriteEntry>()
      for (const entry of entries) last.set(entry.key, entry)
      const rows = Array.from(last.values()).sort(byKey((entry) => entry.key)).map((entry) =>
        sqlSchema.batchRow(spec, entry.key, entry.value, entry.write, now)
      )
      const statements: Array<Effect.Effect<number, KeyValueStoreError>> = []
      for (const chunk of batchChunks(rows, (row) => row.cost)) {
        statements.push(
          execute("setMany", undefined, s.upsertMany(chunk.length), sqlSchema.upsertManyParams(spec, chunk))
        )
        if (!spec.tagTriggers) {
          statements.push(execute("setMany", undefined, s.untagKeys(chunk.length), chunk.map((row) => row.params[0])))
        }
        const pairs = chunk.flatMap((row) => row.tags.map((tag) => [tag, row.key] as const))
        for (const part of chunks(pairs, tagBatch)) {
          statements.push(
            execute("setMany", undefined, s.insertTagsMany(part.length), sqlSchema.tagsManyParams(spec, part))
          )
        }
      }
      return statements.length === 1
        ? Effect.asVoid(statements[0]!)
        : transaction("setMany", undefined, Effect.all(statements, { discard: true }))
    }

    // `removeMany` with array parameters (PostgreSQL): distinct keys in key order, a statement per chunk.
    const removeBatch = (keys: ReadonlyArray<string>, now: number) => {
      const parts = chunks(Array.from(new Set(keys)).sort(Pattern.compareKeys), spec.batchRows)
      const remove = (chunk: ReadonlyArray<string>) =>
        Effect.map(
          query<ExpiryRow>("removeMany", undefined, s.removeKeys(chunk.length), [chunk.map(k)]),
          (rows) => liveCount(rows, now)
        )
      return parts.length === 1 ? remove(parts[0]!) : transaction(
        "removeMany",
        undefined,
        Effect.reduce(parts, 0, (n, chunk) => Effect.map(remove(chunk), (removed) => n + removed))
      )
    }

    const liveCount = (rows: ReadonlyArray<ExpiryRow>, now: number) =>
      rows.filter((row) => sqlSchema.isLive(row.expires_at, now)).length

    // Deletes rows this transaction has locked, and their tag rows (MySQL: no triggers).
    const deleteLocked = (method: string, keys: ReadonlyArray<string>) =>
      Effect.forEach(chunks(keys, chunkSize), (chunk) =>
        Effect.zipRight(
          execute(method, undefined, s.untagKeys(chunk.length), chunk.map(k)),
          execute(method, undefined, s.deleteKeys(chunk.length), chunk.map(k))
        ), { discard: true })

    // Locks pages of rows with `lockPage` (a statement that no longer finds what it deleted) and deletes them, until a
    // page is short; returns the live rows it removed. Runs inside a transaction.
    const removePages = (
      method: string,
      lockPage: Effect.Effect<ReadonlyArray<KeyExpiryRow>, KeyValueStoreError>,
      now: number
    ): Effect.Effect<number, KeyValueStoreError> =>
      Effect.flatMap(lockPage, (rows) => {
        const live = liveCount(rows, now)
        const removed = rows.length === 0 ? Effect.void : deleteLocked(method, rows.map((row) => keyOf(row.key)))
        return Effect.zipRight(
          removed,
          rows.length < removalPage
            ? Effect.succeed(live)
            : Effect.map(removePages(method, lockPage, now), (more) => more + live)
        )
      })

    // Removes one key's row: with `RETURNING` one statement; otherwise (in a transaction) locked, then deleted.
    const removeRow = (method: string, key: string, now: number): Effect.Effect<boolean, KeyValueStoreError> =>
      spec.returning
        ? Effect.map(
          query<ExpiryRow>(method, key, s.remove, [k(key)]),
          (rows) => sqlSchema.isLive(rows[0]?.expires_at, now)
        )
        : Effect.flatMap(query<KeyExpiryRow>(method, key, s.lockKeys(1), [k(key)]), (rows) =>
          rows.length === 0
            ? Effect.succeed(false)
            : Effect.as(deleteLocked(method, [key]), sqlSchema.isLive(rows[0]!.expires_at, now)))

    const removeRange = (method: string, range: KeyValueStore.KeyRange, now: number) => {
      const { bounded, bounds } = sqlSchema.rangeParams(range.prefix, range.after)
      if (spec.returning) {
        return Effect.map(
          query<ExpiryRow>(method, undefined, s.removeRange(bounded), bounds.map(k)),
          (rows) => liveCount(rows, now)
        )
      }
      return transaction(
        method,
        undefined,
        removePages(
          method,
          query<KeyExpiryRow>(method, undefined, s.lockRange(bounded, removalPage), bounds.map(k)),
          now
        )
      )
    }

    const removeTag = (tag: string, now: number, range: KeyValueStore.KeyRange | undefined) => {
      const inRange = range && sqlSchema.rangeParams(range.prefix, range.after)
      if (!spec.rowLocks) {
        const removed = inRange === undefined
          ? query<ExpiryRow>("removeTag", undefined, s.removeTag, [tag])
          : query<ExpiryRow>("removeTag", undefined, s.removeTagInRange(inRange.bounded), [tag, ...inRange.bounds])
        return Effect.map(removed, (rows) => liveCount(rows, now))
      }
      if (spec.returning) {
        // The rows carrying the tag are locked first; the delete then reads the tags as they are now.
        const params = inRange === undefined ? [k(tag)] : [k(tag), ...inRange.bounds.map(k)]
        return transaction(
          "removeTag",
          undefined,
          Effect.zipRight(
            query("removeTag", undefined, s.lockTagged(inRange?.bounded, undefined), params),
            Effect.map(
              query<ExpiryRow>(
                "removeTag",
                undefined,
                inRange === undefined ? s.removeTag : s.removeTagInRange(inRange.bounded),
                params
              ),
              (rows) => liveCount(rows, now)
            )
          )
        )
      }
      // MySQL: pages of candidates in key order, locked, then kept only if a locking read still finds their tag row.
      const lower = inRange?.bounds[0] ?? ""
      const upper = inRange?.bounded ? inRange.bounds[1] : undefined
      const page = (from: string, total: number): Effect.Effect<number, KeyValueStoreError> =>
        Effect.flatMap(
          query<KeyExpiryRow>(
            "removeTag",
            undefined,
            s.lockTagged(upper !== undefined, removalPage),
            upper === undefined ? [k(tag), k(from)] : [k(tag), k(from), k(upper)]
          ),
          (rows) => {
            if (rows.length === 0) return Effect.succeed(total)
            const keys = rows.map((row) => keyOf(row.key))
            return Effect.flatMap(
              query<{ readonly key: unknown }>("removeTag", undefined, s.taggedOf(keys.length), [
                k(tag),
                ...keys.map(k)
              ]),
              (tagged) => {
                const carrying = new Set(tagged.map((row) => keyOf(row.key)))
                const doomed = rows.filter((row) => carrying.has(keyOf(row.key)))
                const removed = liveCount(doomed, now)
                return Effect.zipRight(
                  deleteLocked("removeTag", doomed.map((row) => keyOf(row.key))),
                  rows.length < removalPage
                    ? Effect.succeed(total + removed)
                    : page(keys[keys.length - 1]! + "\u0000", total + removed)
                )
              }
            )
          }
        )
      return transaction("removeTag", undefined, page(lower, 0))
    }

    const expireAll = (now: number): Effect.Effect<number, KeyValueStoreError> => {
      if (spec.tagTriggers) return execute("expire", undefined, s.deleteExpired, [now])
      const batch = (total: number): Effect.Effect<number, KeyValueStoreError> =>
        Effect.flatMap(
          expireBatch("expire", now, removalPage),
          ([removed, full]) => full ? batch(total + removed) : Effect.succeed(total + removed)
        )
      return batch(0)
    }

    // One bounded batch of expired rows: how many were removed, and whether the batch was full.
    const expireBatch = (
      method: string,
      now: number,
      limit: number
    ): Effect.Effect<readonly [number, boolean], KeyValueStoreError> =>
      spec.tagTriggers
        ? Effect.map(execute(method, undefined, s.deleteExpiredBatch, [now, limit]), (n) => [n, n >= limit] as const)
        : transaction(
          method,
          undefined,
          Effect.flatMap(query<KeyExpiryRow>(method, undefined, s.lockExpired(limit), [now]), (rows) =>
            Effect.as(
              deleteLocked(method, rows.map((row) => keyOf(row.key))),
              [rows.length, rows.length >= limit] as const
            ))
        )

    // Read-modify-write on a row-locking engine: the key's row is claimed (an expired placeholder when absent) and
    // locked before `f` sees it, so concurrent read-modify-writes of one key, in any process, take turns.
    const modifyLocked = <A>(
      key: string,
      now: number,
      f: (current: Option.Option<KeyValueStore.Entry>) => readonly [A, KeyValueStore.Mutation]
    ) =>
      Effect.gen(function*() {
        const param = k(key)
        let row: sqlSchema.EntryRow | undefined
        for (let attempt = 0; row === undefined; attempt++) {
          if (attempt === claimAttempts) {
            return yield* new BackendError({
              method: "modify",
              key,
              backend,
              cause: new Error("the row kept being removed between its claim and its lock")
            })
          }
          yield* execute("modify", key, s.claim, [param, bytes(emptyValue)])
          row = (yield* query<sqlSchema.EntryRow>("modify", key, s.lockEntry, [param]))[0]
        }
        const live = sqlSchema.isLive(row.expires_at, now)
        const current = yield* entryOf("modify", key, live ? row : undefined)
        const [result, mutation] = f(current)
        if (mutation._tag === "Write") {
          const invalid = checkColumns("modify", key, mutation.write)
          if (invalid !== undefined) return yield* invalid
          yield* writeRow("modify", key, mutation.value, mutation.write, now)
        } else if (mutation._tag === "Remove") {
          yield* (spec.tagTriggers ? execute("modify", key, s.remove, [param]) : deleteLocked("modify", [key]))
        } else if (!live) {
          // The claim (or an expired row) that nothing was written over.
          yield* (spec.tagTriggers ? execute("modify", key, s.removeDead, [param, now]) : deleteLocked("modify", [key]))
        }
        return result
      })

    // Read-modify-write on SQLite: the first statement takes the write lock.
    const modifyWriteLocked = <A>(
      key: string,
      now: number,
      f: (current: Option.Option<KeyValueStore.Entry>) => readonly [A, KeyValueStore.Mutation]
    ) =>
      Effect.gen(function*() {
        yield* execute("modify", key, s.lockForWrite, [key])
        const current = yield* Effect.flatMap(
          query<sqlSchema.EntryRow>("modify", key, s.getEntry, [k(key), now]),
          (rows) => entryOf("modify", key, rows[0])
        )
        const [result, mutation] = f(current)
        if (mutation._tag === "Write") yield* writeRow("modify", key, mutation.value, mutation.write, now)
        else if (mutation._tag === "Remove") yield* removeRow("modify", key, now)
        return result
      })

    const regions = sqlRegions.make({
      sql,
      dialect,
      statements: s,
      toError: (method, cause) => toError(method, undefined, cause)
    })

    const leases = sqlLeases.make({
      sql,
      dialect,
      statements: s.leases,
      toError: (method, cause) => toError(method, undefined, cause),
      transaction: (method, effect) => transaction(method, undefined, effect)
    })

    const setMany = (entries: ReadonlyArray<KeyValueStore.WriteEntry>, now: number) => {
      if (entries.length === 0) return Effect.void
      if (spec.batches !== undefined) return writeBatch(entries, now)
      // Rows are locked in key order (a stable sort keeps the last write of a key last), as other multi-row
      // operations lock them, so that concurrent batches do not deadlock.
      const ordered = spec.rowLocks ? [...entries].sort(byKey((entry) => entry.key)) : entries
      return transaction(
        "setMany",
        undefined,
        Effect.forEach(ordered, (entry) => writeRow("setMany", entry.key, entry.value, entry.write, now), {
          discard: true
        })
      )
    }

    const removeMany = (keys: ReadonlyArray<string>, now: number): Effect.Effect<number, KeyValueStoreError> => {
      if (keys.length === 0) return Effect.succeed(0)
      if (spec.batches === "arrays") return removeBatch(keys, now)
      if (spec.returning) {
        const ordered = spec.rowLocks ? [...keys].sort(byKey((key: string) => key)) : keys
        return transaction(
          "removeMany",
          undefined,
          Effect.reduce(
            ordered,
            0,
            (n, key) => Effect.map(removeRow("removeMany", key, now), (live) => live ? n + 1 : n)
          )
        )
      }
      const unique = Array.from(new Set(keys)).sort(Pattern.compareKeys)
      return transaction(
        "removeMany",
        undefined,
        Effect.reduce(chunks(unique, chunkSize), 0, (n, chunk) =>
          Effect.flatMap(
            query<KeyExpiryRow>("removeMany", undefined, s.lockKeys(chunk.length), chunk.map(k)),
            (rows) =>
              Effect.as(
                deleteLocked("removeMany", rows.map((row) => keyOf(row.key))),
                n + liveCount(rows, now)
              )
          ))
      )
    }

    // A fenced write: one transaction (a savepoint inside an open one) checking the lock's slot, then writing.
    const fenced = <A>(
      method: string,
      key: string | undefined,
      fence: KeyValueStore.Fence | undefined,
      now: number,
      write: Effect.Effect<A, KeyValueStoreError>
    ): Effect.Effect<A, KeyValueStoreError> =>
      fence === undefined ? write : transaction(
        method,
        key,
        Effect.flatMap(
          leases.holds(method, fence.name, fence.owner, now),
          (held) => held ? write : Effect.fail(new LockLost({ method, key, name: fence.name }))
        )
      )

    const pacer = yield* sweeper.start(
      sweep,
      sweeper.drain(regions.guard(
        Effect.clockWith((clock) => expireBatch("sweep", clock.unsafeCurrentTimeMillis(), sweep.batch)).pipe(
          Effect.map(([removed, full]): sweeper.Slice => {
            counters.expirations += removed
            return { removed, full }
          })
        )
      )),
      "SqlStore"
    )

    return KeyValueStore.make(sweeper.paced(
      pacer,
      (spec.wholeMillis ? wholeMillis : identity)({
        backend,
        capabilities,
        separator: options.separator,
        maxKeyBytes: options.maxKeyBytes,
        maxValueBytes: options.maxValueBytes,
        get,
        getEntry: (key, now) => getEntry("getEntry", key, now),
        set: (key, value, write, now, fence) => fenced("set", key, fence, now, set("set", key, value, write, now)),
        has: (key, now) => Effect.map(query("has", key, s.has, [k(key), now]), (rows) => rows.length > 0),
        remove: (key, now, fence) =>
          fenced(
            "remove",
            key,
            fence,
            now,
            spec.returning ? removeRow("remove", key, now) : transaction("remove", key, removeRow("remove", key, now))
          ),
        modify: (key, now, f, fence) =>
          fenced(
            "modify",
            key,
            fence,
            now,
            transaction("modify", key, spec.rowLocks ? modifyLocked(key, now, f) : modifyWriteLocked(key, now, f))
          ),
        getMany: (keys, now) => {
          const read = Effect.forEach(chunks(keys, chunkSize), (chunk) =>
            queryValues<ValueRow & { readonly key: unknown }>(
              "getMany",
              undefined,
              s.getMany(chunk.length),
              [...chunk.map(k), now]
            ))
          return Effect.map(keys.length > chunkSize ? transaction("getMany", undefined, read) : read, (results) => {
            const found = new Map<string, Uint8Array>()
            for (const rows of results) {
              for (const row of rows) {
                found.set(keyOf(row.key), toBytes(row.value))
              }
            }
            return keys.map((key) =>
              Option.fromNullable(found.get(key))
            )
          })
        },
        setMany: (entries, now, fence) => {
          for (const entry of entries) {
            const invalid = checkColumns("setMany", entry.key, entry.write)
            if (invalid !== undefined) {
              return Effect.fail(invalid)
            }
          }
          return fenced("setMany", undefined, fence, now, setMany(entries, now))
        },
        removeMany: (keys, now, fence) => fenced("removeMany", undefined, fence, now, removeMany(keys, now)),
        removeTag,
        expiresAt: (key, now) =>
          Effect.map(
            query<ExpiryRow>("ttl", key, s.expiresAt, [k(key), now]),
            (rows) => {
              const row = rows[0]
              return row === undefined
                ? Option.none()
                : Option.some(row.expires_at === null ? null : sqlSchema.toNumber(row.expires_at))
            }
          ),
        touch: (key, expiresAt, now, fence) =>
          fenced(
            "touch",
            key,
            fence,
            now,
            Effect.map(
              execute("touch", key, s.touch, [expiresAt, now, sqlSchema.useStamp(now), k(key), now]),
              (n) => n > 0
            )
          ),
        expire: (now) =>
          Effect.tap(expireAll(now), (n) => {
            counters.expirations += n
          }),
        clear: spec.tagTriggers
          ? transaction(
            "clear",
            undefined,
            Effect.forEach(s.clear, (text) => execute("clear", undefined, text, []), { discard: true })
          )
          : Effect.asVoid(Effect.flatMap(Effect.clock, (clock) =>
            removeRange("clear", { prefix: "", after: undefined }, clock.unsafeCurrentTimeMillis()))),
        size: (now) =>
          Effect.map(
            query<CountRow>("size", undefined, s.size, [now]),
            (rows) =>
              rows[0] === undefined ? 0 : sqlSchema.toNumber(rows[0].n)
          ),
        scanKeys: (range, now) => {
          const { bounded, bounds } = sqlSchema.rangeParams(range.prefix, range.after)
          return Effect.map(
            query<{ readonly key: unknown }>("keys", undefined, s.scanKeys(bounded, range.limit), [
              ...bounds.map(k),
              now
            ]),
            (rows) => rows.map((row) => keyOf(row.key))
          )
        },
        scanEntries: (range, now) => {
          const { bounded, bounds } = sqlSchema.rangeParams(range.prefix, range.after)
          return Effect.map(
            queryValues<ValueRow & { readonly key: unknown }>(
              "entries",
              undefined,
              s.scanEntries(bounded, range.limit),
              [...bounds.map(k), now]
            ),
            (rows) => rows.map((row) => [keyOf(row.key), toBytes(row.value)] as const)
          )
        },
        countRange: (range, now) => {
          const { bounded, bounds } = sqlSchema.rangeParams(range.prefix, range.after)
          return Effect.map(
            query<CountRow>("countPattern", undefined, s.countRange(bounded), [...bounds.map(k), now]),
            (rows) => rows[0] === undefined ? 0 : sqlSchema.toNumber(rows[0].n)
          )
        },
        removeRange: (range, now) => removeRange("removePattern", range, now),
        gate: regions,
        withTransaction: regions.withTransaction,
        transaction: regions.transaction,
        leases,
        counters: () => ({ ...counters }),
        resetCounters: () => {
          counters.expirations = 0
        }
      })
    ))
  })

const floorWrite = (write: KeyValueStore.Write): KeyValueStore.Write =>
  write.expiresAt === null || Number.isInteger(write.expiresAt)
    ? write
    : { ...write, expiresAt: Math.floor(write.expiresAt) }

const floorMutation = (mutation: KeyValueStore.Mutation): KeyValueStore.Mutation =>
  mutation._tag === "Write" ? { ...mutation, write: floorWrite(mutation.write) } : mutation

// The primitives of an engine whose times are whole milliseconds (`sqlSchema.Spec.wholeMillis`): every `now` and
// every expiry they receive, rounded down.
const wholeMillis = (p: KeyValueStore.Primitives): KeyValueStore.Primitives => {
  const t = Math.floor
  return {
    ...p,
    get: (key, now) => p.get(key, t(now)),
    getEntry: (key, now) => p.getEntry(key, t(now)),
    set: (key, value, write, now, fence) => p.set(key, value, floorWrite(write), t(now), fence),
    remove: (key, now, fence) => p.remove(key, t(now), fence),
    modify: (key, now, f, fence) =>
      p.modify(key, t(now), (current) => {
        const [result, mutation] = f(current)
        return [result, floorMutation(mutation)]
      }, fence),
    expire: (now) => p.expire(t(now)),
    size: (now) => p.size(t(now)),
    has: p.has && ((key, now) => p.has!(key, t(now))),
    getMany: p.getMany && ((keys, now) => p.getMany!(keys, t(now))),
    setMany: p.setMany &&
      ((entries, now, fence) =>
        p.setMany!(entries.map((entry) => ({ ...entry, write: floorWrite(entry.write) })), t(now), fence)),
    removeMany: p.removeMany && ((keys, now, fence) => p.removeMany!(keys, t(now), fence)),
    expiresAt: p.expiresAt && ((key, now) => p.expiresAt!(key, t(now))),
    touch: p.touch &&
      ((key, expiresAt, now, fence) => p.touch!(key, expiresAt === null ? null : t(expiresAt), t(now), fence)),
    scanKeys: p.scanKeys && ((range, now) => p.scanKeys!(range, t(now))),
    scanEntries: p.scanEntries && ((range, now) => p.scanEntries!(range, t(now))),
    countRange: p.countRange && ((range, now) => p.countRange!(range, t(now))),
    removeRange: p.removeRange && ((range, now) => p.removeRange!(range, t(now))),
    removeTag: p.removeTag && ((tag, now, range) => p.removeTag!(tag, t(now), range))
  }
}

/** @internal */
export interface ConnectionSettings {
  readonly maxConnections: number
  /** Milliseconds. */
  readonly connectTimeout: number
  /** Milliseconds. */
  readonly commandTimeout: number
  /** Milliseconds; undefined: no limit. */
  readonly idleInTransactionTimeout: number | undefined
}

/**
 * Checks the connection fields (`InvalidArgument` naming the field) and fills in the defaults: 10 connections, a
 * connect timeout and a command timeout of 5 seconds, a transaction idle for at most a minute.
 *
 * @internal
 */
export const connectionSettings = (options: SqlStore.ConnectionOptions): ConnectionSettings | InvalidArgument => {
  const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "open", argument, reason })
  if (options.url !== undefined && !Redacted.isRedacted(options.url)) {
    return invalid("url", "expected a Redacted URL (Redacted.make or Config.redacted)")
  }
  if (options.password !== undefined && !Redacted.isRedacted(options.password)) {
    return invalid("password", "expected a Redacted password (Redacted.make or Config.redacted)")
  }
  for (const name of ["host", "database", "username"] as const) {
    const value = options[name]
    if (value !== undefined && typeof value !== "string") return invalid(name, "expected a string")
  }
  const port = options.port
  if (port !== undefined && !(Number.isSafeInteger(port) && port > 0 && port < 65536)) {
    return invalid("port", `expected an integer from 1 to 65535, got ${port}`)
  }
  const maxConnections = options.maxConnections ?? 10
  if (!(Number.isSafeInteger(maxConnections) && maxConnections > 0)) {
    return invalid("maxConnections", `expected a positive integer, got ${maxConnections}`)
  }
  const millis = (
    argument: string,
    value: Duration.DurationInput | undefined,
    fallback: Duration.Duration,
    infinite: boolean
  ): number | InvalidArgument => {
    const decoded = Duration.decodeUnknown(value ?? fallback)
    if (Option.isSome(decoded) && infinite && !Duration.isFinite(decoded.value)) return Infinity
    if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
      return invalid(argument, `expected a positive ${infinite ? "" : "finite "}duration`)
    }
    // The drivers' timers take at most 2^31 - 1 ms.
    return Math.min(Duration.toMillis(decoded.value), 2 ** 31 - 1)
  }
  const connectTimeout = millis("connectTimeout", options.connectTimeout, Duration.seconds(5), false)
  if (connectTimeout instanceof InvalidArgument) return connectTimeout
  const commandTimeout = millis("commandTimeout", options.commandTimeout, Duration.seconds(5), false)
  if (commandTimeout instanceof InvalidArgument) return commandTimeout
  const idle = millis("idleInTransactionTimeout", options.idleInTransactionTimeout, Duration.minutes(1), true)
  if (idle instanceof InvalidArgument) return idle
  return {
    maxConnections,
    connectTimeout,
    commandTimeout,
    idleInTransactionTimeout: idle === Infinity ? undefined : idle
  }
}

/**
 * A store over a client that `client` builds (in the store's scope), whose statements are answered within
 * `commandTimeout` ms; a client that cannot connect fails the build with `BackendError` naming `backend`.
 *
 * @internal
 */
export const makeWithClient = <E>(
  options: Options,
  backend: string,
  client: Effect.Effect<SqlClient.SqlClient, E, Scope.Scope | Reactivity.Reactivity>,
  commandTimeout: number
): Effect.Effect<KeyValueStore.Service, OpenError, Scope.Scope> =>
  Effect.gen(function*() {
    const optionsError = validate.checkStoreOptions(options)
    if (optionsError !== undefined) return yield* optionsError
    const table = sqlSchema.tableOf(options.table)
    if (table instanceof InvalidArgument) return yield* table
    const reactivity = yield* Layer.build(Reactivity.layer)
    const sql = yield* client.pipe(
      Effect.provide(reactivity),
      Effect.mapError((cause) => new BackendError({ method: "open", backend, cause }))
    )
    return yield* Effect.provideService(make(options, backend, commandTimeout), SqlClient.SqlClient, sql)
  })
