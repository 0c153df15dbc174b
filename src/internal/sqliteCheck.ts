/**
 * `check` of a SQLite store: the engine's integrity check, large-value files no row names, rows naming missing
 * files, counter drift and expired rows pending, and their repair with `fix`.
 *
 * @internal
 */
import type Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import type { CheckOptions, CheckReport } from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"

/**
 * The `check` of the store of `table` on `db`.
 *
 * @internal
 */
export const make = (_options: {
  readonly db: Database.Database
  readonly table: string
  readonly backend: string
  /** The large-value directory; undefined for an in-memory database. */
  readonly directory: string | undefined
  /** Runs a change that removes rows, deleting the files they released once it committed (`largeValues.run`). */
  readonly run: <A>(f: () => A) => A
  readonly toError: (method: string, cause: unknown) => KeyValueStoreError
}) =>
(_options?: CheckOptions): Effect.Effect<CheckReport, KeyValueStoreError> => Effect.dieMessage("not implemented yet")
