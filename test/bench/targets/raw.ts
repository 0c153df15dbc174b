/**
 * The floor: raw better-sqlite3 on the same table, pragmas and statement texts SqliteStore uses (from
 * `src/internal/sql/schema.ts`), called synchronously with no wrapper at all. A single `set` is one autocommit upsert,
 * `setMany` is one `BEGIN IMMEDIATE` transaction of upserts (as SqliteStore runs it), `get` plucks the value column.
 * Statement parameters come from SqliteStore's own `upsertParams`, for an entry without ttl, tags or metadata.
 * `getMany` (for the batch section) runs the prepared `get` for each key inside one deferred transaction, as
 * SqliteStore does. A second floor, `plainEngine`, runs the plain table and statement texts of the index
 * configuration (`SqliteStore.makeIndex`, copied from `src/internal/sqlite/indexConfig.ts`) for the index section.
 * A third, `kvSubject`/`kvEngine` ("sqlite kv"), is the plainest key/value table a user would write by hand: `key TEXT
 * PRIMARY KEY, value BLOB` `WITHOUT ROWID`, the same pragmas, an upsert and a point select: what SqliteStore's data
 * model (expiry, tags, metadata, eviction bookkeeping, ordered keys, large values) costs against doing without it.
 */
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import { statements, upsertParams } from "../../../src/internal/sql/schema.js"
import type { Write } from "../../../src/KeyValueStore.js"
import * as Engine from "../drivers/engine.js"
import * as Driver from "../drivers/sync.js"
import type { Fixture } from "../harness.js"
import type { Subject } from "../session.js"

/** The table SqliteStore writes by default. */
export const TABLE = "effect_kv"

/** The busy timeout SqliteStore gives better-sqlite3 (its `timeout` option sets `busy_timeout`). */
export const BUSY_TIMEOUT_MS = 5000

/** The pragmas SqliteStore sets when it opens a file, in its order. */
export const PRAGMAS: ReadonlyArray<string> = [
  "journal_mode = WAL",
  "synchronous = NORMAL",
  `mmap_size = ${256 * 1024 * 1024}`
]

/** Opens `filename` the way SqliteStore does: busy timeout, pragmas, then the shared schema. */
export const open = (filename: string): Database.Database => {
  const db = new Database(filename, { timeout: BUSY_TIMEOUT_MS })
  for (const pragma of PRAGMAS) db.pragma(pragma)
  for (const sql of statements(TABLE).schema) db.exec(sql)
  return db
}

/** The write options of every entry: no ttl, tags or metadata. */
const PLAIN: Write = { expiresAt: null, tags: [], metadata: null }

/** The synchronous target over an open database. */
export const target = (db: Database.Database): Driver.SyncTarget => {
  const sql = statements(TABLE)
  const get = db.prepare(sql.get).pluck()
  const upsert = db.prepare(sql.upsert)
  const remove = db.prepare(sql.remove)
  const put = (key: string, value: Buffer, now: number) => upsert.run(...upsertParams(key, value, PLAIN, now))
  const setMany = db.transaction((entries: ReadonlyArray<readonly [string, Buffer]>) => {
    const now = Date.now()
    for (const [key, value] of entries) put(key, value, now)
  })
  const removeMany = db.transaction((keys: ReadonlyArray<string>) => {
    for (const key of keys) remove.get(key)
  })
  return {
    get: (key) => get.get(key, Date.now()),
    set: (key, value) => put(key, value, Date.now()),
    setMany: (entries) => setMany.immediate(entries),
    removeMany: (keys) => removeMany.immediate(keys)
  }
}

/** `getMany` as SqliteStore runs it: the prepared `get` for each key inside one deferred transaction. */
export const getMany = (db: Database.Database): (keys: ReadonlyArray<string>) => Array<Buffer | undefined> => {
  const get = db.prepare<[string, number], Buffer>(statements(TABLE).get).pluck()
  const read = db.transaction((keys: ReadonlyArray<string>, now: number) => keys.map((key) => get.get(key, now)))
  return (keys) => read.deferred(keys, Date.now())
}

/** Opens `filename` for the scope as the engine of the scaling, values and batch sections. */
export const engine = (filename: string): Effect.Effect<Engine.Engine, unknown, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(Effect.try(() => open(filename)), (db) => Effect.sync(() => db.close())),
    (db) => Engine.sync("better-sqlite3", { ...target(db), getMany: getMany(db) })
  )

/** Opens a fresh file in `dir` for the scope and prefills it. */
export const subject = (dir: string, fx: Fixture): Effect.Effect<Subject, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.sync(() => open(path.join(dir, "raw.db"))),
      (db) => Effect.sync(() => db.close())
    )
    const t = target(db)
    Driver.prefill(t, fx)
    const measure = yield* Driver.ready(t, fx)
    return { name: "better-sqlite3", group: "sqlite", workloads: ["get", "set", "setMany"], measure }
  })

/** The index configuration's default table. */
export const PLAIN_TABLE = "effect_kv_index"

/** The statement texts of the index configuration (`src/internal/sqlite/indexConfig.ts`), on `PLAIN_TABLE`. */
const PLAIN_SQL = {
  schema: `CREATE TABLE IF NOT EXISTS "${PLAIN_TABLE}" (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  )`,
  get: `SELECT value FROM "${PLAIN_TABLE}" WHERE key = ?`,
  upsert: `INSERT INTO "${PLAIN_TABLE}" (key, value, created_at, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
  remove: `DELETE FROM "${PLAIN_TABLE}" WHERE key = ?`
}

/** Opens `filename` with SqliteStore's busy timeout and pragmas, and the index configuration's plain table. */
export const openPlain = (filename: string): Database.Database => {
  const db = new Database(filename, { timeout: BUSY_TIMEOUT_MS })
  for (const pragma of PRAGMAS) db.pragma(pragma)
  db.exec(PLAIN_SQL.schema)
  return db
}

/** The synchronous target over the plain table: the index configuration's statements with nothing around them. */
export const plainTarget = (db: Database.Database): Engine.Api<unknown> => {
  const get = db.prepare<[string], Buffer>(PLAIN_SQL.get).pluck()
  const upsert = db.prepare<[string, Buffer, number, number]>(PLAIN_SQL.upsert)
  const remove = db.prepare<[string]>(PLAIN_SQL.remove)
  const setMany = db.transaction((entries: ReadonlyArray<readonly [string, Buffer]>) => {
    const now = Date.now()
    for (const [key, value] of entries) upsert.run(key, value, now, now)
  })
  const getMany = db.transaction((keys: ReadonlyArray<string>) => keys.map((key) => get.get(key)))
  const removeMany = db.transaction((keys: ReadonlyArray<string>) => {
    for (const key of keys) remove.run(key)
  })
  return {
    get: (key) => get.get(key),
    set: (key, value) => {
      const now = Date.now()
      return upsert.run(key, value, now, now)
    },
    setMany: (entries) => setMany.immediate(entries),
    getMany: (keys) => getMany.deferred(keys),
    removeMany: (keys) => removeMany.immediate(keys)
  }
}

/** Opens the plain table on `filename` for the scope as the floor of the index section. */
export const plainEngine = (filename: string): Effect.Effect<Engine.Engine, unknown, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(Effect.try(() => openPlain(filename)), (db) => Effect.sync(() => db.close())),
    (db) => Engine.sync("better-sqlite3 plain", plainTarget(db))
  )

/** The plain key/value table's name. */
export const KV_TABLE = "kv"

/** The target name of the plain key/value table. */
export const KV_NAME = "sqlite kv"

const KV_SQL = {
  schema: `CREATE TABLE IF NOT EXISTS "${KV_TABLE}" (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID`,
  get: `SELECT value FROM "${KV_TABLE}" WHERE key = ?`,
  upsert: `INSERT INTO "${KV_TABLE}" (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
  remove: `DELETE FROM "${KV_TABLE}" WHERE key = ?`
}

/** Opens `filename` with SqliteStore's busy timeout and pragmas, and the plain `WITHOUT ROWID` key/value table. */
export const openKv = (filename: string): Database.Database => {
  const db = new Database(filename, { timeout: BUSY_TIMEOUT_MS })
  for (const pragma of PRAGMAS) db.pragma(pragma)
  db.exec(KV_SQL.schema)
  return db
}

/** The synchronous target over the plain key/value table: prepared statements, autocommit, nothing around them. */
export const kvTarget = (db: Database.Database): Engine.Api<unknown> => {
  const get = db.prepare<[string], Buffer>(KV_SQL.get).pluck()
  const upsert = db.prepare<[string, Buffer]>(KV_SQL.upsert)
  const remove = db.prepare<[string]>(KV_SQL.remove)
  const setMany = db.transaction((entries: ReadonlyArray<readonly [string, Buffer]>) => {
    for (const [key, value] of entries) upsert.run(key, value)
  })
  const getMany = db.transaction((keys: ReadonlyArray<string>) => keys.map((key) => get.get(key)))
  const removeMany = db.transaction((keys: ReadonlyArray<string>) => {
    for (const key of keys) remove.run(key)
  })
  return {
    get: (key) => get.get(key),
    set: (key, value) => upsert.run(key, value),
    setMany: (entries) => setMany.immediate(entries),
    getMany: (keys) => getMany.deferred(keys),
    removeMany: (keys) => removeMany.immediate(keys)
  }
}

/** Opens the plain key/value table on `filename` for the scope as an engine (scaling section). */
export const kvEngine = (filename: string): Effect.Effect<Engine.Engine, unknown, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(Effect.try(() => openKv(filename)), (db) => Effect.sync(() => db.close())),
    (db) => Engine.sync(KV_NAME, kvTarget(db))
  )

/** Opens the plain key/value table on a fresh file in `dir` for the scope and prefills it (core section). */
export const kvSubject = (dir: string, fx: Fixture): Effect.Effect<Subject, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.sync(() => openKv(path.join(dir, "kv.db"))),
      (db) => Effect.sync(() => db.close())
    )
    const api = kvTarget(db)
    const t: Driver.SyncTarget = {
      get: api.get,
      set: (key, value) => {
        api.set(key, value)
      },
      setMany: (entries) => {
        api.setMany(entries)
      },
      removeMany: (keys) => {
        api.removeMany(keys)
      }
    }
    Driver.prefill(t, fx)
    const measure = yield* Driver.ready(t, fx)
    return { name: KV_NAME, group: "sqlite", workloads: ["get", "set", "setMany"], measure }
  })
