/**
 * The one SQL schema and statement set shared by SqliteStore (raw better-sqlite3) and SqlStore (any `@effect/sql`
 * client on SQLite, PostgreSQL or MySQL/MariaDB). Statements are written once with `?` placeholders; the dialect
 * table (`specs`, used by `statements`) is the single place where engines differ: identifier quotes, column types,
 * upsert syntax, placeholders (`$n` on PostgreSQL), `DELETE ... RETURNING` (not on MySQL), row locks, triggers and
 * the locks that make setup and transaction regions safe across processes. A SQLite file written by one store opens
 * in the other because both create and read exactly these tables.
 *
 * Tables, for a store table named `t`:
 * - `t`: one row per entry (key, value, absolute expiry in epoch ms, created/updated/accessed times, access count,
 *   size, tags as a JSON array, metadata as a JSON object, file name of a large value). `accessed_at` is the last use
 *   as a `useStamp` and `access_count` the number of uses (a write or a read returning the entry; a new entry has 1):
 *   eviction orders victims by them. On PostgreSQL and MySQL the key is a binary column (`BYTEA`, `VARBINARY`) holding
 *   the key's UTF-8 bytes, so any Unicode key (U+0000 included) fits and keys compare in UTF-8 byte order, as SQLite's
 *   `BINARY` collation compares its `TEXT` keys.
 * - `t_tags`: (tag, key) pairs, so `removeTag` is an index lookup. Kept in step with `t.tags` by triggers on SQLite
 *   and PostgreSQL; on MySQL (whose triggers need privileges many hosted servers do not grant) by SqlStore's own
 *   statements, inside the transaction that writes the row.
 * - `t_meta`: (name, value) settings, holding the format version that a mismatched open refuses.
 * - `t_counters` (SQLite only, and only once a store with size limits opened the file: see `counting`): one row
 *   (id 0) holding the number of rows of `t` and the sum of their `size`, kept by triggers on insert, update of
 *   `size` and delete, so size limits never count the table; `recount` recomputes it. The triggers cost every write
 *   an update of that row (a third page written per commit), so a file no store ever limited has neither the row nor
 *   the triggers. SqlStore has no size limits, and on a server such a row would serialize every writer, so
 *   PostgreSQL and MySQL have no counters table: their `counters` statement counts the table.
 * - `t_locks` and `t_fences`: the lease table of locks (see `leaseStatements`).
 *
 * @internal
 */
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import type { Entry, Metadata, Write } from "../../KeyValueStore.js"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import {
  BackendError,
  Busy,
  InvalidArgument,
  isKeyValueStoreError,
  StoreCorrupted,
  Timeout,
  TransactionConflict
} from "../../KeyValueStoreError.js"
import * as Pattern from "../../Pattern.js"
import * as deadlines from "./deadline.js"

/**
 * Version of the tables and of what their columns mean, per dialect. 2: the `<table>_counters` row and its triggers,
 * and `accessed_at` as a use stamp (see `useStamp`) with `access_count` counting uses. 3 (SQLite only, the files of
 * SqliteStore): a `file` column may name `<32 hex>.<8 hex>.value`, whose 8 hex digits are the CRC-32 of the file's
 * bytes (see `sqlite/largeValues.ts`). A version of the library that reads format 2 would take such rows for damaged ones
 * (and its `check({ fix: true })` would delete them), so it must refuse such a file: the format row says 3 from the
 * first open by this version on. 4 (SQLite only): the counters row and its triggers exist only while some store with
 * size limits has opened the file (`counting`); a version that reads format 3 would trust a counters row no trigger
 * keeps, and evict by it, so it must refuse such a file.
 *
 * @internal
 */
export const formatVersion = (dialect: Dialect): number => dialect === "sqlite" ? 4 : 2

/**
 * Formats an open accepts and rewrites to `formatVersion` (`upgradeFormat`, after the statements of `migrate`) in
 * its setup transaction, holding the setup lock, so concurrent openers upgrade once: on SQLite, 2 (whose files are
 * all named without a checksum: they stay valid, verified by their length, until their key is written again) and 3;
 * `migrate` drops the counters row and triggers of both (an open with size limits creates them again, recounted).
 *
 * @internal
 */
export const upgradableFormats = (dialect: Dialect): ReadonlyArray<string> => dialect === "sqlite" ? ["2", "3"] : []

/** @internal */
export type Dialect = "sqlite" | "pg" | "mysql"

/**
 * What differs between the engines beyond statement texts: how values travel, which statements exist, and how
 * SqlStore has to run them. This table, with `statements`, is the one place that knows the engines apart.
 *
 * @internal
 */
export interface Spec {
  readonly dialect: Dialect
  /** Quotes an identifier: `"x"` (SQLite, PostgreSQL) or `` `x` `` (MySQL, which reads `"x"` as a string). */
  readonly quote: (name: string) => string
  /**
   * Keys, tag names and lock names are binary columns, passed as their UTF-8 bytes and read back as bytes: PostgreSQL
   * `TEXT` cannot hold U+0000 and compares by collation, MySQL's text columns compare case-insensitively.
   */
  readonly binaryKeys: boolean
  /** Longest key (with a namespace's prefix) the key columns hold, in UTF-8 bytes; undefined when unbounded. */
  readonly keyColumnBytes: number | undefined
  /** Longest tag the tag column holds, in UTF-8 bytes; undefined when unbounded. */
  readonly tagColumnBytes: number | undefined
  /** `DELETE ... RETURNING` reports the removed rows (not on MySQL: SqlStore reads them with a locking read first). */
  readonly returning: boolean
  /** Triggers keep `<table>_tags` in step with the `tags` column (not on MySQL: SqlStore's statements do). */
  readonly tagTriggers: boolean
  /**
   * Writers lock rows, not the database: read-modify-writes claim their row and read it `FOR UPDATE`. Without (SQLite),
   * the first writing statement of a transaction takes the database's write lock.
   */
  readonly rowLocks: boolean
  /**
   * The schema is complete whenever the format row exists (created in one step with it and never by older versions),
   * so an open that finds its format runs no DDL at all. SQLite files may come from versions without the lease
   * tables, so SQLite runs its idempotent schema at every open.
   */
  readonly schemaOnce: boolean
  /**
   * Times are `BIGINT` columns that take whole numbers only (PostgreSQL refuses a fraction, MySQL rounds it), so times
   * are passed as whole milliseconds, rounded down. Only a test clock moved by fractions of a millisecond (a jittered
   * schedule under `TestClock`) ever reads a fraction; SQLite stores it as it is.
   */
  readonly wholeMillis: boolean
  /**
   * A failed statement aborts the whole transaction, whose `COMMIT` is then answered by `ROLLBACK` without an error
   * (PostgreSQL): a transaction region reads the answer of its `COMMIT` (`command` of the raw result).
   */
  readonly abortedCommitRollsBack: boolean
  /**
   * How `setMany` and `removeMany` send a batch (see `upsertMany`): `"arrays"` (PostgreSQL) as a few array parameters
   * of one statement text whatever the batch's size (`unnest`, `= ANY`); `"rows"` (MySQL) as a multi-row `VALUES`
   * list, a placeholder per column of each row; undefined (SQLite, in process, with no round trip to save) entry by
   * entry, with the statements SqliteStore shares.
   */
  readonly batches: "arrays" | "rows" | undefined
  /**
   * Most rows (and keys) of one batch statement: far below the bound on bound parameters (65535 on PostgreSQL and
   * MySQL) at 10 per row.
   */
  readonly batchRows: number
  /**
   * Most bytes (as `BatchRow.cost` counts them) of one batch statement; on MySQL also at most half its
   * `max_allowed_packet` (`maxPacket`). An entry that costs more goes alone, as a single upsert would.
   */
  readonly batchBytes: number
}

const doubleQuote = (name: string) => `"${name}"`

/**
 * The dialect table.
 *
 * @internal
 */
export const specs: Readonly<Record<Dialect, Spec>> = {
  sqlite: {
    dialect: "sqlite",
    quote: doubleQuote,
    binaryKeys: false,
    keyColumnBytes: undefined,
    tagColumnBytes: undefined,
    returning: true,
    tagTriggers: true,
    rowLocks: false,
    schemaOnce: false,
    wholeMillis: false,
    abortedCommitRollsBack: false,
    batches: undefined,
    batchRows: 1000,
    batchBytes: 8 * 1024 * 1024
  },
  pg: {
    dialect: "pg",
    quote: doubleQuote,
    binaryKeys: true,
    keyColumnBytes: undefined,
    tagColumnBytes: undefined,
    returning: true,
    tagTriggers: true,
    rowLocks: true,
    schemaOnce: true,
    wholeMillis: true,
    abortedCommitRollsBack: true,
    batches: "arrays",
    batchRows: 1000,
    batchBytes: 8 * 1024 * 1024
  },
  mysql: {
    dialect: "mysql",
    quote: (name) => `\`${name}\``,
    binaryKeys: true,
    // InnoDB indexes at most 3072 bytes of a key: (tag, key) is 1024 + 2048.
    keyColumnBytes: 2048,
    tagColumnBytes: 1024,
    returning: false,
    tagTriggers: false,
    rowLocks: true,
    schemaOnce: true,
    wholeMillis: true,
    abortedCommitRollsBack: false,
    batches: "rows",
    batchRows: 1000,
    batchBytes: 8 * 1024 * 1024
  }
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/

/**
 * A table name is spliced into SQL text, so only plain identifiers are accepted.
 *
 * @internal
 */
export const isValidTableName = (name: string): boolean => identifier.test(name)

/**
 * The table name of a store's options (default `"effect_kv"`), or the `InvalidArgument` an open fails with.
 *
 * @internal
 */
export const tableOf = (table: string | undefined): string | InvalidArgument => {
  const name = table ?? "effect_kv"
  return typeof name === "string" && isValidTableName(name) ? name : new InvalidArgument({
    method: "open",
    argument: "table",
    reason: `expected a plain identifier of at most 48 characters, got ${JSON.stringify(name)}`
  })
}

/**
 * The check at open, before `initFormat`: `format` is the value `readFormat` returned (`undefined` when no row did),
 * accepted when it is the dialect's `formatVersion` or one of its `upgradableFormats`. `location` names the database
 * for the reason, when the store knows it (a file name).
 *
 * @internal
 */
export const checkFormat = (
  backend: string,
  table: string,
  location: string | undefined,
  format: unknown,
  dialect: Dialect
): StoreCorrupted | undefined => {
  const version = formatVersion(dialect)
  if (format === String(version) || (typeof format === "string" && upgradableFormats(dialect).includes(format))) {
    return undefined
  }
  const where = location === undefined ? `table ${table}` : `table ${table} in ${location}`
  const holds = format === undefined || format === null ? "no store format" : `store format ${String(format)}`
  return new StoreCorrupted({
    method: "open",
    backend,
    reason: `${where} holds ${holds}; this version reads format ${version}`
  })
}

/**
 * A lock that serializes something across processes (setup, transaction regions): `acquire` takes it, `release`
 * gives it back (undefined when the lock ends with the transaction). `session` locks (MySQL's `GET_LOCK`) are taken
 * outside a transaction, polled with a wait per statement (`statements`' `sessionLockWait`, one second unless a
 * statement must be answered sooner), and must be released; the others
 * (PostgreSQL's `pg_advisory_xact_lock`) are taken inside the transaction and end with it.
 *
 * @internal
 */
export interface ServerLock {
  readonly acquire: string
  /**
   * Takes the lock without waiting, answering `acquired` (PostgreSQL's `pg_try_advisory_xact_lock`); undefined where
   * `acquire` itself waits a bounded time (MySQL). A transaction region polls it rather than waiting in `acquire`:
   * an interrupted `acquire` is cancelled by `@effect/sql-pg` through another connection of the pool, which a pool
   * whose every connection is taken never lends, so the interruption would wait until the lock came free.
   */
  readonly poll: string | undefined
  readonly release: string | undefined
  readonly session: boolean
}

/** @internal */
export interface Statements {
  readonly schema: ReadonlyArray<string>
  /** Opens a transaction that holds the write lock from the start (SQLite: `BEGIN IMMEDIATE`), for setup. */
  readonly begin: string
  readonly commit: string
  readonly rollback: string
  readonly initFormat: string
  readonly readFormat: string
  /** Rewrites an upgradable format row to the current version: parameters the new version, the old one. */
  readonly upgradeFormat: string
  /**
   * Run (in order, in the setup transaction) before `upgradeFormat` when the file holds an older, upgradable format:
   * on SQLite, drops the counters triggers and row of formats 2 and 3. Empty elsewhere.
   */
  readonly migrate: ReadonlyArray<string>
  /**
   * The counters row and its triggers (SQLite; empty elsewhere), run in the setup transaction of a store with size
   * limits when `counting.present` finds no trigger: creates the row from a count of the table (`recount`), then the
   * triggers, so no write between the count and the triggers is missed (the setup holds the write lock).
   */
  readonly counting: {
    /** `SELECT 1` when the counter triggers exist. */
    readonly present: string
    readonly create: ReadonlyArray<string>
  }
  /** The lock held while the schema is set up (none on SQLite, whose `begin` takes the write lock). */
  readonly setupLock: ServerLock | undefined
  /**
   * The lock a transaction region of this table holds across processes, as SQLite's `BEGIN IMMEDIATE` does (none on
   * SQLite).
   */
  readonly regionLock: ServerLock | undefined
  /** `SELECT value, file` of a live key: parameters key, now. */
  readonly get: string
  /**
   * `SELECT value` alone, the fast path of a store that keeps large values in files: the `value` of a row whose value
   * is in a file is empty, so an empty value is read again through `get`.
   */
  readonly getValue: string
  readonly getEntry: string
  readonly has: string
  readonly expiresAt: string
  readonly upsert: string
  /**
   * `upsert` of several distinct keys in one statement, `count` rows (`"rows"` engines; the `"arrays"` form takes
   * any number): parameters from `upsertManyParams`. PostgreSQL's tag trigger is a row trigger: it deletes the old
   * tag rows of every row the statement overwrites, after the statement and before the batch's `insertTagsMany`.
   */
  readonly upsertMany: (count: number) => string
  readonly insertTag: string
  /** `count` (tag, key) rows at once: parameters tag, key, tag, key, ... */
  readonly insertTags: (count: number) => string
  /** `insertTags` of `count` pairs in one statement: parameters from `tagsManyParams` (two arrays on `"arrays"`). */
  readonly insertTagsMany: (count: number) => string
  /** Deletes the tag rows of a key (SqlStore on MySQL, which has no triggers): parameter key. */
  readonly untag: string
  /** Deletes a key's row, `RETURNING expires_at` where the dialect has `returning`. */
  readonly remove: string
  /** Deletes the rows carrying a tag, `RETURNING expires_at` where the dialect has `returning`. */
  readonly removeTag: string
  /** `removeTag` for the keys of a range only: parameters tag, lower, [upper] (see `rangeOf`). */
  readonly removeTagInRange: (bounded: boolean) => string
  readonly touch: string
  readonly deleteExpiredBatch: string
  readonly deleteExpired: string
  readonly clear: ReadonlyArray<string>
  readonly size: string
  /**
   * The `entries, bytes` row of the counters table (no row when it was deleted behind the store's back); counted from
   * the entries table on the dialects without one.
   */
  readonly counters: string
  /** Recomputes the counters row from the entries table (creating it when absent), for a check that finds drift. */
  readonly recount: string
  /**
   * Run first in a read-modify-write transaction: takes the write lock before anything is read, so that a
   * transaction opened with a plain `BEGIN` cannot lose its snapshot to another writer (SQLite's
   * `SQLITE_BUSY_SNAPSHOT`) and waits through the busy timeout instead. Parameter: key.
   */
  readonly lockForWrite: string
  /**
   * Inserts an expired, empty row for a key unless it has one (parameters key, empty value): a read-modify-write on
   * a row-locking engine claims its row this way, so that `lockEntry` has a row to lock even for an absent key (two
   * `add`s must not both see "absent"). Expired rows are invisible to every read, and the claim's row is written or
   * deleted before its transaction ends.
   */
  readonly claim: string
  /** The `getEntry` columns and `key` of a key's row, live or not, locked for the transaction: parameter key. */
  readonly lockEntry: string
  /** Deletes a key's row when it is expired (a claim that wrote nothing): parameters key, now. */
  readonly removeDead: string
  /** `SELECT key, expires_at` of `count` keys, locked: parameters the keys. */
  readonly lockKeys: (count: number) => string
  /** `SELECT key, expires_at` of the first `limit` keys of a range in key order, locked: parameters lower, [upper]. */
  readonly lockRange: (bounded: boolean, limit: number) => string
  /**
   * `SELECT key, expires_at` of the rows whose key carries a tag (in a range when `bounded` is defined: parameters
   * tag, lower, [upper]), in key order, the first `limit` ones when given, locked.
   */
  readonly lockTagged: (bounded: boolean | undefined, limit: number | undefined) => string
  /** Which of `count` keys still carry a tag, read with a locking read: parameters tag, then the keys. */
  readonly taggedOf: (count: number) => string
  /** `SELECT key, expires_at` of the first `limit` expired rows, locked: parameter now. */
  readonly lockExpired: (limit: number) => string
  /** Deletes the rows of `count` keys: parameters the keys. */
  readonly deleteKeys: (count: number) => string
  /**
   * Deletes the rows of `count` keys (one array of keys on `"arrays"` engines, which lock them in key order first),
   * `RETURNING expires_at` where the dialect has `returning`.
   */
  readonly removeKeys: (count: number) => string
  /** `SELECT n`, the server's `max_allowed_packet` (MySQL; undefined elsewhere). */
  readonly maxPacket: string | undefined
  /** Deletes the tag rows of `count` keys: parameters the keys. */
  readonly untagKeys: (count: number) => string
  /** `SELECT key, value, file` of `count` keys at once; parameters: the keys, then now. */
  readonly getMany: (count: number) => string
  /**
   * Live keys of a key range in key order: parameters lower, [upper,] now, limit (`bounded` says whether the range
   * has an upper bound; see `rangeOf`). With `limit` given, the limit is written into the text instead (MySQL's
   * prepared statements do not take every numeric type for a `LIMIT`).
   */
  readonly scanKeys: (bounded: boolean, limit?: number) => string
  /** As `scanKeys`, selecting `key, value, file`. */
  readonly scanEntries: (bounded: boolean, limit?: number) => string
  /** `COUNT(*)` of the live keys of a range: parameters lower, [upper,] now. */
  readonly countRange: (bounded: boolean) => string
  /** Deletes every row of a range, `RETURNING expires_at` where the dialect has `returning`: parameters lower, [upper]. */
  readonly removeRange: (bounded: boolean) => string
  /** The lease table of locks. */
  readonly leases: LeaseStatements
}

/**
 * The lease table of a store's locks: `<table>_locks` holds one row per held slot (`name`, `owner`, `expires_at` in
 * epoch ms), `<table>_fences` the last fencing token issued per lock name (never deleted, so tokens strictly increase
 * across holders and processes). The SQLite tables are SqliteStore's (`sqlite/leases.ts`), so both stores on one file
 * share their locks.
 *
 * @internal
 */
export interface LeaseStatements {
  readonly schema: ReadonlyArray<string>
  /** Creates the fence row of a name (fence 0) unless it exists: parameter name. */
  readonly claimFence: string
  /** Reads the fence row locked for the transaction, so acquisitions of one name take turns: parameter name. */
  readonly lockFence: string
  /** Parameters name, now. */
  readonly deleteExpired: string
  /** `SELECT owner` of the held slots: parameter name. */
  readonly holders: string
  /** Parameters name, owner, expires_at. */
  readonly insert: string
  /** Parameter name. */
  readonly bumpFence: string
  /** `SELECT fence`: parameter name. */
  readonly readFence: string
  /** Pushes a live slot's expiry forward: parameters expires_at, name, owner, now. */
  readonly extend: string
  /** Whether a slot is live: parameters name, owner, now. */
  readonly held: string
  /** Parameters name, owner. */
  readonly release: string
  /**
   * The first statement of a fenced write's transaction where the check alone would not hold the lease until the
   * write commits (SQLite: takes the database's write lock up front), or undefined.
   */
  readonly lockForFence: string | undefined
  /**
   * `held`, locking the slot's row until the transaction ends (PostgreSQL `FOR KEY SHARE`, MySQL `LOCK IN SHARE
   * MODE`), so a concurrent acquisition cannot delete the slot before the fenced write commits: parameters name,
   * owner, now.
   */
  readonly holding: string
}

/**
 * The key range of a scan in the engine: keys `>= lower` and, when `upper` is given, `< upper`. Keys compare as
 * UTF-8 bytes (SQLite's BINARY collation, binary key columns elsewhere), so the range of a prefix ends at
 * `Pattern.upperBound(prefix)`, and the smallest key after a cursor `k` is `k + "\u0000"`.
 *
 * @internal
 */
export const rangeOf = (
  prefix: string,
  after: string | undefined
): { readonly lower: string; readonly upper: string | undefined } => ({
  lower: after === undefined ? prefix : after + "\u0000",
  upper: Option.getOrUndefined(Pattern.upperBound(prefix))
})

/**
 * The parameters of a range statement (`rangeOf`'s bounds) and which of its two forms takes them: `bounded` when the
 * range has an upper bound.
 *
 * @internal
 */
export const rangeParams = (
  prefix: string,
  after: string | undefined
): { readonly bounds: Array<string>; readonly bounded: boolean } => {
  const { lower, upper } = rangeOf(prefix, after)
  return upper === undefined ? { bounds: [lower], bounded: false } : { bounds: [lower, upper], bounded: true }
}

const list = (count: number): string => Array.from({ length: count }, () => "?").join(", ")

// A limit written into a statement's text: only ever a positive integer.
const literal = (limit: number): string => {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`invalid limit: ${limit}`)
  return String(limit)
}

// PostgreSQL numbers its placeholders: the statements are written with `?` (never otherwise used in them).
const numbered = (text: string): string => {
  let n = 0
  return text.replace(/\?/g, () => `$${++n}`)
}

/**
 * A 32-bit key of PostgreSQL's two-key advisory locks naming this table (the other key names the purpose).
 *
 * @internal
 */
export const lockKeyOf = (table: string): number => crypto.createHash("sha256").update(table).digest().readInt32BE(0)

/** Purposes of the advisory locks (the first of their two keys): "kv" followed by 1 and 2. */
const setupPurpose = 0x6b760001
const regionPurpose = 0x6b760002

/**
 * The statement texts for one table.
 *
 * `upsert` keeps `created_at` when it overwrites a live entry and resets it when the old row had expired (and
 * `access_count` likewise). Parameters of `upsert`: key, value, expires_at, now (created), now (updated), use stamp
 * (accessed), size, tags, metadata, file. A row with a `file` holds its value in that file beside the database (only
 * SqliteStore writes such rows; its `value` is then empty and `size` the file's).
 *
 * @internal
 */
export const statements = (table: string, dialect: Dialect = "sqlite", sessionLockWait = 1): Statements => {
  if (!isValidTableName(table)) throw new Error(`invalid table name: ${table}`)
  const sqlite = dialect === "sqlite"
  const mysql = dialect === "mysql"
  const q = specs[dialect].quote
  const t = q(table)
  const tags = q(`${table}_tags`)
  const meta = q(`${table}_meta`)
  const counters = q(`${table}_counters`)
  // `KEY` is a reserved word of MySQL.
  const key = mysql ? "`key`" : "key"
  const live = "(expires_at IS NULL OR expires_at > ?)"
  const greatest = sqlite ? "max" : "GREATEST"
  const forUpdate = sqlite ? "" : " FOR UPDATE"
  const returning = mysql ? "" : " RETURNING expires_at"
  const inRange = (bounded: boolean) => `${key} >= ?${bounded ? ` AND ${key} < ?` : ""}`
  const limited = (limit: number | undefined) => limit === undefined ? "?" : literal(limit)
  const scanKeys = (bounded: boolean, limit?: number) =>
    `SELECT ${key} FROM ${t} WHERE ${inRange(bounded)} AND ${live} ORDER BY ${key} LIMIT ${limited(limit)}`
  const scanEntries = (bounded: boolean, limit?: number) =>
    `SELECT ${key}, value, file, size FROM ${t}
        WHERE ${inRange(bounded)} AND ${live} ORDER BY ${key} LIMIT ${limited(limit)}`
  const countedCounters = `SELECT COUNT(*) AS entries, COALESCE(SUM(size), 0) AS bytes FROM ${t}`
  // The counters row recomputed from the table (SQLite): `recount`, and the first statement of `counting.create`.
  const recountRow = `INSERT INTO ${counters} (id, entries, bytes)
      SELECT 0, COUNT(*), COALESCE(SUM(size), 0) FROM ${t} WHERE true
      ON CONFLICT (id) DO UPDATE SET entries = excluded.entries, bytes = excluded.bytes`
  const mysqlLockName = (purpose: string) =>
    `CONCAT('effect-kv:${purpose}:', SHA1(CONCAT(COALESCE(DATABASE(), ''), '.', '${table}')))`
  const serverLock = (purpose: number, name: string): ServerLock | undefined =>
    dialect === "pg"
      ? {
        acquire: `SELECT pg_advisory_xact_lock(${purpose}, ${lockKeyOf(table)})`,
        poll: `SELECT pg_try_advisory_xact_lock(${purpose}, ${lockKeyOf(table)}) AS acquired`,
        release: undefined,
        session: false
      }
      : mysql
      ? {
        acquire: `SELECT GET_LOCK(${mysqlLockName(name)}, ${sessionLockWait}) AS acquired`,
        poll: undefined,
        release: `SELECT RELEASE_LOCK(${mysqlLockName(name)}) AS released`,
        session: true
      }
      : undefined
  const upsertColumns =
    `(${key}, value, expires_at, created_at, updated_at, accessed_at, size, tags, metadata, access_count, file)`
  const upsertRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)"
  const onConflict = mysql
    // MySQL evaluates the assignments in order, each seeing the ones before: the old expiry is read first.
    ? `ON DUPLICATE KEY UPDATE
        created_at = CASE WHEN expires_at IS NOT NULL AND expires_at <= VALUES(updated_at)
          THEN VALUES(created_at) ELSE created_at END,
        access_count = CASE WHEN expires_at IS NOT NULL AND expires_at <= VALUES(updated_at)
          THEN 1 ELSE access_count + 1 END,
        value = VALUES(value),
        expires_at = VALUES(expires_at),
        updated_at = VALUES(updated_at),
        accessed_at = VALUES(accessed_at),
        size = VALUES(size),
        tags = VALUES(tags),
        metadata = VALUES(metadata),
        file = VALUES(file)`
    : `ON CONFLICT (key) DO UPDATE SET
        value = excluded.value,
        expires_at = excluded.expires_at,
        created_at = CASE WHEN ${t}.expires_at IS NOT NULL AND ${t}.expires_at <= excluded.updated_at
          THEN excluded.created_at ELSE ${t}.created_at END,
        updated_at = excluded.updated_at,
        accessed_at = excluded.accessed_at,
        access_count = CASE WHEN ${t}.expires_at IS NOT NULL AND ${t}.expires_at <= excluded.updated_at
          THEN 1 ELSE ${t}.access_count + 1 END,
        size = excluded.size,
        tags = excluded.tags,
        metadata = excluded.metadata,
        file = excluded.file`
  const tagConflict = mysql ? "ON DUPLICATE KEY UPDATE tag = tag" : "ON CONFLICT (tag, key) DO NOTHING"
  const out: Statements = {
    schema: schemaOf(dialect, table),
    begin: sqlite ? "BEGIN IMMEDIATE" : mysql ? "START TRANSACTION" : "BEGIN",
    commit: "COMMIT",
    rollback: "ROLLBACK",
    initFormat: `INSERT INTO ${meta} (name, value) VALUES ('format', ?) ${
      mysql ? "ON DUPLICATE KEY UPDATE name = name" : "ON CONFLICT (name) DO NOTHING"
    }`,
    readFormat: `SELECT value FROM ${meta} WHERE name = 'format'`,
    upgradeFormat: `UPDATE ${meta} SET value = ? WHERE name = 'format' AND value = ?`,
    migrate: sqlite
      ? [
        `DROP TRIGGER IF EXISTS "${table}_count_insert"`,
        `DROP TRIGGER IF EXISTS "${table}_count_update"`,
        `DROP TRIGGER IF EXISTS "${table}_count_delete"`,
        `DROP TABLE IF EXISTS ${counters}`
      ]
      : [],
    counting: sqlite
      ? {
        present: `SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = '${table}_count_insert'`,
        create: [
          `CREATE TABLE IF NOT EXISTS ${counters} (
        id INTEGER PRIMARY KEY NOT NULL CHECK (id = 0),
        entries BIGINT NOT NULL,
        bytes BIGINT NOT NULL
      )`,
          recountRow,
          `CREATE TRIGGER IF NOT EXISTS "${table}_count_insert" AFTER INSERT ON ${t}
        BEGIN UPDATE ${counters} SET entries = entries + 1, bytes = bytes + new.size WHERE id = 0; END`,
          `CREATE TRIGGER IF NOT EXISTS "${table}_count_update" AFTER UPDATE OF size ON ${t}
        WHEN new.size IS NOT old.size
        BEGIN UPDATE ${counters} SET bytes = bytes + new.size - old.size WHERE id = 0; END`,
          `CREATE TRIGGER IF NOT EXISTS "${table}_count_delete" AFTER DELETE ON ${t}
        BEGIN UPDATE ${counters} SET entries = entries - 1, bytes = bytes - old.size WHERE id = 0; END`
        ]
      }
      : { present: "SELECT 1 WHERE 0 = 1", create: [] },
    setupLock: serverLock(setupPurpose, "setup"),
    regionLock: serverLock(regionPurpose, "region"),
    get: `SELECT value, file, size FROM ${t} WHERE ${key} = ? AND ${live}`,
    getValue: `SELECT value FROM ${t} WHERE ${key} = ? AND ${live}`,
    getEntry: `SELECT value, expires_at, created_at, updated_at, size, tags, metadata, file FROM ${t}
      WHERE ${key} = ? AND ${live}`,
    has: `SELECT 1 FROM ${t} WHERE ${key} = ? AND ${live}`,
    expiresAt: `SELECT expires_at FROM ${t} WHERE ${key} = ? AND ${live}`,
    upsert: `INSERT INTO ${t}
        ${upsertColumns}
      VALUES ${upsertRow}
      ${onConflict}`,
    upsertMany: (count) =>
      dialect === "pg"
        ? `INSERT INTO ${t} ${upsertColumns}
      SELECT k, v, e, ?::bigint, ?::bigint, a, octet_length(v), tg, md, 1, NULL
        FROM unnest(?::bytea[], ?::bytea[], ?::bigint[], ?::bigint[], ?::text[], ?::text[]) AS r(k, v, e, a, tg, md)
      ${onConflict}`
        : `INSERT INTO ${t} ${upsertColumns}
      VALUES ${Array.from({ length: count }, () => upsertRow).join(", ")}
      ${onConflict}`,
    insertTag: `INSERT INTO ${tags} (tag, ${key}) VALUES (?, ?) ${
      mysql ? "ON DUPLICATE KEY UPDATE tag = tag" : "ON CONFLICT (tag, key) DO NOTHING"
    }`,
    insertTags: (count) =>
      `INSERT INTO ${tags} (tag, ${key}) VALUES ${Array.from({ length: count }, () => "(?, ?)").join(", ")} ${
        mysql ? "ON DUPLICATE KEY UPDATE tag = tag" : "ON CONFLICT (tag, key) DO NOTHING"
      }`,
    insertTagsMany: (count) =>
      dialect === "pg"
        ? `INSERT INTO ${tags} (tag, key) SELECT * FROM unnest(?::bytea[], ?::bytea[]) ${tagConflict}`
        : `INSERT INTO ${tags} (tag, ${key}) VALUES ${
          Array.from({ length: count }, () => "(?, ?)").join(", ")
        } ${tagConflict}`,
    untag: `DELETE FROM ${tags} WHERE ${key} = ?`,
    remove: `DELETE FROM ${t} WHERE ${key} = ?${returning}`,
    removeTag: `DELETE FROM ${t} WHERE ${key} IN (SELECT ${key} FROM ${tags} WHERE tag = ?)${returning}`,
    removeTagInRange: (bounded) =>
      `DELETE FROM ${t} WHERE ${key} IN (SELECT ${key} FROM ${tags} WHERE tag = ? AND ${key} >= ?${
        bounded ? ` AND ${key} < ?` : ""
      })${returning}`,
    touch: `UPDATE ${t} SET expires_at = ?, updated_at = ?, accessed_at = ${greatest}(accessed_at, ?),
      access_count = access_count + 1 WHERE ${key} = ? AND ${live}`,
    deleteExpiredBatch: dialect === "pg"
      // Rows another transaction has locked (a read-modify-write about to revive one) are left for the next sweep;
      // the locking read checks the expiry again on the row's latest version.
      ? `WITH victims AS (SELECT key FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?
          FOR UPDATE SKIP LOCKED)
        DELETE FROM ${t} USING victims WHERE ${t}.key = victims.key`
      : mysql
      ? `DELETE FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?`
      : `DELETE FROM ${t} WHERE key IN (SELECT key FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)`,
    deleteExpired: `DELETE FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ?`,
    // PostgreSQL's triggers remove the tag rows with their entries.
    clear: dialect === "pg" ? [`DELETE FROM ${t}`] : [`DELETE FROM ${tags}`, `DELETE FROM ${t}`],
    size: `SELECT COUNT(*) AS n FROM ${t} WHERE ${live}`,
    counters: sqlite ? `SELECT entries, bytes FROM ${counters} WHERE id = 0` : countedCounters,
    recount: sqlite
      ? recountRow
      : countedCounters,
    // SQLite starts the write transaction at the first writing statement even when it matches no row.
    lockForWrite: sqlite
      ? `UPDATE ${meta} SET value = value WHERE name = ? AND 0 = 1`
      : `SELECT 1 FROM ${t} WHERE ${key} = ? FOR UPDATE`,
    claim: `INSERT INTO ${t}
        (${key}, value, expires_at, created_at, updated_at, accessed_at, size, access_count)
      VALUES (?, ?, -1, 0, 0, 0, 0, 0) ${
      mysql ? `ON DUPLICATE KEY UPDATE ${key} = ${key}` : "ON CONFLICT (key) DO NOTHING"
    }`,
    lockEntry: `SELECT ${key}, value, expires_at, created_at, updated_at, size, tags, metadata, file FROM ${t}
      WHERE ${key} = ?${forUpdate}`,
    removeDead: `DELETE FROM ${t} WHERE ${key} = ? AND expires_at IS NOT NULL AND expires_at <= ?`,
    lockKeys: (count) => `SELECT ${key}, expires_at FROM ${t} WHERE ${key} IN (${list(count)})${forUpdate}`,
    lockRange: (bounded, limit) =>
      `SELECT ${key}, expires_at FROM ${t} WHERE ${inRange(bounded)} ORDER BY ${key} LIMIT ${
        literal(limit)
      }${forUpdate}`,
    lockTagged: (bounded, limit) =>
      `SELECT ${key}, expires_at FROM ${t} WHERE ${key} IN (SELECT ${key} FROM ${tags} WHERE tag = ?${
        bounded === undefined ? "" : ` AND ${inRange(bounded)}`
      }) ORDER BY ${key}${limit === undefined ? "" : ` LIMIT ${literal(limit)}`}${forUpdate}`,
    taggedOf: (count) => `SELECT ${key} FROM ${tags} WHERE tag = ? AND ${key} IN (${list(count)})${forUpdate}`,
    lockExpired: (limit) =>
      `SELECT ${key}, expires_at FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ?
        ORDER BY expires_at LIMIT ${literal(limit)}${forUpdate}`,
    deleteKeys: (count) => `DELETE FROM ${t} WHERE ${key} IN (${list(count)})`,
    removeKeys: (count) =>
      dialect === "pg"
        // Locked in key order first (as every batch locks its rows), then deleted.
        ? `WITH locked AS (SELECT key FROM ${t} WHERE key = ANY(?::bytea[]) ORDER BY key FOR UPDATE)
        DELETE FROM ${t} USING locked WHERE ${t}.key = locked.key RETURNING ${t}.expires_at`
        : `DELETE FROM ${t} WHERE ${key} IN (${list(count)})${returning}`,
    maxPacket: mysql ? "SELECT @@max_allowed_packet AS n" : undefined,
    untagKeys: (count) => `DELETE FROM ${tags} WHERE ${key} IN (${list(count)})`,
    scanKeys,
    scanEntries,
    countRange: (bounded) => `SELECT COUNT(*) AS n FROM ${t} WHERE ${inRange(bounded)} AND ${live}`,
    removeRange: (bounded) => `DELETE FROM ${t} WHERE ${inRange(bounded)}${returning}`,
    getMany: (count) =>
      `SELECT ${key}, value, file FROM ${t}
        WHERE ${key} IN (${list(count)}) AND ${live}`,
    leases: leaseStatements(table, dialect)
  }
  return dialect === "pg" ? numberedAll(out) : out
}

// The statements with PostgreSQL's numbered placeholders.
const numberedAll = (s: Statements): Statements => {
  const fn = <A extends Array<never>>(f: (...args: A) => string) => (...args: A) => numbered(f(...args))
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(s)) {
    out[name] = typeof value === "string"
      ? numbered(value)
      : typeof value === "function"
      ? fn(value as (...args: Array<never>) => string)
      : value
  }
  const l = s.leases
  out.leases = {
    schema: l.schema,
    claimFence: numbered(l.claimFence),
    lockFence: numbered(l.lockFence),
    deleteExpired: numbered(l.deleteExpired),
    holders: numbered(l.holders),
    insert: numbered(l.insert),
    bumpFence: numbered(l.bumpFence),
    readFence: numbered(l.readFence),
    extend: numbered(l.extend),
    held: numbered(l.held),
    release: numbered(l.release),
    lockForFence: l.lockForFence === undefined ? undefined : numbered(l.lockForFence),
    holding: numbered(l.holding)
  } satisfies LeaseStatements
  return out as unknown as Statements
}

// The columns of the entries table, as one text per dialect's types (`key`: the key column's name and type).
const entryColumns = (key: string, blob: string, text: string): string =>
  `${key} PRIMARY KEY NOT NULL,
        value ${blob} NOT NULL,
        expires_at BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        accessed_at BIGINT NOT NULL,
        access_count BIGINT NOT NULL DEFAULT 0,
        size BIGINT NOT NULL,
        tags ${text},
        metadata ${text},
        file TEXT`

// The tables, indexes and triggers of a store table. SQLite's are those of every version so far; the lease tables
// are created by SqliteStore from `sqlite/leases.ts` and by SqlStore from `leaseStatements`.
const schemaOf = (dialect: Dialect, table: string): ReadonlyArray<string> => {
  const q = specs[dialect].quote
  const t = q(table)
  const tags = q(`${table}_tags`)
  const meta = q(`${table}_meta`)
  if (dialect === "pg") {
    const untag = q(`${table}_untag`)
    return [
      `CREATE TABLE IF NOT EXISTS ${meta} (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${t} (
        ${entryColumns("key BYTEA", "BYTEA", "TEXT")}
      )`,
      `CREATE INDEX IF NOT EXISTS ${q(`${table}_expires`)} ON ${t} (expires_at) WHERE expires_at IS NOT NULL`,
      `CREATE TABLE IF NOT EXISTS ${tags} (tag BYTEA NOT NULL, key BYTEA NOT NULL, PRIMARY KEY (tag, key))`,
      `CREATE INDEX IF NOT EXISTS ${q(`${table}_tags_key`)} ON ${tags} (key)`,
      `CREATE OR REPLACE FUNCTION ${untag}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN DELETE FROM ${tags} WHERE key = OLD.key; RETURN NULL; END $$`,
      `DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '${table}_untag' AND tgrelid = '${t}'::regclass) THEN
          CREATE TRIGGER ${untag} AFTER UPDATE OF tags OR DELETE ON ${t}
            FOR EACH ROW WHEN (OLD.tags IS NOT NULL) EXECUTE FUNCTION ${untag}();
        END IF;
      END $$`
    ]
  }
  if (dialect === "mysql") {
    const options = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    return [
      `CREATE TABLE IF NOT EXISTS ${meta} (name VARCHAR(191) PRIMARY KEY NOT NULL, value TEXT NOT NULL) ${options}`,
      `CREATE TABLE IF NOT EXISTS ${t} (
        ${entryColumns("`key` VARBINARY(2048)", "LONGBLOB", "LONGTEXT")},
        INDEX ${q(`${table}_expires`)} (expires_at)
      ) ${options}`,
      `CREATE TABLE IF NOT EXISTS ${tags} (
        tag VARBINARY(1024) NOT NULL,
        \`key\` VARBINARY(2048) NOT NULL,
        PRIMARY KEY (tag, \`key\`),
        INDEX ${q(`${table}_tags_key`)} (\`key\`)
      ) ${options}`
    ]
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${meta} (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${t} (
        ${entryColumns("key TEXT", "BLOB", "TEXT")}
      )`,
    `CREATE INDEX IF NOT EXISTS "${table}_expires" ON ${t} (expires_at) WHERE expires_at IS NOT NULL`,
    `CREATE TABLE IF NOT EXISTS ${tags} (tag TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (tag, key))`,
    `CREATE INDEX IF NOT EXISTS "${table}_tags_key" ON ${tags} (key)`,
    `CREATE TRIGGER IF NOT EXISTS "${table}_untag_update" AFTER UPDATE OF tags ON ${t}
        WHEN old.tags IS NOT NULL BEGIN DELETE FROM ${tags} WHERE key = old.key; END`,
    `CREATE TRIGGER IF NOT EXISTS "${table}_untag_delete" AFTER DELETE ON ${t}
        WHEN old.tags IS NOT NULL BEGIN DELETE FROM ${tags} WHERE key = old.key; END`
  ]
}

/**
 * The lease table's statements (see `LeaseStatements`); on SQLite, the tables of `sqlite/leases.ts`.
 *
 * @internal
 */
const leaseStatements = (table: string, dialect: Dialect): LeaseStatements => {
  const mysql = dialect === "mysql"
  const q = specs[dialect].quote
  const locks = q(`${table}_locks`)
  const fences = q(`${table}_fences`)
  const forUpdate = dialect === "sqlite" ? "" : " FOR UPDATE"
  const schema = dialect === "pg"
    ? [
      `CREATE TABLE IF NOT EXISTS ${locks} (
        name BYTEA NOT NULL,
        owner TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (name, owner)
      )`,
      `CREATE TABLE IF NOT EXISTS ${fences} (name BYTEA PRIMARY KEY NOT NULL, fence BIGINT NOT NULL)`
    ]
    : mysql
    ? [
      `CREATE TABLE IF NOT EXISTS ${locks} (
        name VARBINARY(2048) NOT NULL,
        owner VARCHAR(64) CHARACTER SET ascii NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (name, owner)
      ) ENGINE=InnoDB`,
      `CREATE TABLE IF NOT EXISTS ${fences} (name VARBINARY(2048) PRIMARY KEY NOT NULL, fence BIGINT NOT NULL)
        ENGINE=InnoDB`
    ]
    : [
      `CREATE TABLE IF NOT EXISTS ${locks} (
      name TEXT NOT NULL,
      owner TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (name, owner)
    ) WITHOUT ROWID`,
      `CREATE TABLE IF NOT EXISTS ${fences} (name TEXT PRIMARY KEY NOT NULL, fence INTEGER NOT NULL) WITHOUT ROWID`
    ]
  return {
    schema,
    claimFence: `INSERT INTO ${fences} (name, fence) VALUES (?, 0) ${
      mysql ? "ON DUPLICATE KEY UPDATE fence = fence" : "ON CONFLICT (name) DO NOTHING"
    }`,
    lockFence: `SELECT fence FROM ${fences} WHERE name = ?${forUpdate}`,
    deleteExpired: `DELETE FROM ${locks} WHERE name = ? AND expires_at <= ?`,
    holders: `SELECT owner FROM ${locks} WHERE name = ?`,
    insert: mysql
      ? `INSERT INTO ${locks} (name, owner, expires_at) VALUES (?, ?, ?)
        ON DUPLICATE KEY UPDATE expires_at = VALUES(expires_at)`
      : `INSERT INTO ${locks} (name, owner, expires_at) VALUES (?, ?, ?)
        ON CONFLICT (name, owner) DO UPDATE SET expires_at = excluded.expires_at`,
    bumpFence: `UPDATE ${fences} SET fence = fence + 1 WHERE name = ?`,
    readFence: `SELECT fence FROM ${fences} WHERE name = ?`,
    extend: `UPDATE ${locks} SET expires_at = ${
      dialect === "sqlite" ? "max" : "GREATEST"
    }(expires_at, ?) WHERE name = ? AND owner = ? AND expires_at > ?`,
    held: `SELECT 1 FROM ${locks} WHERE name = ? AND owner = ? AND expires_at > ?`,
    release: `DELETE FROM ${locks} WHERE name = ? AND owner = ?`,
    lockForFence: dialect === "sqlite" ? `UPDATE ${fences} SET fence = fence WHERE 0 = 1` : undefined,
    holding: `SELECT 1 FROM ${locks} WHERE name = ? AND owner = ? AND expires_at > ?${
      dialect === "pg" ? " FOR KEY SHARE" : mysql ? " LOCK IN SHARE MODE" : ""
    }`
  }
}

/**
 * A key, tag or lock name as a statement parameter: its UTF-8 bytes where the dialect has binary key columns.
 *
 * @internal
 */
export const keyParam = (spec: Spec, key: string): string | Buffer => spec.binaryKeys ? Buffer.from(key, "utf8") : key

/**
 * A key column as a string (binary key columns come back as bytes).
 *
 * @internal
 */
export const keyOf = (column: unknown): string =>
  typeof column === "string"
    ? column
    : column instanceof Uint8Array
    ? Buffer.from(column.buffer, column.byteOffset, column.byteLength).toString("utf8")
    : String(column)

/**
 * Bytes as a statement parameter: a `Buffer` for the server drivers (which take a `Buffer` for bytes, but not every
 * `Uint8Array`); as they are for SQLite.
 *
 * @internal
 */
export const bytesParam = (spec: Spec, bytes: Uint8Array): Uint8Array =>
  spec.binaryKeys && !Buffer.isBuffer(bytes) ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes

/**
 * A BIGINT column as drivers return it: a number (better-sqlite3, `@effect/sql-sqlite-node`), a bigint (safe-integer
 * modes) or a string (pg, mysql). Times and sizes fit in a double.
 *
 * @internal
 */
export type BigIntColumn = number | bigint | string

/** @internal */
export const toNumber = (n: BigIntColumn): number => typeof n === "number" ? n : Number(n)

/**
 * A row of `getEntry`.
 *
 * @internal
 */
export interface EntryRow {
  readonly value: Uint8Array | ArrayBuffer
  readonly expires_at: BigIntColumn | null
  readonly created_at: BigIntColumn
  readonly updated_at: BigIntColumn
  readonly size: BigIntColumn
  readonly tags: string | null
  readonly metadata: string | null
  /** The file holding the value (then `value` is empty), or null when the value is inline. */
  readonly file: string | null
}

const damaged = (backend: string, method: string, key: string, column: string, what: string, cause?: unknown) =>
  new StoreCorrupted({
    method,
    key,
    backend,
    reason: `column ${column} of key ${JSON.stringify(key)} ${what}`,
    ...(cause === undefined ? {} : { cause })
  })

/**
 * The one reading of a `getEntry` row, for every SQL store. A row that cannot be an entry (JSON that does not parse,
 * tags that are not an array of strings, metadata that is not an object, a time or size that is not a number) is
 * `StoreCorrupted` naming the key and the column: the file was damaged or edited behind the store's back.
 *
 * @internal
 */
export const toEntry = (backend: string, method: string, key: string, row: EntryRow): Entry | StoreCorrupted => {
  const fail = (column: string, what: string, cause?: unknown) => damaged(backend, method, key, column, what, cause)
  const parse = (column: "tags" | "metadata", text: string): { readonly json: unknown } | StoreCorrupted => {
    try {
      return { json: JSON.parse(text) }
    } catch (cause) {
      return fail(column, `holds damaged JSON: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
    }
  }
  let tags: ReadonlyArray<string> = []
  if (row.tags !== null) {
    const parsed = parse("tags", row.tags)
    if (parsed instanceof StoreCorrupted) return parsed
    if (!Array.isArray(parsed.json) || !parsed.json.every((tag) => typeof tag === "string")) {
      return fail("tags", "does not hold a JSON array of strings")
    }
    tags = parsed.json
  }
  let metadata: Option.Option<Metadata> = Option.none()
  if (row.metadata !== null) {
    const parsed = parse("metadata", row.metadata)
    if (parsed instanceof StoreCorrupted) return parsed
    if (typeof parsed.json !== "object" || parsed.json === null || Array.isArray(parsed.json)) {
      return fail("metadata", "does not hold a JSON object")
    }
    metadata = Option.some(parsed.json as Metadata)
  }
  for (const column of ["expires_at", "created_at", "updated_at", "size"] as const) {
    const n = row[column]
    if (n !== null && !Number.isFinite(toNumber(n))) return fail(column, "does not hold a number")
  }
  return {
    key,
    value: row.value instanceof Uint8Array ? row.value : new Uint8Array(row.value),
    expiresAt: row.expires_at === null ? Option.none() : Option.some(toNumber(row.expires_at)),
    tags,
    metadata,
    createdAt: toNumber(row.created_at),
    updatedAt: toNumber(row.updated_at),
    size: toNumber(row.size)
  }
}

let lastStamp = 0

/**
 * The `accessed_at` of a use at `now`: epoch milliseconds × 1000, made strictly increasing within the process, so
 * uses in one millisecond (or under a `TestClock` that stands still) keep their order. Stamps of different processes
 * compare by their milliseconds; ties between them are broken arbitrarily.
 *
 * @internal
 */
export const useStamp = (now: number): number => {
  const stamp = Math.floor(now) * 1000
  lastStamp = stamp > lastStamp ? stamp : lastStamp + 1
  return lastStamp
}

/**
 * The parameters of `upsert`: key, value, expires_at, now (created), now (updated), `useStamp(now)` (accessed), size,
 * tags JSON, metadata JSON. The write counts as a use: the upsert also adds one to `access_count` (one for a new
 * entry, or an overwrite of an expired one). With a `file` (the value written to that file), the row holds an empty
 * value and the file's name.
 *
 * @internal
 */
export const upsertParams = (
  key: string,
  value: Uint8Array,
  write: Write,
  now: number,
  file: string | null = null
): [string, Uint8Array, number | null, number, number, number, number, string | null, string | null, string | null] => [
  key,
  file === null ? value : emptyValue,
  write.expiresAt,
  now,
  now,
  useStamp(now),
  value.byteLength,
  write.tags.length === 0 ? null : JSON.stringify(write.tags),
  write.metadata === null ? null : JSON.stringify(write.metadata),
  file
]

const emptyValue = new Uint8Array(0)

/**
 * One entry of a batch write (`upsertMany`): its `upsert` parameters as the driver takes them, its tags, and what it
 * costs a statement in bytes (its columns and tag rows, doubled on `"arrays"` engines, whose arrays travel as text
 * with bytes in hex), which `Spec.batchBytes` bounds.
 *
 * @internal
 */
export interface BatchRow {
  readonly key: string
  readonly tags: ReadonlyArray<string>
  readonly params: ReadonlyArray<unknown>
  readonly cost: number
}

/** @internal */
export const batchRow = (spec: Spec, key: string, value: Uint8Array, write: Write, now: number): BatchRow => {
  const [, , ...rest] = upsertParams(key, value, write, now)
  const keyBytes = Buffer.byteLength(key, "utf8")
  let cost = 64 + keyBytes + value.byteLength + (rest[5] === null ? 0 : Buffer.byteLength(rest[5], "utf8")) +
    (rest[6] === null ? 0 : Buffer.byteLength(rest[6], "utf8"))
  for (const tag of write.tags) cost += 16 + keyBytes + Buffer.byteLength(tag, "utf8")
  return {
    key,
    tags: write.tags,
    params: [keyParam(spec, key), bytesParam(spec, value), ...rest],
    cost: spec.batches === "arrays" ? 2 * cost : cost
  }
}

/**
 * The parameters of `upsertMany` for rows of distinct keys: on `"arrays"` engines now, now, then the arrays of keys,
 * values, expiries, use stamps, tags and metadata; otherwise every row's `upsert` parameters in turn.
 *
 * @internal
 */
export const upsertManyParams = (spec: Spec, rows: ReadonlyArray<BatchRow>): Array<unknown> => {
  if (spec.batches !== "arrays") return rows.flatMap((row) => row.params)
  const column = (i: number) => rows.map((row) => row.params[i])
  const now = rows[0]?.params[3] ?? 0
  return [now, now, column(0), column(1), column(2), column(5), column(7), column(8)]
}

/**
 * The parameters of `insertTagsMany` for (tag, key) pairs: two arrays on `"arrays"` engines, else tag, key, ...
 *
 * @internal
 */
export const tagsManyParams = (spec: Spec, pairs: ReadonlyArray<readonly [string, string]>): Array<unknown> =>
  spec.batches === "arrays"
    ? [pairs.map(([tag]) => keyParam(spec, tag)), pairs.map(([, key]) => keyParam(spec, key))]
    : pairs.flatMap(([tag, key]) => [keyParam(spec, tag), keyParam(spec, key)])

/**
 * Whether a row with this `expires_at` (as `remove`/`removeTag` return it) was live at `now`; `undefined` (no row
 * was removed) is not.
 *
 * @internal
 */
export const isLive = (expiresAt: BigIntColumn | null | undefined, now: number): boolean =>
  expiresAt !== undefined && (expiresAt === null || toNumber(expiresAt) > now)

/**
 * The single edge where SQL driver failures become typed errors: a deadline of the store's own pool (`sql/deadline.ts`)
 * is `Timeout`, SQLite's busy codes are `Busy`, "not a database" and corruption codes are `StoreCorrupted`, a deadlock
 * or serialization failure of PostgreSQL or MySQL (see `isConflict`) is `TransactionConflict`, anything else is
 * `BackendError`. The code is looked for on the error and on
 * up to two levels of `cause` (`@effect/sql` wraps driver errors in `SqlError`).
 *
 * @internal
 */
export const toError = (
  backend: string,
  method: string,
  key: string | undefined,
  cause: unknown
): KeyValueStoreError => {
  if (isKeyValueStoreError(cause)) return cause
  const deadline = deadlines.find(cause)
  if (deadline !== undefined) return new Timeout({ method, key, millis: deadline.millis })
  let current: unknown = cause
  for (let depth = 0; depth < 3 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string") {
      if (code.startsWith("SQLITE_BUSY")) return new Busy({ method, key, backend, cause })
      if (code === "40P01" || code === "40001" || code === "ER_LOCK_DEADLOCK") {
        return new TransactionConflict({ method, key, cause })
      }
      if (code === "SQLITE_NOTADB" || code.startsWith("SQLITE_CORRUPT")) {
        const reason = cause instanceof Error ? cause.message : String(cause)
        return new StoreCorrupted({ method, key, backend, reason, cause })
      }
      break
    }
    current = (current as { readonly cause?: unknown }).cause
  }
  return new BackendError({ method, key, backend, cause })
}

/**
 * The texts among `statements` that do not change from call to call (those that take no count, and on `"arrays"`
 * engines the batch statements, which take any number of rows): what a store over a pool of its own prepares on every
 * connection.
 *
 * @internal
 */
export const fixedTexts = (statements: Statements, spec: Spec): Array<string> => {
  const texts = [statements, statements.leases].flatMap((group) =>
    Object.values(group).filter((value): value is string => typeof value === "string")
  )
  if (spec.batches === "arrays") {
    texts.push(statements.upsertMany(1), statements.removeKeys(1), statements.insertTagsMany(1))
  }
  return texts
}

/**
 * The number of rows a write statement changed, read from the driver's raw result (`Statement.raw` in
 * `@effect/sql`), which differs per dialect.
 *
 * @internal
 */
export const affectedRows = (dialect: Dialect, raw: unknown): number => {
  if (typeof raw !== "object" || raw === null) return 0
  const field = dialect === "sqlite" ? "changes" : dialect === "pg" ? "rowCount" : "affectedRows"
  const n = (raw as Record<string, unknown>)[field]
  return typeof n === "number" ? n : typeof n === "bigint" ? Number(n) : 0
}

// The driver's own error under a typed error and an `SqlError`: the first object with a `code` or an `errno` on the
// chain of causes.
const driverError = (
  cause: unknown
): { readonly code?: unknown; readonly errno?: unknown; readonly fatal?: unknown } => {
  let current: unknown = cause
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const error = current as { readonly code?: unknown; readonly errno?: unknown; readonly cause?: unknown }
    if (error.code !== undefined || error.errno !== undefined) return error
    current = error.cause
  }
  return {}
}

/**
 * Whether a failure ended the engine's whole transaction, so that the statements after it would run outside any
 * transaction: a MySQL deadlock (InnoDB rolls the transaction back) or a lost connection, a deadline of the store's
 * own pool (the connection was discarded, or the server stopped a statement at its time limit), and SQLite's errors
 * after which it rolls back by itself. (A failed PostgreSQL statement leaves its transaction open but aborted: the
 * statements after it fail, and `COMMIT` answers `ROLLBACK`.)
 *
 * @internal
 */
export const endsTransaction = (dialect: Dialect, cause: unknown): boolean => {
  if (deadlines.find(cause) !== undefined) return true
  const { code, errno, fatal } = driverError(cause)
  if (dialect === "mysql") return errno === 1213 || code === "ER_LOCK_DEADLOCK" || fatal === true
  if (dialect === "sqlite") {
    return typeof code === "string" &&
      (code === "SQLITE_FULL" || code.startsWith("SQLITE_IOERR") || code === "SQLITE_NOMEM" ||
        code.startsWith("SQLITE_CORRUPT"))
  }
  return false
}
