/**
 * The store-wide operations of `make`: `expire`, `clear`, `size`, `volume`, the statistics (`stats`, `resetStats`:
 * the counters of `core.ts` merged with the backend's own), transaction regions, locks (`lock` and `withLock` from
 * the backend's lease table, or their argument checks then `Unsupported`) and `check`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { CheckOptions, LockOptions, Service } from "../../KeyValueStore.js"
import { InvalidArgument } from "../../KeyValueStoreError.js"
import * as leases from "../leases.js"
import { checkOptionsOf, deferred, lockArguments, named, notAnEffect } from "./arguments.js"
import type { Core } from "./core.js"

/** The store-wide operations of the store of `core`. */
export const operations = (
  core: Core
): Pick<
  Service,
  | "expire"
  | "clear"
  | "size"
  | "volume"
  | "stats"
  | "resetStats"
  | "withTransaction"
  | "transaction"
  | "lock"
  | "withLock"
  | "check"
> => {
  const { backend, counters, gate, p, traced, unsupported, withNow } = core
  // Argument errors come before `Unsupported`, here as everywhere.
  const lock: Service["lock"] = p.leases
    ? leases.lock(p.leases, backend, gate)
    : deferred((name: string, options?: LockOptions) => lockArguments(core, name, options, "lock"))
  return {
    expire: withNow("expire", undefined, p.expire),
    clear: traced(p.clear, "clear"),
    size: withNow("size", undefined, p.size),
    volume: p.volume ? traced(p.volume, "volume") : Effect.succeed(0),
    stats: Effect.sync(() => ({
      evictions: 0,
      expirations: 0,
      ...counters,
      ...p.counters?.()
    })),
    resetStats: Effect.sync(() => {
      counters.hits =
        counters.misses =
        counters.writes =
        counters.removes =
          0
      p.resetCounters?.()
    }),

    withTransaction: (effect) =>
      Effect.suspend(() =>
        !Effect.isEffect(effect)
          ? Effect.fail(notAnEffect("withTransaction", effect))
          : p.withTransaction
          ? p.withTransaction(effect)
          : Effect.zipRight(unsupported("withTransaction"), effect)
      ),
    transaction: p.transaction ?? unsupported("transaction"),
    lock,
    withLock: (name, options) => (effect) =>
      Effect.suspend(() =>
        !Effect.isEffect(effect)
          ? Effect.fail(notAnEffect("withLock", effect))
          : p.leases
          ? leases.withLock(lock, name, options, effect)
          : Effect.zipRight(lockArguments(core, name, options, "withLock"), effect)
      ),
    check: deferred((options?: CheckOptions) => {
      const checked = checkOptionsOf(options)
      if (checked instanceof InvalidArgument) return Effect.fail(checked)
      return p.check ? traced(named(p.check(checked), "check"), "check") : unsupported("check")
    })
  }
}
