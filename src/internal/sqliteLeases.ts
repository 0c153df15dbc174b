/**
 * The lease table of a SQLite store (`<table>_locks` and `<table>_fences` in its database file), shared by every
 * process that opens the file.
 *
 * @internal
 */
import type Database from "better-sqlite3"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import type { LeaseTable } from "./leases.js"

/**
 * The lease table of `table` on `db` (its tables are created by the store's schema).
 *
 * @internal
 */
export const make = (
  _db: Database.Database,
  _table: string,
  _toError: (method: string, cause: unknown) => KeyValueStoreError
): LeaseTable => {
  throw new Error("not implemented yet")
}
