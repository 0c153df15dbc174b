/**
 * The embedded default backend: one SQLite file driven by raw `better-sqlite3` prepared statements, run synchronously
 * inside Effect (no connection pool, no statement cache lookup, no promise per operation). The database runs in WAL
 * mode with a busy timeout, so several processes may share one file: setup is idempotent and race-free, and every
 * read-modify-write runs in a `BEGIN IMMEDIATE` transaction, atomic across processes. Expired rows are invisible at
 * once and removed by a scoped sweeper in bounded batches. The tables are those of the shared SQL schema, so a file
 * written here opens in `SqlStore` and vice versa.
 *
 * Caveat: better-sqlite3 waits for another connection's lock synchronously, on the calling thread, for up to
 * `busyTimeout` (default 5 seconds). While another process holds the write lock, a write of this store (and the
 * sweeper's `DELETE`) blocks the whole event loop for that long: no other fiber, timer or I/O callback of the process
 * runs until the lock is free or the wait ends with `Busy`. Keep `busyTimeout` short where the event loop must stay
 * responsive and other processes write to the same file. Inside one process the wait is harmless between
 * SqliteStores, which never hold a transaction across an asynchronous step, but a connection of the same process that
 * does (a `SqlStore`'s client in the middle of `sql.withTransaction`) cannot finish while the wait blocks the thread,
 * so the waiting operation fails with `Busy`. Share a file within one process through one kind of store at a time.
 *
 * @since 0.1.0
 */
import Database from "better-sqlite3"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as sqlSchema from "../internal/sqlSchema.js"
import * as sweeper from "../internal/sweeper.js"
import * as validate from "../internal/validate.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { Busy, KeyValueStoreError } from "../KeyValueStoreError.js"
import { BackendError, InvalidArgument, StoreCorrupted } from "../KeyValueStoreError.js"

/**
 * Options of a SQLite store; only `filename` is required.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends KeyValueStore.StoreOptions, KeyValueStore.SweepOptions {
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
  crossProcess: true,
  orderedKeys: true,
  enumeration: false,
  tags: true,
  metadata: true,
  transactions: false,
  locks: false,
  check: false,
  volume: true
}

const memoryCapabilities: KeyValueStore.Capabilities = {
  ...capabilities,
  persistent: false,
  crossProcess: false,
  volume: false
}

const backend = "sqlite"

const synchronousModes = { normal: "NORMAL", full: "FULL", off: "OFF" } as const

const toError = (method: string, key: string | undefined, cause: unknown): KeyValueStoreError =>
  sqlSchema.toError(backend, method, key, cause)

const attempt = <A>(method: string, key: string | undefined, f: () => A): Effect.Effect<A, KeyValueStoreError> =>
  Effect.try({ try: f, catch: (cause) => toError(method, key, cause) })

const openError = (cause: unknown): StoreCorrupted | BackendError | Busy => {
  const error = toError("open", undefined, cause)
  return error._tag === "StoreCorrupted" || error._tag === "Busy" || error._tag === "BackendError"
    ? error
    : new BackendError({ method: "open", backend, cause })
}

const expandHome = (filename: string): string =>
  filename === "~"
    ? os.homedir()
    : filename.startsWith("~/") || filename.startsWith("~\\")
    ? path.join(os.homedir(), filename.slice(2))
    : filename

const isMemory = (filename: string): boolean =>
  filename === "" || filename === ":memory:" || filename.startsWith("file::memory:")

// Node's recursive `mkdirSync` can loop forever where the kernel answers ENOENT for a parent that exists (under
// /proc, for one), so missing directories are created one level at a time from the deepest existing ancestor.
const makeDirectories = (dir: string): void => {
  const missing: Array<string> = []
  for (let current = dir; !fs.existsSync(current); current = path.dirname(current)) {
    missing.push(current)
    if (path.dirname(current) === current) break
  }
  for (const directory of missing.reverse()) {
    try {
      fs.mkdirSync(directory)
    } catch (error) {
      if ((error as { readonly code?: unknown }).code !== "EEXIST") throw error
    }
  }
}

const fileSize = (file: string): number => fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "open", argument, reason })

interface Settings {
  readonly filename: string
  readonly table: string
  readonly busyMillis: number
  readonly synchronous: string
  readonly mmapSize: number
  readonly sweep: sweeper.Settings
}

const settingsOf = (options: Options): Settings | InvalidArgument => {
  const table = sqlSchema.tableOf(options.table)
  if (table instanceof InvalidArgument) return table
  const synchronous = synchronousModes[options.synchronous ?? "normal"]
  if (synchronous === undefined) return invalid("synchronous", `expected normal, full or off`)
  const mmapSize = options.mmapSize ?? 256 * 1024 * 1024
  if (!Number.isSafeInteger(mmapSize) || mmapSize < 0) return invalid("mmapSize", "expected a non-negative integer")
  const sweep = sweeper.settings(options, 1000)
  if (sweep instanceof InvalidArgument) return sweep
  const busy = Duration.decodeUnknown(options.busyTimeout ?? Duration.seconds(5))
  if (Option.isNone(busy)) return invalid("busyTimeout", "not a duration")
  return {
    filename: expandHome(options.filename),
    table,
    busyMillis: Duration.isFinite(busy.value)
      ? Math.min(2 ** 31 - 1, Math.ceil(Duration.toMillis(busy.value)))
      : 2 ** 31 - 1,
    synchronous,
    mmapSize,
    sweep
  }
}

// Opens the file with the busy timeout as the very first setting, then creates the schema and the format row in one
// `BEGIN IMMEDIATE` transaction: concurrent openers queue on the write lock, `IF NOT EXISTS` makes the loser's work a
// no-op, and a mismatched format rolls everything back untouched.
const open = (settings: Settings, statements: sqlSchema.Statements): Database.Database => {
  const memory = isMemory(settings.filename)
  if (!memory) makeDirectories(path.dirname(path.resolve(settings.filename)))
  const db = new Database(settings.filename, { timeout: settings.busyMillis })
  try {
    db.pragma("journal_mode = WAL")
    db.pragma(`synchronous = ${settings.synchronous}`)
    db.pragma(`mmap_size = ${settings.mmapSize}`)
    db.transaction(() => {
      for (const statement of statements.schema) db.exec(statement)
      db.prepare(statements.initFormat).run(String(sqlSchema.FORMAT_VERSION))
      const format = db.prepare(statements.readFormat).pluck().get()
      const mismatch = sqlSchema.checkFormat(backend, settings.table, settings.filename, format)
      if (mismatch !== undefined) throw mismatch
    }).immediate()
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

/**
 * Opens (creating when needed) a SQLite store whose sweeper and connection live as long as the scope. Closing the
 * scope stops the sweeper and closes the connection; an operation after that fails with `BackendError`.
 *
 * A file that is not a SQLite database, or a store written by an incompatible format version, fails with
 * `StoreCorrupted`; a location that cannot be created or opened fails with `BackendError`.
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
    const s = sqlSchema.statements(settings.table, "sqlite")
    const db = yield* Effect.acquireRelease(
      Effect.try({ try: () => open(settings, s), catch: openError }),
      (db) => Effect.sync(() => db.close())
    )
    const {
      clearStatements,
      deleteExpiredBatchStatement,
      deleteExpiredStatement,
      expiresAtStatement,
      getEntryStatement,
      getStatement,
      hasStatement,
      insertTagStatement,
      removeStatement,
      removeTagStatement,
      sizeStatement,
      touchStatement,
      upsertStatement
    } = yield* Effect.try({
      try: () => ({
        getStatement: db.prepare<[string, number], Buffer>(s.get).pluck(),
        getEntryStatement: db.prepare<[string, number], sqlSchema.EntryRow>(s.getEntry),
        hasStatement: db.prepare<[string, number], number>(s.has).pluck(),
        expiresAtStatement: db.prepare<[string, number], number | null>(s.expiresAt).pluck(),
        upsertStatement: db.prepare(s.upsert),
        insertTagStatement: db.prepare<[string, string]>(s.insertTag),
        removeStatement: db.prepare<[string], number | null>(s.remove).pluck(),
        removeTagStatement: db.prepare<[string], number | null>(s.removeTag).pluck(),
        touchStatement: db.prepare<[number | null, number, string, number]>(s.touch),
        deleteExpiredBatchStatement: db.prepare<[number, number]>(s.deleteExpiredBatch),
        deleteExpiredStatement: db.prepare<[number]>(s.deleteExpired),
        clearStatements: s.clear.map((text) => db.prepare(text)),
        sizeStatement: db.prepare<[number], number>(s.size).pluck()
      }),
      catch: openError
    })

    const counters = { expirations: 0 }

    // Throws a damaged row's `StoreCorrupted`, which rolls back an enclosing transaction and passes `toError` as is.
    const readEntry = (method: string, key: string, now: number): Option.Option<KeyValueStore.Entry> => {
      const row = getEntryStatement.get(key, now)
      if (row === undefined) return Option.none()
      const entry = sqlSchema.toEntry(backend, method, key, row)
      if (entry instanceof StoreCorrupted) throw entry
      return Option.some(entry)
    }

    const writeRow = (key: string, value: Uint8Array, write: KeyValueStore.Write, now: number): void => {
      upsertStatement.run(...sqlSchema.upsertParams(key, value, write, now))
      for (const tag of write.tags) insertTagStatement.run(tag, key)
    }

    const removeRow = (key: string, now: number): boolean => sqlSchema.isLive(removeStatement.get(key), now)

    const writeTagged = db.transaction(writeRow)
    const setMany = db.transaction((entries: ReadonlyArray<KeyValueStore.WriteEntry>, now: number) => {
      for (const entry of entries) writeRow(entry.key, entry.value, entry.write, now)
    })
    const removeMany = db.transaction((keys: ReadonlyArray<string>, now: number) => {
      let n = 0
      for (const key of keys) if (removeRow(key, now)) n++
      return n
    })
    const getMany = db.transaction((keys: ReadonlyArray<string>, now: number) =>
      keys.map((key): Option.Option<Uint8Array> => {
        const value = getStatement.get(key, now)
        return value === undefined ? Option.none() : Option.some(value)
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
        if (mutation._tag === "Write") writeRow(key, mutation.value, mutation.write, now)
        else if (mutation._tag === "Remove") removeStatement.get(key)
        return result
      }
    )

    const unsafe = {
      get: (key: string, now: number): Option.Option<Uint8Array> => {
        let value: Buffer | undefined
        try {
          value = getStatement.get(key, now)
        } catch (cause) {
          throw toError("get", key, cause)
        }
        return value === undefined ? Option.none() : Option.some(value)
      },
      set: (key: string, value: Uint8Array, write: KeyValueStore.Write, now: number): void => {
        try {
          if (write.tags.length === 0) writeRow(key, value, write, now)
          else writeTagged.immediate(key, value, write, now)
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
          return removeRow(key, now)
        } catch (cause) {
          throw toError("remove", key, cause)
        }
      }
    }

    yield* sweeper.start(
      settings.sweep.interval,
      Effect.clockWith((clock) =>
        attempt("sweep", undefined, () => {
          counters.expirations += deleteExpiredBatchStatement.run(clock.unsafeCurrentTimeMillis(), settings.sweep.batch)
            .changes
        })
      ),
      "SqliteStore"
    )

    return KeyValueStore.make({
      backend,
      capabilities: db.memory ? memoryCapabilities : capabilities,
      separator: options.separator,
      maxKeyBytes: options.maxKeyBytes,
      maxValueBytes: options.maxValueBytes,
      unsafe,
      get: (key, now) => attempt("get", key, () => unsafe.get(key, now)),
      getEntry: (key, now) => attempt("getEntry", key, () => readEntry("getEntry", key, now)),
      set: (key, value, write, now) => attempt("set", key, () => unsafe.set(key, value, write, now)),
      has: (key, now) => attempt("has", key, () => unsafe.has(key, now)),
      remove: (key, now) => attempt("remove", key, () => unsafe.remove(key, now)),
      modify: <A>(
        key: string,
        now: number,
        f: (current: Option.Option<KeyValueStore.Entry>) => readonly [A, KeyValueStore.Mutation]
      ) =>
        Effect.suspend((): Effect.Effect<A, KeyValueStoreError> => {
          // A throw from `f` is a bug in the caller's function: it rolls the transaction back and becomes a defect.
          let thrown: { readonly defect: unknown } | undefined
          const guarded = (current: Option.Option<KeyValueStore.Entry>) => {
            try {
              return f(current)
            } catch (defect) {
              thrown = { defect }
              throw defect
            }
          }
          try {
            return Effect.succeed(modify.immediate(key, now, guarded) as A)
          } catch (cause) {
            return thrown === undefined ? Effect.fail(toError("modify", key, cause)) : Effect.die(thrown.defect)
          }
        }),
      getMany: (keys, now) => attempt("getMany", undefined, () => getMany.deferred(keys, now)),
      setMany: (entries, now) => attempt("setMany", undefined, () => setMany.immediate(entries, now)),
      removeMany: (keys, now) => attempt("removeMany", undefined, () => removeMany.immediate(keys, now)),
      removeTag: (tag, now) =>
        attempt("removeTag", undefined, () => {
          let n = 0
          for (const expiresAt of removeTagStatement.all(tag)) if (sqlSchema.isLive(expiresAt, now)) n++
          return n
        }),
      expiresAt: (key, now) =>
        attempt("ttl", key, () => {
          const expiresAt = expiresAtStatement.get(key, now)
          return expiresAt === undefined ? Option.none() : Option.some(expiresAt)
        }),
      touch: (key, expiresAt, now) =>
        attempt("touch", key, () => touchStatement.run(expiresAt, now, key, now).changes > 0),
      expire: (now) =>
        attempt("expire", undefined, () => {
          const n = deleteExpiredStatement.run(now).changes
          counters.expirations += n
          return n
        }),
      clear: attempt("clear", undefined, () => clear.immediate()),
      size: (now) => attempt("size", undefined, () => sizeStatement.get(now) ?? 0),
      volume: db.memory ? undefined : attempt("volume", undefined, () => {
        if (!db.open) throw new TypeError("The database connection is not open")
        return fileSize(db.name) + fileSize(`${db.name}-wal`)
      }),
      counters: () => ({ ...counters }),
      resetCounters: () => {
        counters.expirations = 0
      }
    })
  })

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
