/**
 * Keyv 5 with `@keyv/sqlite` 4 on a file, measured as shipped and with WAL switched on. The adapter runs on the
 * asynchronous `sqlite3` driver and opens the file with SQLite's defaults (rollback journal `delete`,
 * `synchronous=FULL`), so every autocommit write waits for fsyncs; Keyv has no `setMany` of its own for this adapter
 * and writes a batch as concurrent single `set`s. Values are JSON text. The prefill writes rows in Keyv's own format
 * (its serializer and key prefix) straight through better-sqlite3, since 100K fsynced inserts would take minutes.
 */
import KeyvSqlite from "@keyv/sqlite"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import Keyv from "keyv"
import * as path from "node:path"
import * as Driver from "../drivers/async.js"
import type { Fixture } from "../harness.js"
import { chunks } from "../harness.js"
import type { Subject } from "../session.js"

/** How the file is opened: as shipped, or with `journal_mode=WAL` + `synchronous=NORMAL` (our pragmas). */
export type Mode = "shipped" | "wal"

const TABLE = "keyv"

const prefill = async (filename: string, keyv: Keyv, fx: Fixture): Promise<void> => {
  const value = String(await keyv.serializeData({ value: fx.text, expires: undefined }))
  const db = new Database(filename)
  try {
    const insert = db.prepare(`INSERT INTO ${TABLE} (key, value) VALUES (?, ?)`)
    const batch = db.transaction((keys: ReadonlyArray<string>) => {
      for (const key of keys) insert.run(keyv._getKeyPrefix(key), value)
    })
    for (const keys of chunks(fx.keys, fx.batch)) batch(keys)
  } finally {
    db.close()
  }
}

const pragma = async (adapter: KeyvSqlite, name: string): Promise<string> => {
  const rows: Array<Record<string, unknown>> = await adapter.query(`PRAGMA ${name}`)
  return String(Object.values(rows[0] ?? {})[0])
}

const target = (keyv: Keyv): Driver.AsyncTarget => ({
  get: (key) => keyv.get(key),
  set: (key, value) => keyv.set(key, value),
  setMany: (entries) => keyv.setMany(entries.map(([key, value]) => ({ key, value }))),
  removeMany: (keys) => keyv.deleteMany([...keys])
})

const acquire = (filename: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const adapter = new KeyvSqlite({ uri: `sqlite://${filename}`, table: TABLE, busyTimeout: 5000 })
      return { adapter, keyv: new Keyv({ store: adapter, throwOnErrors: true }) }
    }),
    ({ keyv }) => Effect.promise(() => keyv.disconnect())
  )

/** Opens Keyv on a fresh file in `dir` for the scope, in the given mode, and prefills it. */
export const subject = (dir: string, mode: Mode, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const filename = path.join(dir, `keyv-${mode}.db`)
    const { adapter, keyv } = yield* acquire(filename)
    const notes = yield* Effect.promise(async () => {
      if (mode === "wal") {
        await adapter.query("PRAGMA journal_mode = WAL")
        await adapter.query("PRAGMA synchronous = NORMAL")
      }
      await keyv.set("probe", fx.text) // the adapter creates its table on first use
      await prefill(filename, keyv, fx)
      return { journal_mode: await pragma(adapter, "journal_mode"), synchronous: await pragma(adapter, "synchronous") }
    })
    const measure = yield* Driver.ready(target(keyv), fx, fx.text)
    return {
      name: mode === "wal" ? "keyv+WAL" : "keyv",
      group: "sqlite",
      workloads: ["get", "set", "setMany"],
      measure,
      notes
    }
  })
