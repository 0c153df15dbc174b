/**
 * The lease table of a SqlStore (`<table>_locks` and `<table>_fences`, see `sqlSchema.LeaseStatements`), shared by
 * every process using the table. Leases rather than the engines' advisory locks: a lock of effect-kv has a ttl that
 * follows the store's `Clock`, may admit several holders (a semaphore), and hands out fencing tokens, none of which a
 * session-level advisory lock gives (nor does it survive a pooled connection being reused).
 *
 * An acquisition is one short transaction: it creates the name's fence row when absent and locks it (`FOR UPDATE`;
 * on SQLite the fence row's insert takes the database's write lock), so the acquisitions of one name take turns
 * across processes; then it removes the expired slots, counts the live ones, inserts its own and increments the
 * fence, whose new value is the fencing token. A renewal is one `UPDATE` (checked by a read when MySQL reports no
 * changed row, as it does when the expiry did not move), a release one `DELETE`. Each call joins the transaction of
 * the caller's context when there is one (the store refuses to acquire inside its own regions). `holds` is the check
 * of a fenced write, made inside the write's transaction: it reads the slot locked until that transaction ends (and
 * takes SQLite's write lock first), so an acquisition that would delete the slot waits for the write to commit.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { InvalidArgument, type KeyValueStoreError } from "../../KeyValueStoreError.js"
import type { LeaseTable } from "../leases.js"
import * as sqlSchema from "./schema.js"

/** @internal */
export interface Options {
  readonly sql: SqlClient.SqlClient
  readonly dialect: sqlSchema.Dialect
  readonly statements: sqlSchema.LeaseStatements
  readonly toError: (method: string, cause: unknown) => KeyValueStoreError
  /** Runs a transaction (retrying conflicts when it is one of its own). */
  readonly transaction: <A>(method: string, effect: Effect.Effect<A, KeyValueStoreError>) => Effect.Effect<
    A,
    KeyValueStoreError
  >
}

/**
 * A SqlStore's lease table, with the check of a fenced write.
 *
 * @internal
 */
export interface SqlLeaseTable extends LeaseTable {
  /**
   * Whether the slot of `owner` in `name` is live at `now`; run it inside the fenced write's transaction. Errors
   * name `method`.
   */
  readonly holds: (
    method: string,
    name: string,
    owner: string,
    now: number
  ) => Effect.Effect<boolean, KeyValueStoreError>
}

/**
 * The lease table over `options.sql`; its tables must exist (`statements.schema`).
 *
 * @internal
 */
export const make = (options: Options): SqlLeaseTable => {
  const { dialect, sql, statements: s, toError, transaction } = options
  const spec = sqlSchema.specs[dialect]

  const rows = <A extends object>(text: string, params: ReadonlyArray<unknown>) =>
    Effect.mapError(sql.unsafe<A>(text, params).withoutTransform, (error) => toError("lock", error))
  const execute = (text: string, params: ReadonlyArray<unknown>) =>
    sql.unsafe(text, params).raw.pipe(
      Effect.map((raw) => sqlSchema.affectedRows(dialect, raw)),
      Effect.mapError((error) => toError("lock", error))
    )

  // A name longer than the engine's column is refused rather than cut.
  const nameOf = (name: string): Effect.Effect<unknown, InvalidArgument> =>
    spec.keyColumnBytes !== undefined && Buffer.byteLength(name, "utf8") > spec.keyColumnBytes
      ? Effect.fail(
        new InvalidArgument({
          method: "lock",
          argument: "name",
          reason: `a lock name of this store is at most ${spec.keyColumnBytes} UTF-8 bytes`
        })
      )
      : Effect.succeed(sqlSchema.keyParam(spec, name))

  const fenceOf = (value: unknown): bigint =>
    typeof value === "bigint" ? value : BigInt(typeof value === "number" ? value : String(value))

  // Whole milliseconds where the engine's columns take nothing else (see `sqlSchema.Spec.wholeMillis`).
  const t = spec.wholeMillis ? Math.floor : (n: number) => n

  return {
    origin: {},
    prefix: "",
    holds: (method, name, owner, now) =>
      Effect.flatMap(nameOf(name), (param) => {
        const check = Effect.map(sql.unsafe(s.holding, [param, owner, t(now)]).withoutTransform, (found) =>
          found.length > 0)
        return Effect.mapError(
          s.lockForFence === undefined ? check : Effect.zipRight(sql.unsafe(s.lockForFence, []).raw, check),
          (error) =>
            toError(method, error)
        )
      }),
    acquire: (name, owner, holders, now_, expiresAt_) =>
      Effect.flatMap(nameOf(name), (param) =>
        transaction(
          "lock",
          Effect.gen(function*() {
            const now = t(now_)
            const expiresAt = t(expiresAt_)
            yield* execute(s.claimFence, [param])
            yield* rows(s.lockFence, [param])
            yield* execute(s.deleteExpired, [param, now])
            const held = yield* rows<{ readonly owner: string }>(s.holders, [param])
            if (held.length >= holders && !held.some((row) => row.owner === owner)) return undefined
            yield* execute(s.insert, [param, owner, expiresAt])
            yield* execute(s.bumpFence, [param])
            const fence = (yield* rows<{ readonly fence: unknown }>(s.readFence, [param]))[0]
            if (fence === undefined) return yield* toError("lock", new Error(`the fence row of ${name} is missing`))
            return fenceOf(fence.fence)
          })
        )),
    renew: (name, owner, now, expiresAt) =>
      Effect.flatMap(nameOf(name), (param) =>
        Effect.flatMap(
          execute(s.extend, [t(expiresAt), param, owner, t(now)]),
          (changed) =>
            changed > 0
              ? Effect.succeed(true)
              : Effect.map(rows(s.held, [param, owner, t(now)]), (found) => found.length > 0)
        )),
    release: (name, owner) => Effect.flatMap(nameOf(name), (param) => Effect.asVoid(execute(s.release, [param, owner])))
  }
}
