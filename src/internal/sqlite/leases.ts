/**
 * The lease table of a SQLite store (`<table>_locks` and `<table>_fences` in its database file), shared by every
 * process that opens the file. `<table>_locks` holds one row per held slot (`name`, `owner`, `expires_at` in epoch
 * ms); `<table>_fences` holds the last fencing token issued per lock name, a row that is never deleted, so tokens
 * strictly increase across every holder and process. Each call is one `BEGIN IMMEDIATE` transaction (a savepoint
 * inside a transaction already open on the connection), so it waits for other writers through the busy timeout,
 * except an acquisition: its wait is synchronous (it holds the event loop, and the lock's own timeout with it), so it
 * waits at most `ACQUIRE_BUSY_WAIT` and then counts the lock as taken; the waiter polls again on its schedule, and the
 * lock's timeout bounds the whole acquisition. `holds` is the check of a fenced write: one read, made inside the
 * transaction that writes.
 *
 * @internal
 */
import type Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import type { SyncLeaseTable } from "../leases.js"
import { isValidTableName } from "../sql/schema.js"

/** Milliseconds an acquisition waits for another connection's write lock before it counts the lock as taken. */
const ACQUIRE_BUSY_WAIT = 50

const isBusy = (cause: unknown): boolean => {
  const code = (cause as { readonly code?: unknown } | null)?.code
  return typeof code === "string" && code.startsWith("SQLITE_BUSY")
}

/**
 * The `CREATE TABLE IF NOT EXISTS` statements of the lease tables of `table`, for the store's schema at open.
 *
 * @internal
 */
export const schema = (table: string): ReadonlyArray<string> => {
  if (!isValidTableName(table)) throw new Error(`invalid table name: ${table}`)
  return [
    `CREATE TABLE IF NOT EXISTS "${table}_locks" (
      name TEXT NOT NULL,
      owner TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (name, owner)
    ) WITHOUT ROWID`,
    `CREATE TABLE IF NOT EXISTS "${table}_fences" (name TEXT PRIMARY KEY NOT NULL, fence INTEGER NOT NULL) WITHOUT ROWID`
  ]
}

/**
 * The lease table of `table` on `db` (its tables must exist: see `schema`). Statements are prepared here; `toError`
 * maps what the driver throws (a busy database, a closed connection); `holds` throws what the driver throws.
 *
 * @internal
 */
export const make = (
  db: Database.Database,
  table: string,
  toError: (method: string, cause: unknown) => KeyValueStoreError
): SyncLeaseTable => {
  if (!isValidTableName(table)) throw new Error(`invalid table name: ${table}`)
  const locks = `"${table}_locks"`
  const fences = `"${table}_fences"`
  const deleteExpired = db.prepare<[string, number]>(`DELETE FROM ${locks} WHERE name = ? AND expires_at <= ?`)
  const count = db.prepare<[string], number>(`SELECT COUNT(*) FROM ${locks} WHERE name = ?`).pluck()
  const insert = db.prepare<[string, string, number]>(
    `INSERT INTO ${locks} (name, owner, expires_at) VALUES (?, ?, ?)
      ON CONFLICT (name, owner) DO UPDATE SET expires_at = excluded.expires_at`
  )
  const nextFence = db.prepare<[string], bigint>(
    `INSERT INTO ${fences} (name, fence) VALUES (?, 1)
      ON CONFLICT (name) DO UPDATE SET fence = fence + 1 RETURNING fence`
  ).pluck().safeIntegers()
  const extend = db.prepare<[number, string, string, number]>(
    `UPDATE ${locks} SET expires_at = max(expires_at, ?) WHERE name = ? AND owner = ? AND expires_at > ?`
  )
  const remove = db.prepare<[string, string]>(`DELETE FROM ${locks} WHERE name = ? AND owner = ?`)
  const held = db.prepare<[string, string, number], number>(
    `SELECT 1 FROM ${locks} WHERE name = ? AND owner = ? AND expires_at > ?`
  ).pluck()

  const acquire = db.transaction(
    (name: string, owner: string, holders: number, now: number, expiresAt: number): bigint | undefined => {
      deleteExpired.run(name, now)
      if (count.get(name)! >= holders) return undefined
      insert.run(name, owner, expiresAt)
      return nextFence.get(name)!
    }
  )
  const renew = db.transaction((name: string, owner: string, now: number, expiresAt: number): boolean =>
    extend.run(expiresAt, name, owner, now).changes > 0
  )
  const release = db.transaction((name: string, owner: string): void => {
    remove.run(name, owner)
  })

  const lift = <A>(f: () => A) => Effect.try({ try: f, catch: (cause) => toError("lock", cause) })

  const busyTimeout = Number(db.pragma("busy_timeout", { simple: true }))
  const acquireWait = Math.min(busyTimeout, ACQUIRE_BUSY_WAIT)
  const tryAcquire = (name: string, owner: string, holders: number, now: number, expiresAt: number) => {
    db.pragma(`busy_timeout = ${acquireWait}`)
    try {
      return acquire.immediate(name, owner, holders, now, expiresAt)
    } catch (cause) {
      if (isBusy(cause)) return undefined
      throw cause
    } finally {
      db.pragma(`busy_timeout = ${busyTimeout}`)
    }
  }

  return {
    origin: {},
    prefix: "",
    holds: (name, owner, now) => held.get(name, owner, now) !== undefined,
    acquire: (name, owner, holders, now, expiresAt) => lift(() => tryAcquire(name, owner, holders, now, expiresAt)),
    renew: (name, owner, now, expiresAt) => lift(() => renew.immediate(name, owner, now, expiresAt)),
    release: (name, owner) => lift(() => release.immediate(name, owner))
  }
}
