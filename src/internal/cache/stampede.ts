/**
 * Stampede protection across processes: a miss of `getOrSet` with `lock` takes the store's lease for the key, re-reads
 * under it (another process may have written the value meanwhile), computes and writes only if it is still missing,
 * and releases. The lease is a lock of the store (`store.lock`) under a name derived from the key that carries the
 * library's reserved mark, so no user lock can take it or wait on it. Waiting is bounded by the lease options'
 * `timeout`; past it the caller computes itself or fails with `LockTimeout` (`onTimeout`). A holder that dies leaves
 * a lease that expires after its ttl, and the next waiter takes over.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import type { LockOptions, Service } from "../../KeyValueStore.js"
import { type KeyValueStoreError, LockTimeout } from "../../KeyValueStoreError.js"
import * as leases from "../leases.js"
import * as validate from "../validate.js"
import type { LeaseSettings } from "./settings.js"

const plainSuffix = `${leases.reservedMark}getOrSet`
const hashedSuffix = `${leases.reservedMark}getOrSet/sha256`
const suffixBytes = Buffer.byteLength(hashedSuffix, "utf8")

/**
 * The lease name of `key`: the key followed by the reserved mark (so that a store routing locks by name prefix puts
 * it beside the key), or, for a key too long for a lock name, the SHA-256 of the key (with a suffix of its own).
 */
export const leaseName = (key: string): string =>
  key.length * 3 + suffixBytes <= validate.limits.maxNameBytes ||
    Buffer.byteLength(key, "utf8") + suffixBytes <= validate.limits.maxNameBytes
    ? key + plainSuffix
    : crypto.createHash("sha256").update(key, "utf8").digest("hex") + hashedSuffix

/**
 * `leased` under the lease of `key` (re-read and compute), or `unleased` when the wait times out and `onTimeout` says
 * so. Only the wait's own `LockTimeout` leads there: a `LockTimeout` of the computation itself is its failure.
 */
export const guarded = <A, E, R>(
  store: Service,
  key: string,
  settings: LeaseSettings,
  leased: Effect.Effect<A, E, R>,
  unleased: Effect.Effect<A, E, R>
): Effect.Effect<A, E | KeyValueStoreError, R> => {
  const options: LockOptions & { readonly [leases.reserved]: true } = {
    ttl: Duration.millis(settings.ttl),
    timeout: settings.timeout === Infinity ? Duration.infinity : Duration.millis(settings.timeout),
    [leases.reserved]: true
  }
  return Effect.scoped(
    Effect.matchEffect(store.lock(leaseName(key), options), {
      onFailure: (error): Effect.Effect<A, E | KeyValueStoreError, R> =>
        error._tag !== "LockTimeout"
          ? Effect.fail(error)
          : settings.onTimeout === "compute"
          ? unleased
          : Effect.fail(new LockTimeout({ method: "getOrSet", key, name: error.name })),
      onSuccess: () => leased
    })
  )
}
