/**
 * The lease table of a `RedisStore`: lock `name` is the sorted set `<prefix>l:<name>` of its slots (member: the owner,
 * score: the slot's expiry in epoch ms of the store's `Clock`), and `<prefix>f:<name>` is its fence counter, which is
 * never removed (not by `clear` either), so fencing tokens strictly increase across every holder and process. Each
 * call is one Lua script, atomic across every client of the server. Expiry follows the store's `Clock` (a `TestClock`
 * too), which a `SET NX PX` lease could not do (it expires on the server's clock) and which also allows several
 * holders per lock. The lease key carries a `PEXPIRE` backstop (the time its latest slot has left by the store's
 * `Clock`, plus the store's grace), so a lock nobody releases does not stay in the database forever.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import type { LeaseTable } from "../leases.js"
import * as scripts from "./scripts.js"

/**
 * Runs a script: `keys` then `args`, answering the raw reply.
 *
 * @internal
 */
export type Runner = (
  method: string,
  key: string | undefined,
  script: scripts.Script,
  keys: ReadonlyArray<string>,
  args: ReadonlyArray<string | Buffer>
) => Effect.Effect<unknown, KeyValueStoreError>

/**
 * The lease set of lock `name` under `prefix` (what a fenced write checks).
 *
 * @internal
 */
export const leaseKey = (prefix: string, name: string): string => `${prefix}l:${name}`

/**
 * The lease table under `prefix`. `grace` is added to the time the latest slot has left to get the lease key's
 * `PEXPIRE` (`undefined`: no native expiry).
 *
 * @internal
 */

export const make = (run: Runner, prefix: string, graceMillis: number | undefined): LeaseTable => {
  const index = prefix + "i"
  const keysOf = (name: string) => [index, leaseKey(prefix, name), `${prefix}f:${name}`]
  const grace = graceMillis === undefined ? "" : String(graceMillis)
  return {
    origin: {},
    prefix: "",
    acquire: (name, owner, holders, now, expiresAt) =>
      Effect.map(
        run("lock", undefined, scripts.acquire, keysOf(name), [
          owner,
          String(holders),
          String(now),
          String(expiresAt),
          grace
        ]),
        (reply) => reply === null || reply === undefined ? undefined : BigInt(String(reply))
      ),
    renew: (name, owner, now, expiresAt) =>
      Effect.map(
        run("lock", undefined, scripts.renew, keysOf(name), [owner, String(now), String(expiresAt), grace]),
        (reply) => Number(reply) === 1
      ),
    release: (name, owner) => Effect.asVoid(run("lock", undefined, scripts.release, keysOf(name), [owner]))
  }
}
