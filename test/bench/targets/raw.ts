/**
 * The floor: raw better-sqlite3 on the same table, pragmas and statement texts SqliteStore uses (from
 * `src/internal/sqlSchema.ts`), called synchronously with no wrapper at all. A single `set` is one autocommit upsert,
 * `setMany` is one `BEGIN IMMEDIATE` transaction of upserts (as SqliteStore runs it), `get` plucks the value column.
 * Statement parameters are SqliteStore's for an entry without ttl, tags or metadata.
 */
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import { statements } from "../../../src/internal/sqlSchema.js"
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

/** The synchronous target over an open database. */
export const target = (db: Database.Database): Driver.SyncTarget => {
  const sql = statements(TABLE)
  const get = db.prepare(sql.get).pluck()
  const upsert = db.prepare(sql.upsert)
  const remove = db.prepare(sql.remove)
  const put = (key: string, value: Buffer, now: number) =>
    upsert.run(key, value, null, now, now, now, value.byteLength, null, null)
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
