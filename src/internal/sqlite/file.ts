/**
 * Opening a SQLite file the way every SQLite-backed store of effect-kv does: `~` expansion, parent directories
 * created one level at a time, the busy timeout set before anything else, WAL and the synchronous mode, memory
 * mapping, then the store's own schema created in one `BEGIN IMMEDIATE` transaction so that concurrent openers queue
 * on the write lock and a mismatched format rolls back untouched. Every statement of such a connection reports a
 * commit that failed (a full disk, an I/O error), whichever way it is run: see `reportCommits`.
 *
 * @internal
 */
import Database from "better-sqlite3"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Capabilities, Entry, Mutation } from "../../KeyValueStore.js"
import type { Busy, KeyValueStoreError, StoreCorrupted } from "../../KeyValueStoreError.js"
import { BackendError, InvalidArgument } from "../../KeyValueStoreError.js"
import * as regions from "../regions.js"
import * as sqlSchema from "../sql/schema.js"
import type { LargeValues } from "./largeValues.js"

/**
 * The connection settings shared by SqliteStore and its index configuration.
 *
 * @internal
 */
export interface ConnectionSettings {
  readonly filename: string
  readonly busyMillis: number
  readonly synchronous: "NORMAL" | "FULL" | "OFF"
  readonly mmapSize: number
  /** Whether the open runs `PRAGMA quick_check`; undefined: when the database is at most `VERIFY_ON_OPEN_BYTES`. */
  readonly verifyOnOpen: boolean | undefined
}

/**
 * A database (file and write-ahead log) of at most this many bytes is checked at open (`PRAGMA quick_check`) unless
 * `verifyOnOpen` says otherwise: 64 MiB, which takes about 25 ms with the file in the page cache on our machines
 * (75 ms read cold). The check reads every page: a 1.35 GB file took 0.8 to 1.2 s warm and 25 s cold.
 *
 * @internal
 */
export const VERIFY_ON_OPEN_BYTES = 64 * 1024 * 1024

const synchronousModes = { normal: "NORMAL", full: "FULL", off: "OFF" } as const

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "open", argument, reason })

/**
 * Reads and checks the connection options.
 *
 * @internal
 */
export const connectionSettings = (options: {
  readonly filename: string
  readonly busyTimeout?: Duration.DurationInput | undefined
  readonly synchronous?: "normal" | "full" | "off" | undefined
  readonly mmapSize?: number | undefined
  readonly verifyOnOpen?: boolean | undefined
}): ConnectionSettings | InvalidArgument => {
  if (typeof options.filename !== "string") return invalid("filename", "expected a string")
  if (options.verifyOnOpen !== undefined && typeof options.verifyOnOpen !== "boolean") {
    return invalid("verifyOnOpen", "expected a boolean")
  }
  // The C API reads a name up to its first NUL: "a.db\0b" would open "a.db", another store's file.
  if (options.filename.includes("\0")) return invalid("filename", "a file name cannot contain U+0000")
  const synchronous = synchronousModes[options.synchronous ?? "normal"]
  if (synchronous === undefined) return invalid("synchronous", `expected normal, full or off`)
  const mmapSize = options.mmapSize ?? 256 * 1024 * 1024
  if (!Number.isSafeInteger(mmapSize) || mmapSize < 0) return invalid("mmapSize", "expected a non-negative integer")
  const busy = Duration.decodeUnknown(options.busyTimeout ?? Duration.seconds(5))
  if (Option.isNone(busy)) return invalid("busyTimeout", "not a duration")
  return {
    filename: expandHome(options.filename),
    busyMillis: Duration.isFinite(busy.value)
      ? Math.min(2 ** 31 - 1, Math.ceil(Duration.toMillis(busy.value)))
      : 2 ** 31 - 1,
    synchronous,
    mmapSize,
    verifyOnOpen: options.verifyOnOpen
  }
}

/** @internal */
export const expandHome = (filename: string): string =>
  filename === "~"
    ? os.homedir()
    : filename.startsWith("~/") || filename.startsWith("~\\")
    ? path.join(os.homedir(), filename.slice(2))
    : filename

/** @internal */
export const isMemory = (filename: string): boolean =>
  filename === "" || filename === ":memory:" || filename.startsWith("file::memory:")

/**
 * Creates missing directories one level at a time from the deepest existing ancestor: Node's recursive `mkdirSync`
 * can loop forever where the kernel answers ENOENT for a parent that exists (under /proc, for one).
 *
 * @internal
 */
export const makeDirectories = (dir: string): void => {
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

/** @internal */
export const fileSize = (file: string): number => fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0

/**
 * Opens the database, runs `setup` in one `BEGIN IMMEDIATE` transaction, then `prepare` (statements, triggers) and
 * returns what it returns. Closes the connection when anything throws (and rethrows). A busy attempt is retried with
 * a short backoff until the busy timeout has passed.
 *
 * @internal
 */
export const open = <A>(
  settings: ConnectionSettings,
  setup: (db: Database.Database) => void,
  prepare: (db: Database.Database) => A
): A => {
  if (!isMemory(settings.filename)) makeDirectories(path.dirname(path.resolve(settings.filename)))
  const deadline = Date.now() + settings.busyMillis
  for (let pause = 2;; pause = Math.min(pause * 2, 50)) {
    try {
      return openOnce(settings, setup, prepare)
    } catch (error) {
      if (sqlSchema.toError("sqlite", "open", undefined, error)._tag !== "Busy" || Date.now() + pause > deadline) {
        throw error
      }
      sleepSync(pause)
    }
  }
}

/**
 * One attempt at `open`. Some of SQLite's lock steps while a fresh file becomes a WAL database answer `SQLITE_BUSY`
 * without calling the busy handler (CI saw one of four processes opening a new file together fail at once), so the
 * WAL mode is only set when the file is not in it already and `open` retries a busy attempt.
 */
const openOnce = <A>(
  settings: ConnectionSettings,
  setup: (db: Database.Database) => void,
  prepare: (db: Database.Database) => A
): A => {
  const db = new Database(settings.filename, { timeout: settings.busyMillis })
  try {
    reportCommits(db)
    if (db.pragma("journal_mode", { simple: true }) !== "wal") db.pragma("journal_mode = WAL")
    db.pragma(`synchronous = ${settings.synchronous}`)
    db.pragma(`mmap_size = ${settings.mmapSize}`)
    if (!db.memory && (settings.verifyOnOpen ?? databaseBytes(db) <= VERIFY_ON_OPEN_BYTES)) verify(db)
    db.transaction(() => setup(db)).immediate()
    return prepare(db)
  } catch (error) {
    db.close()
    throw isDamage(error) && !(error instanceof Damaged) ? damaged(db.name, errorMessage(error), error) : error
  }
}

/**
 * Makes every statement prepared on `db` that writes and returns rows (`DELETE ... RETURNING` and the like) read all
 * its rows when asked for the first one (`get`) or iterated. better-sqlite3's `get` steps a statement once and resets
 * it without looking at what the reset answers, and so does an iteration left before its end; in autocommit mode the
 * statement's implicit COMMIT happens at that reset, so a commit that failed (a full disk, an I/O error: SQLite then
 * rolls the change back) would pass for a success. `all` steps to the end and reports it. Every other way of running
 * a statement (`run`, `all`, `exec`, the transactions' `COMMIT`) reports a failed commit already.
 */
const reportCommits = (db: Database.Database): void => {
  const prepare = db.prepare
  db.prepare = function(this: Database.Database, source: string) {
    const statement = prepare.call(this, source) as Database.Statement<Array<unknown>>
    if (statement.reader && !statement.readonly) {
      Object.defineProperties(statement, {
        get: { value: (...params: Array<unknown>) => statement.all(...params)[0] },
        iterate: { value: (...params: Array<unknown>) => statement.all(...params)[Symbol.iterator]() }
      })
    }
    return statement
  } as typeof db.prepare
}

const recoverHint = "SqliteStore.recover({ from, to }) copies what can still be read into a new file"

const errorMessage = (error: unknown): string => error instanceof Error ? error.message : String(error)

const codeOf = (error: unknown): unknown => (error as { readonly code?: unknown } | undefined)?.code

/**
 * Whether an engine error means a damaged file (or not a database at all): `SQLITE_NOTADB`, `SQLITE_CORRUPT*`.
 *
 * @internal
 */
export const isDamage = (error: unknown): boolean => {
  const code = codeOf(error)
  return typeof code === "string" && (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT"))
}

// An engine-like error that `sqlSchema.toError` maps to `StoreCorrupted`, its reason naming the file and the way out.
class Damaged extends Error {
  readonly code = "SQLITE_CORRUPT"
}

const damaged = (file: string, what: string, cause?: unknown): Damaged =>
  new Damaged(`${file}: ${what}; if it holds a damaged store, ${recoverHint}`, cause === undefined ? {} : { cause })

/** `PRAGMA quick_check`: the b-trees, pages and records of every table and index, without comparing indexes to rows. */
const verify = (db: Database.Database): void => {
  const lines = db.prepare<[], string>("PRAGMA quick_check(10)").pluck().all()
  if (lines.length === 1 && lines[0] === "ok") return
  throw damaged(db.name, `the database is damaged (PRAGMA quick_check: ${lines.join("; ")})`)
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4))

/** Blocks the thread for `millis`: opening is synchronous, and only a contended open ever waits here. */
const sleepSync = (millis: number): void => {
  Atomics.wait(pauseCell, 0, 0, millis)
}

/**
 * Bytes the database uses on disk: the file and its write-ahead log.
 *
 * @internal
 */
export const databaseBytes = (db: Database.Database): number => {
  if (!db.open) throw new TypeError("The database connection is not open")
  return fileSize(db.name) + fileSize(`${db.name}-wal`)
}

/**
 * Runs one of a range statement's two forms (without and with an upper bound) over a prefix and a cursor.
 *
 * @internal
 */
export const inRange = <S, A>(
  forms: ReadonlyArray<S>,
  prefix: string,
  after: string | undefined,
  run: (statement: S, bounds: Array<unknown>) => A
): A => {
  const { bounded, bounds } = sqlSchema.rangeParams(prefix, after)
  return run(forms[bounded ? 1 : 0]!, bounds)
}

/**
 * Runs a synchronous read-modify-write transaction around a caller's `f`: a throw from `f` is a bug in the caller's
 * function, which rolls the transaction back and becomes a defect; any other throw is mapped by `onError`.
 *
 * @internal
 */
export const modifyWith = <A>(
  f: (current: Option.Option<Entry>) => readonly [A, Mutation],
  run: (guarded: (current: Option.Option<Entry>) => readonly [A, Mutation]) => unknown,
  onError: (cause: unknown) => KeyValueStoreError
): Effect.Effect<A, KeyValueStoreError> =>
  Effect.suspend(() => {
    let thrown: { readonly defect: unknown } | undefined
    const guarded = (current: Option.Option<Entry>) => {
      try {
        return f(current)
      } catch (defect) {
        thrown = { defect }
        throw defect
      }
    }
    try {
      return Effect.succeed(run(guarded) as A)
    } catch (cause) {
      return thrown === undefined ? Effect.fail(onError(cause)) : Effect.die(thrown.defect)
    }
  })

/**
 * The capabilities of a store on a `:memory:` database: its entries live and die with its connection.
 *
 * @internal
 */
export const inMemory = (capabilities: Capabilities): Capabilities => ({
  ...capabilities,
  persistent: false,
  crossProcess: false,
  volume: false
})

/**
 * The error mapping of a better-sqlite3 store named `backend`: `toError` for a thrown driver error, `attempt` to run a
 * synchronous statement under it, `openError` for a failure while opening (always one of the open errors).
 *
 * @internal
 */
export const errorsOf = (backend: string) => {
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
  return { toError, attempt, openError }
}

/**
 * The transaction regions of a store on `db`: the region is a `BEGIN IMMEDIATE` transaction (the write lock is taken
 * up front, so another process's lock is waited for up to the busy timeout, then `Busy`), nested regions are
 * savepoints, and the large-value files follow each level (released files are deleted when the outermost level
 * commits, files spilled by a level that rolls back are deleted with it), and so do the store's eviction and expiration
 * counts when given (a level that rolls back takes back its own). The stores of this process on the same file share
 * one record of which of them holds a region, so the fibers of the others wait for it without blocking the thread on
 * the file's lock. A statement failure that made SQLite roll the whole transaction back (a full disk, an I/O error)
 * makes the region's commit fail rather than commit the rest.
 *
 * @internal
 */
export const regionsOf = (
  db: Database.Database,
  files: Pick<LargeValues, "begin" | "commit" | "rollback"> | undefined,
  toError: (method: string, cause: unknown) => KeyValueStoreError,
  counters?: regions.Counts | undefined
): regions.Regions => {
  const saved: Array<regions.Counts> = []
  return regions.make(
    {
      begin: (depth) => {
        db.exec(depth === 0 ? "BEGIN IMMEDIATE" : `SAVEPOINT kv_region_${depth}`)
        files?.begin()
        if (counters !== undefined) saved.push({ ...counters })
      },
      commit: (depth) => {
        if (!db.inTransaction) throw new Error("the engine rolled the transaction back after a failed statement")
        db.exec(depth === 0 ? "COMMIT" : `RELEASE kv_region_${depth}`)
        files?.commit()
        saved.pop()
      },
      alive: () => db.inTransaction,
      rollback: (depth) => {
        try {
          if (db.inTransaction) {
            if (depth === 0) db.exec("ROLLBACK")
            else db.exec(`ROLLBACK TO kv_region_${depth}; RELEASE kv_region_${depth}`)
          }
        } finally {
          files?.rollback()
          const counts = saved.pop()
          if (counters !== undefined && counts !== undefined) regions.restoreCounts(counters, counts)
        }
      }
    },
    toError,
    sharedOf(db)
  )
}

// The stores of this process on one database file share their regions' bookkeeping (see `regions.Shared`), so a
// region of one holds back the others' fibers asynchronously; kept for the life of the process, one small record per
// file.
const sharedByFile = new Map<string, regions.Shared>()

const sharedOf = (db: Database.Database): regions.Shared | undefined => {
  if (db.memory) return undefined
  let file: string
  try {
    file = fs.realpathSync(db.name)
  } catch {
    return undefined
  }
  let shared = sharedByFile.get(file)
  if (shared === undefined) {
    shared = regions.newShared()
    sharedByFile.set(file, shared)
  }
  return shared
}
