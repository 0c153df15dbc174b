/**
 * The store over any `@effect/sql` `SqlClient`, for applications that keep their entries in their own database. Every
 * statement runs through the client, so an operation inside the application's `sql.withTransaction` region joins that
 * transaction (commits and rolls back with it), and read-modify-write operations run in a transaction of their own
 * (a savepoint when nested). Tables and statement texts are the shared SQL schema of `SqliteStore`, so a SQLite file
 * written by either store opens in the other. The SQLite dialect is supported today (another dialect fails the build
 * with `Unsupported` whose `backend` names it, as in `sql (pg)`); the engine differences of PostgreSQL and MySQL
 * belong to the shared schema's dialect parameter. Read-modify-writes take the write lock with their first statement,
 * so with SQLite they are atomic across processes too. `volume` is not reported (0): the store shares its database
 * with the application.
 *
 * Large values that a `SqliteStore` keeps as files beside its database are not read here: a read that meets such a
 * row (`get`, `getEntry`, `getMany`, `entries`, and the read-modify-writes) fails with `Unsupported` naming the method
 * and the key. Overwriting or removing such a row works, but leaves its file behind for `SqliteStore`'s `check`.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as sqlSchema from "../internal/sqlSchema.js"
import * as sweeper from "../internal/sweeper.js"
import * as validate from "../internal/validate.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { Busy, KeyValueStoreError } from "../KeyValueStoreError.js"
import { BackendError, InvalidArgument, StoreCorrupted, Unsupported } from "../KeyValueStoreError.js"

/**
 * Options of a `SqlStore`; the connection itself comes from the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends KeyValueStore.StoreOptions, KeyValueStore.SweepOptions {
  /** Table name (plain identifier, default `"effect_kv"`); the store also uses `<table>_tags` and `<table>_meta`. */
  readonly table?: string | undefined
}

/**
 * What a `SqlStore` can do.
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: KeyValueStore.Capabilities = {
  persistent: true,
  expiry: true,
  eviction: false,
  crossProcess: true,
  orderedKeys: true,
  enumeration: true,
  tags: true,
  metadata: true,
  transactions: false,
  locks: false,
  check: false,
  volume: false
}

/**
 * The errors of building a `SqlStore`.
 *
 * @since 0.1.0
 * @category models
 */
export type OpenError = BackendError | StoreCorrupted | Busy | InvalidArgument | Unsupported

const backend = "sql"

// Keys per `getMany` statement: far below every engine's bound on bound parameters.
const getManyChunk = 500

interface ValueRow {
  readonly key?: string
  readonly value: Uint8Array | ArrayBuffer
  readonly file: string | null
}

interface ExpiryRow {
  readonly expires_at: sqlSchema.BigIntColumn | null
}

const toError = (method: string, key: string | undefined, cause: unknown): KeyValueStoreError =>
  sqlSchema.toError(backend, method, key, cause)

const openError = (error: KeyValueStoreError): OpenError =>
  error._tag === "BackendError" || error._tag === "StoreCorrupted" || error._tag === "Busy" ||
    error._tag === "InvalidArgument" || error._tag === "Unsupported"
    ? error
    : new BackendError({ method: "open", backend, cause: error })

const toBytes = (value: Uint8Array | ArrayBuffer): Uint8Array =>
  value instanceof Uint8Array ? value : new Uint8Array(value)

/**
 * Builds a store over the `SqlClient` in context, creating its tables when absent (in one transaction that takes the
 * write lock first: idempotent, and safe when several processes start at once). A table holding an incompatible
 * format version fails with `StoreCorrupted`. The sweeper lives as long as the scope.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { Effect } from "effect"
 * import { SqlStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* SqlStore.make({ table: "cache" })
 *   yield* store.set("a", "1")
 * })).pipe(Effect.provide(SqliteClient.layer({ filename: "app.db" })))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<KeyValueStore.Service, OpenError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const optionsError = validate.checkStoreOptions(options)
    if (optionsError !== undefined) return yield* optionsError
    const table = sqlSchema.tableOf(options.table)
    if (table instanceof InvalidArgument) return yield* table
    const sweep = sweeper.settings(options, 1000)
    if (sweep instanceof InvalidArgument) return yield* sweep
    const sql = yield* SqlClient.SqlClient
    const dialect = sql.onDialect({
      sqlite: () => "sqlite" as const,
      pg: () => "pg" as const,
      mysql: () => "mysql" as const,
      mssql: () => "mssql" as const,
      clickhouse: () => "clickhouse" as const
    })
    if (dialect !== "sqlite") {
      return yield* new Unsupported({ method: "open", backend: `${backend} (${dialect})` })
    }
    const s = sqlSchema.statements(table, dialect)

    const query = <A extends object>(
      method: string,
      key: string | undefined,
      text: string,
      params: ReadonlyArray<unknown>
    ): Effect.Effect<ReadonlyArray<A>, KeyValueStoreError> =>
      Effect.mapError(sql.unsafe<A>(text, params).withoutTransform, (error) => toError(method, key, error))

    const execute = (
      method: string,
      key: string | undefined,
      text: string,
      params: ReadonlyArray<unknown>
    ): Effect.Effect<number, KeyValueStoreError> =>
      sql.unsafe(text, params).raw.pipe(
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
          : Effect.fail(new Unsupported({ method, key: inFile.key ?? key, backend }))
      })

    // `withTransaction` turns a failed COMMIT into a defect; here it becomes the typed error it is.
    const transaction = <A>(
      method: string,
      key: string | undefined,
      effect: Effect.Effect<A, KeyValueStoreError>
    ): Effect.Effect<A, KeyValueStoreError> =>
      sql.withTransaction(effect).pipe(
        Effect.mapError((error) => toError(method, key, error)),
        Effect.catchSomeDefect((defect) =>
          defect instanceof SqlError ? Option.some(Effect.fail(toError(method, key, defect))) : Option.none()
        )
      )

    // Setup runs on a reserved connection in one transaction that holds the write lock from its start: concurrent
    // openers queue on the lock, `IF NOT EXISTS` makes the later ones no-ops, and a foreign format rolls back
    // untouched.
    yield* Effect.scoped(Effect.gen(function*() {
      const connection = yield* Effect.mapError(sql.reserve, (error) => toError("open", undefined, error))
      const run = <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
        Effect.mapError(
          connection.execute(text, params, undefined) as Effect.Effect<ReadonlyArray<A>, SqlError>,
          (error) => toError("open", undefined, error)
        )
      const create = Effect.gen(function*() {
        // The format is read before anything else is created: a table of another format is refused untouched.
        const [metaTable, ...rest] = s.schema
        yield* run(metaTable!)
        const existing = (yield* run<{ readonly value: unknown }>(s.readFormat))[0]?.value
        if (existing !== undefined) {
          const mismatch = sqlSchema.checkFormat(backend, table, undefined, existing)
          if (mismatch !== undefined) return yield* mismatch
        }
        for (const statement of rest) yield* run(statement)
        yield* run(s.initFormat, [String(sqlSchema.FORMAT_VERSION)])
      })
      yield* Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(
          run(s.begin),
          Effect.flatMap(Effect.exit(restore(create)), (exit) =>
            Exit.isSuccess(exit)
              ? Effect.zipRight(Effect.tapError(run(s.commit), () => Effect.ignore(run(s.rollback))), exit)
              : Effect.zipRight(Effect.ignore(run(s.rollback)), exit))
        )
      )
    })).pipe(Effect.mapError(openError))

    const counters = { expirations: 0 }

    const get = (key: string, now: number) =>
      Effect.map(
        queryValues<ValueRow>("get", key, s.get, [key, now]),
        (rows): Option.Option<Uint8Array> => rows.length === 0 ? Option.none() : Option.some(toBytes(rows[0]!.value))
      )

    const getEntry = (method: string, key: string, now: number) =>
      Effect.flatMap(
        queryValues<sqlSchema.EntryRow>(method, key, s.getEntry, [key, now]),
        (rows): Effect.Effect<Option.Option<KeyValueStore.Entry>, StoreCorrupted> => {
          const row = rows[0]
          if (row === undefined) return Effect.succeed(Option.none())
          const entry = sqlSchema.toEntry(backend, method, key, row)
          return entry instanceof StoreCorrupted ? Effect.fail(entry) : Effect.succeed(Option.some(entry))
        }
      )

    // Callers wrap a write with tags in a transaction so the row and its tag rows change together.
    const writeRow = (method: string, key: string, value: Uint8Array, write: KeyValueStore.Write, now: number) =>
      Effect.zipRight(
        execute(method, key, s.upsert, sqlSchema.upsertParams(key, value, write, now)),
        Effect.forEach(write.tags, (tag) => execute(method, key, s.insertTag, [tag, key]), { discard: true })
      )

    const removeRow = (method: string, key: string, now: number) =>
      Effect.map(query<ExpiryRow>(method, key, s.remove, [key]), (rows) => sqlSchema.isLive(rows[0]?.expires_at, now))

    yield* sweeper.start(
      sweep.interval,
      Effect.clockWith((clock) =>
        execute("sweep", undefined, s.deleteExpiredBatch, [clock.unsafeCurrentTimeMillis(), sweep.batch])
      ).pipe(Effect.tap((n) => {
        counters.expirations += n
      })),
      "SqlStore"
    )

    return KeyValueStore.make({
      backend,
      capabilities,
      separator: options.separator,
      maxKeyBytes: options.maxKeyBytes,
      maxValueBytes: options.maxValueBytes,
      get,
      getEntry: (key, now) => getEntry("getEntry", key, now),
      set: (key, value, write, now) =>
        write.tags.length === 0
          ? writeRow("set", key, value, write, now)
          : transaction("set", key, writeRow("set", key, value, write, now)),
      has: (key, now) => Effect.map(query("has", key, s.has, [key, now]), (rows) => rows.length > 0),
      remove: (key, now) => removeRow("remove", key, now),
      modify: (key, now, f) =>
        transaction(
          "modify",
          key,
          Effect.gen(function*() {
            yield* execute("modify", key, s.lockForWrite, [key])
            const [result, mutation] = f(yield* getEntry("modify", key, now))
            if (mutation._tag === "Write") yield* writeRow("modify", key, mutation.value, mutation.write, now)
            else if (mutation._tag === "Remove") yield* removeRow("modify", key, now)
            return result
          })
        ),
      getMany: (keys, now) => {
        const chunks: Array<ReadonlyArray<string>> = []
        for (let i = 0; i < keys.length; i += getManyChunk) chunks.push(keys.slice(i, i + getManyChunk))
        const read = Effect.forEach(chunks, (chunk) =>
          queryValues<ValueRow & { readonly key: string }>(
            "getMany",
            undefined,
            s.getMany(chunk.length),
            [...chunk, now]
          ))
        return Effect.map(chunks.length > 1 ? transaction("getMany", undefined, read) : read, (results) => {
          const found = new Map<string, Uint8Array>()
          for (const rows of results) for (const row of rows) found.set(row.key, toBytes(row.value))
          return keys.map((key) => Option.fromNullable(found.get(key)))
        })
      },
      setMany: (entries, now) =>
        entries.length === 0 ? Effect.void : transaction(
          "setMany",
          undefined,
          Effect.forEach(entries, (entry) => writeRow("setMany", entry.key, entry.value, entry.write, now), {
            discard: true
          })
        ),
      removeMany: (keys, now) =>
        keys.length === 0 ? Effect.succeed(0) : transaction(
          "removeMany",
          undefined,
          Effect.reduce(keys, 0, (n, key) => Effect.map(removeRow("removeMany", key, now), (live) => live ? n + 1 : n))
        ),
      removeTag: (tag, now, range) => {
        const inRange = range && sqlSchema.rangeParams(range.prefix, range.after)
        const removed = inRange === undefined
          ? query<ExpiryRow>("removeTag", undefined, s.removeTag, [tag])
          : query<ExpiryRow>("removeTag", undefined, s.removeTagInRange(inRange.bounded), [tag, ...inRange.bounds])
        return Effect.map(removed, (rows) => rows.filter((row) => sqlSchema.isLive(row.expires_at, now)).length)
      },
      expiresAt: (key, now) =>
        Effect.map(
          query<ExpiryRow>("ttl", key, s.expiresAt, [key, now]),
          (rows) => {
            const row = rows[0]
            return row === undefined
              ? Option.none()
              : Option.some(row.expires_at === null ? null : sqlSchema.toNumber(row.expires_at))
          }
        ),
      touch: (key, expiresAt, now) =>
        Effect.map(execute("touch", key, s.touch, [expiresAt, now, sqlSchema.useStamp(now), key, now]), (n) => n > 0),
      expire: (now) =>
        Effect.tap(execute("expire", undefined, s.deleteExpired, [now]), (n) => {
          counters.expirations += n
        }),
      clear: transaction(
        "clear",
        undefined,
        Effect.forEach(s.clear, (text) => execute("clear", undefined, text, []), { discard: true })
      ),
      size: (now) =>
        Effect.map(
          query<{ readonly n: number | bigint | string }>("size", undefined, s.size, [now]),
          (rows) => rows[0] === undefined ? 0 : sqlSchema.toNumber(rows[0].n)
        ),
      scanKeys: (range, now) => {
        const { bounds, bounded } = sqlSchema.rangeParams(range.prefix, range.after)
        return Effect.map(
          query<{ readonly key: string }>("keys", undefined, s.scanKeys(bounded), [...bounds, now, range.limit]),
          (rows) => rows.map((row) => row.key)
        )
      },
      scanEntries: (range, now) => {
        const { bounds, bounded } = sqlSchema.rangeParams(range.prefix, range.after)
        return Effect.map(
          queryValues<ValueRow & { readonly key: string }>(
            "entries",
            undefined,
            s.scanEntries(bounded),
            [...bounds, now, range.limit]
          ),
          (rows) => rows.map((row) => [row.key, toBytes(row.value)] as const)
        )
      },
      countRange: (range, now) => {
        const { bounds, bounded } = sqlSchema.rangeParams(range.prefix, range.after)
        return Effect.map(
          query<{ readonly n: number | bigint | string }>("countPattern", undefined, s.countRange(bounded), [
            ...bounds,
            now
          ]),
          (rows) => rows[0] === undefined ? 0 : sqlSchema.toNumber(rows[0].n)
        )
      },
      removeRange: (range, now) => {
        const { bounds, bounded } = sqlSchema.rangeParams(range.prefix, range.after)
        return Effect.map(
          query<ExpiryRow>("removePattern", undefined, s.removeRange(bounded), bounds),
          (rows) => rows.filter((row) => sqlSchema.isLive(row.expires_at, now)).length
        )
      },
      counters: () => ({ ...counters }),
      resetCounters: () => {
        counters.expirations = 0
      }
    })
  })

/**
 * A layer providing a `SqlStore` over the `SqlClient` the application provides.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { Layer } from "effect"
 * import { SqlStore } from "effect-kv"
 *
 * const StoreLive = SqlStore.layer({ table: "cache" }).pipe(Layer.provide(SqliteClient.layer({ filename: "app.db" })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<KeyValueStore.KeyValueStore, OpenError, SqlClient.SqlClient> =>
  Layer.scoped(KeyValueStore.KeyValueStore, make(options))

/**
 * A layer reading its options from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { SqlStore } from "effect-kv"
 *
 * SqlStore.layerConfig({ table: Config.string("KV_TABLE") })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<KeyValueStore.KeyValueStore, ConfigError.ConfigError | OpenError, SqlClient.SqlClient> =>
  Layer.scoped(KeyValueStore.KeyValueStore, Effect.flatMap(Config.unwrap(config), make))
