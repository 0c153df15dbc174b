/**
 * The one SQL schema and statement set shared by SqliteStore (raw better-sqlite3) and SqlStore (any `@effect/sql`
 * client). Statements are written once with `?` placeholders; `dialect` is the single place where engines differ.
 * A file written by one store opens in the other because both create and read exactly these tables.
 *
 * Tables, for a store table named `t`:
 * - `t`: one row per entry (key, value, absolute expiry in epoch ms, created/updated/accessed times, access count,
 *   size, tags as a JSON array, metadata as a JSON object, file name of a large value). `accessed_at` is the last use
 *   as a `useStamp` and `access_count` the number of uses (a write or a read returning the entry; a new entry has 1):
 *   eviction orders victims by them.
 * - `t_tags`: (tag, key) pairs, kept in step with `t.tags` by triggers, so `removeTag` is an index lookup.
 * - `t_meta`: (name, value) settings, holding the format version that a mismatched open refuses.
 * - `t_counters`: one row (id 0) holding the number of rows of `t` and the sum of their `size`, kept by triggers on
 *   insert, update of `size` and delete, so size limits never count the table; `recount` recomputes it.
 *
 * @internal
 */
import * as Option from "effect/Option"
import type { Entry, Metadata, Write } from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import { BackendError, Busy, InvalidArgument, isKeyValueStoreError, StoreCorrupted } from "../KeyValueStoreError.js"
import * as Pattern from "../Pattern.js"

/** @internal */
/**
 * Version of the tables and of what their columns mean. 2: the `<table>_counters` row and its triggers, and
 * `accessed_at` as a use stamp (see `useStamp`) with `access_count` counting uses.
 *
 * @internal
 */
export const FORMAT_VERSION = 2

/** @internal */
export type Dialect = "sqlite" | "pg" | "mysql"

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
  return isValidTableName(name) ? name : new InvalidArgument({
    method: "open",
    argument: "table",
    reason: `expected a plain identifier of at most 48 characters, got ${JSON.stringify(name)}`
  })
}

/**
 * The check at open, after `initFormat`: `format` is the value `readFormat` returned (`undefined` when no row did).
 * `location` names the database for the reason, when the store knows it (a file name).
 *
 * @internal
 */
export const checkFormat = (
  backend: string,
  table: string,
  location: string | undefined,
  format: unknown
): StoreCorrupted | undefined => {
  if (format === String(FORMAT_VERSION)) return undefined
  const where = location === undefined ? `table ${table}` : `table ${table} in ${location}`
  const holds = format === undefined || format === null ? "no store format" : `store format ${String(format)}`
  return new StoreCorrupted({
    method: "open",
    backend,
    reason: `${where} holds ${holds}; this version reads format ${FORMAT_VERSION}`
  })
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
  readonly insertTag: string
  readonly remove: string
  readonly removeTag: string
  /** `removeTag` for the keys of a range only: parameters tag, lower, [upper] (see `rangeOf`). */
  readonly removeTagInRange: (bounded: boolean) => string
  readonly touch: string
  readonly deleteExpiredBatch: string
  readonly deleteExpired: string
  readonly clear: ReadonlyArray<string>
  readonly size: string
  /** The `entries, bytes` row of the counters table (no row when it was deleted behind the store's back). */
  readonly counters: string
  /** Recomputes the counters row from the entries table (creating it when absent), for a check that finds drift. */
  readonly recount: string
  /**
   * Run first in a read-modify-write transaction: takes the write lock before anything is read, so that a
   * transaction opened with a plain `BEGIN` cannot lose its snapshot to another writer (SQLite's
   * `SQLITE_BUSY_SNAPSHOT`) and waits through the busy timeout instead. Parameter: key.
   */
  readonly lockForWrite: string
  /** `SELECT key, value, file` of `count` keys at once; parameters: the keys, then now. */
  readonly getMany: (count: number) => string
  /**
   * Live keys of a key range in key order: parameters lower, [upper,] now, limit (`bounded` says whether the range
   * has an upper bound; see `rangeOf`).
   */
  readonly scanKeys: (bounded: boolean) => string
  /** As `scanKeys`, selecting `key, value, file`. */
  readonly scanEntries: (bounded: boolean) => string
  /** `COUNT(*)` of the live keys of a range: parameters lower, [upper,] now. */
  readonly countRange: (bounded: boolean) => string
  /** Deletes every row of a range, `RETURNING expires_at`: parameters lower, [upper]. */
  readonly removeRange: (bounded: boolean) => string
}

/**
 * The key range of a scan in the engine: keys `>= lower` and, when `upper` is given, `< upper`. Keys compare as
 * UTF-8 bytes (SQLite's BINARY collation), so the range of a prefix ends at `Pattern.upperBound(prefix)`, and the
 * smallest key after a cursor `k` is `k + "\u0000"`.
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
export const statements = (table: string, dialect: Dialect = "sqlite"): Statements => {
  if (!isValidTableName(table)) throw new Error(`invalid table name: ${table}`)
  const t = `"${table}"`
  const tags = `"${table}_tags"`
  const meta = `"${table}_meta"`
  const counters = `"${table}_counters"`
  const live = "(expires_at IS NULL OR expires_at > ?)"
  const blob = dialect === "pg" ? "BYTEA" : "BLOB"
  const text = dialect === "mysql" ? "VARCHAR(1024)" : "TEXT"
  return {
    schema: [
      `CREATE TABLE IF NOT EXISTS ${meta} (name ${text} PRIMARY KEY NOT NULL, value TEXT NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${t} (
        key ${text} PRIMARY KEY NOT NULL,
        value ${blob} NOT NULL,
        expires_at BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        accessed_at BIGINT NOT NULL,
        access_count BIGINT NOT NULL DEFAULT 0,
        size BIGINT NOT NULL,
        tags TEXT,
        metadata TEXT,
        file TEXT
      )`,
      `CREATE INDEX IF NOT EXISTS "${table}_expires" ON ${t} (expires_at) WHERE expires_at IS NOT NULL`,
      `CREATE TABLE IF NOT EXISTS ${tags} (tag ${text} NOT NULL, key ${text} NOT NULL, PRIMARY KEY (tag, key))`,
      `CREATE INDEX IF NOT EXISTS "${table}_tags_key" ON ${tags} (key)`,
      `CREATE TRIGGER IF NOT EXISTS "${table}_untag_update" AFTER UPDATE OF tags ON ${t}
        WHEN old.tags IS NOT NULL BEGIN DELETE FROM ${tags} WHERE key = old.key; END`,
      `CREATE TRIGGER IF NOT EXISTS "${table}_untag_delete" AFTER DELETE ON ${t}
        WHEN old.tags IS NOT NULL BEGIN DELETE FROM ${tags} WHERE key = old.key; END`,
      `CREATE TABLE IF NOT EXISTS ${counters} (
        id INTEGER PRIMARY KEY NOT NULL CHECK (id = 0),
        entries BIGINT NOT NULL,
        bytes BIGINT NOT NULL
      )`,
      `INSERT INTO ${counters} (id, entries, bytes) SELECT 0, COUNT(*), COALESCE(SUM(size), 0) FROM ${t}
        WHERE NOT EXISTS (SELECT 1 FROM ${counters}) ON CONFLICT (id) DO NOTHING`,
      `CREATE TRIGGER IF NOT EXISTS "${table}_count_insert" AFTER INSERT ON ${t}
        BEGIN UPDATE ${counters} SET entries = entries + 1, bytes = bytes + new.size WHERE id = 0; END`,
      `CREATE TRIGGER IF NOT EXISTS "${table}_count_update" AFTER UPDATE OF size ON ${t}
        WHEN new.size IS NOT old.size
        BEGIN UPDATE ${counters} SET bytes = bytes + new.size - old.size WHERE id = 0; END`,
      `CREATE TRIGGER IF NOT EXISTS "${table}_count_delete" AFTER DELETE ON ${t}
        BEGIN UPDATE ${counters} SET entries = entries - 1, bytes = bytes - old.size WHERE id = 0; END`
    ],
    begin: dialect === "sqlite" ? "BEGIN IMMEDIATE" : dialect === "mysql" ? "START TRANSACTION" : "BEGIN",
    commit: "COMMIT",
    rollback: "ROLLBACK",
    initFormat: `INSERT INTO ${meta} (name, value) VALUES ('format', ?) ON CONFLICT (name) DO NOTHING`,
    readFormat: `SELECT value FROM ${meta} WHERE name = 'format'`,
    get: `SELECT value, file, size FROM ${t} WHERE key = ? AND ${live}`,
    getValue: `SELECT value FROM ${t} WHERE key = ? AND ${live}`,
    getEntry: `SELECT value, expires_at, created_at, updated_at, size, tags, metadata, file FROM ${t}
      WHERE key = ? AND ${live}`,
    has: `SELECT 1 FROM ${t} WHERE key = ? AND ${live}`,
    expiresAt: `SELECT expires_at FROM ${t} WHERE key = ? AND ${live}`,
    upsert: `INSERT INTO ${t}
        (key, value, expires_at, created_at, updated_at, accessed_at, size, tags, metadata, access_count, file)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
      ON CONFLICT (key) DO UPDATE SET
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
        file = excluded.file`,
    insertTag: `INSERT INTO ${tags} (tag, key) VALUES (?, ?) ON CONFLICT (tag, key) DO NOTHING`,
    remove: `DELETE FROM ${t} WHERE key = ? RETURNING expires_at`,
    removeTag: `DELETE FROM ${t} WHERE key IN (SELECT key FROM ${tags} WHERE tag = ?) RETURNING expires_at`,
    removeTagInRange: (bounded) =>
      `DELETE FROM ${t} WHERE key IN (SELECT key FROM ${tags} WHERE tag = ? AND key >= ?${
        bounded ? " AND key < ?" : ""
      }) RETURNING expires_at`,
    touch: `UPDATE ${t} SET expires_at = ?, updated_at = ?, accessed_at = max(accessed_at, ?),
      access_count = access_count + 1 WHERE key = ? AND ${live}`,
    deleteExpiredBatch:
      `DELETE FROM ${t} WHERE key IN (SELECT key FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)`,
    deleteExpired: `DELETE FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ?`,
    clear: [`DELETE FROM ${tags}`, `DELETE FROM ${t}`],
    size: `SELECT COUNT(*) AS n FROM ${t} WHERE ${live}`,
    counters: `SELECT entries, bytes FROM ${counters} WHERE id = 0`,
    recount: `INSERT INTO ${counters} (id, entries, bytes)
      SELECT 0, COUNT(*), COALESCE(SUM(size), 0) FROM ${t} WHERE true
      ON CONFLICT (id) DO UPDATE SET entries = excluded.entries, bytes = excluded.bytes`,
    // SQLite starts the write transaction at the first writing statement even when it matches no row.
    lockForWrite: `UPDATE ${meta} SET value = value WHERE name = ? AND 0 = 1`,
    scanKeys: (bounded) =>
      `SELECT key FROM ${t} WHERE key >= ?${bounded ? " AND key < ?" : ""} AND ${live} ORDER BY key LIMIT ?`,
    scanEntries: (bounded) =>
      `SELECT key, value, file, size FROM ${t}
        WHERE key >= ?${bounded ? " AND key < ?" : ""} AND ${live} ORDER BY key LIMIT ?`,
    countRange: (bounded) =>
      `SELECT COUNT(*) AS n FROM ${t} WHERE key >= ?${bounded ? " AND key < ?" : ""} AND ${live}`,
    removeRange: (bounded) => `DELETE FROM ${t} WHERE key >= ?${bounded ? " AND key < ?" : ""} RETURNING expires_at`,
    getMany: (count) =>
      `SELECT key, value, file FROM ${t}
        WHERE key IN (${Array.from({ length: count }, () => "?").join(", ")}) AND ${live}`
  }
}

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
 * Whether a row with this `expires_at` (as `remove`/`removeTag` return it) was live at `now`; `undefined` (no row
 * was removed) is not.
 *
 * @internal
 */
export const isLive = (expiresAt: BigIntColumn | null | undefined, now: number): boolean =>
  expiresAt !== undefined && (expiresAt === null || toNumber(expiresAt) > now)

/**
 * The single edge where SQL driver failures become typed errors: SQLite's busy codes are `Busy`, "not a database" and
 * corruption codes are `StoreCorrupted`, anything else is `BackendError`. The code is looked for on the error and on
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
  let current: unknown = cause
  for (let depth = 0; depth < 3 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string") {
      if (code.startsWith("SQLITE_BUSY")) return new Busy({ method, key, backend, cause })
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
 * The number of rows a write statement changed, read from the driver's raw result (`Statement.raw` in
 * `@effect/sql`), which differs per dialect.
 *
 * @internal
 */
export const affectedRows = (dialect: Dialect, raw: unknown): number => {
  if (typeof raw !== "object" || raw === null) return 0
  const field = dialect === "sqlite" ? "changes" : dialect === "pg" ? "count" : "affectedRows"
  const n = (raw as Record<string, unknown>)[field]
  return typeof n === "number" ? n : typeof n === "bigint" ? Number(n) : 0
}
