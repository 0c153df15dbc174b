/**
 * The in-memory caches the caching section measures our `getOrSet` against, each set up and called as its README
 * shows: cacheable's `getOrSet` and `wrap` on a `new Cacheable()` (its in-memory primary, no secondary), bentocache's
 * `getOrSet` on a store with only its memory driver as L1 (`maxItems` raised from its default 1000 to hold the
 * section's entries; values serialized, its default), and cachified over an lru-cache (`max` likewise) through the
 * adapter of cachified's README. Every one reads and computes through the library's own read-through call, with no
 * ttl (as our rows), and exposes `ask(key)` (one awaited call) and an untimed `remove(keys)` for the fresh keys of a
 * miss round.
 */
import type { Cache, CacheEntry } from "@epic-web/cachified"
import { cachified, totalTtl } from "@epic-web/cachified"
import { BentoCache, bentostore } from "bentocache"
import { memoryDriver } from "bentocache/drivers/memory"
import { Cacheable } from "cacheable"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { LRUCache } from "lru-cache"

/** A peer ready to measure. */
export interface Peer {
  /** One read-through call: the cached value, or `compute`'s after computing and storing it. */
  readonly ask: (key: string) => Promise<unknown>
  /** Untimed: deletes keys a miss round wrote. */
  readonly remove: (keys: ReadonlyArray<string>) => Promise<unknown>
  /** Untimed: called once the hit keys are in (a peer that cannot delete by our key notes what to keep). */
  readonly filled?: () => void
}

/** What every peer computes on a miss: a promise of the section's value, counted by the section. */
export type Compute = () => Promise<string>

/** Room for the hit keys and a round of fresh keys in the bounded caches. */
const CAPACITY = 1_000_000

/** `cache.getOrSet(key, compute)` on `new Cacheable()`. */
export const cacheableGetOrSet = (compute: Compute): Effect.Effect<Peer, never, Scope.Scope> =>
  Effect.map(cacheable, (cache) => ({
    ask: (key) => cache.getOrSet(key, compute),
    remove: (keys) => cache.deleteMany([...keys])
  }))

/**
 * `cache.wrap(f)` on `new Cacheable()`, called with the key as its argument: its key is the function's name and a hash
 * of the arguments, so a miss round is removed by deleting every key the in-memory primary holds beyond those it held
 * once filled (read through its `store.keys`, untimed).
 */
export const cacheableWrap = (compute: Compute): Effect.Effect<Peer, never, Scope.Scope> =>
  Effect.map(cacheable, (cache) => {
    const lookUp = cache.wrap(async function lookUp(_key: string) {
      return compute()
    })
    const memory = cache.primary.store as { readonly store: { readonly keys: IterableIterator<string> } }
    let kept = new Set<string>()
    return {
      ask: (key) => lookUp(key),
      filled: () => {
        kept = new Set(memory.store.keys)
      },
      remove: () => cache.deleteMany([...memory.store.keys].filter((key) => !kept.has(key)))
    }
  })

const cacheable = Effect.acquireRelease(
  Effect.sync(() => new Cacheable()),
  (cache) => Effect.promise(() => cache.disconnect().catch(() => undefined))
)

/** `bento.getOrSet({ key, factory })` on a BentoCache whose store has only the memory driver. */
export const bentocache = (compute: Compute): Effect.Effect<Peer, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        new BentoCache({
          default: "memory",
          stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: CAPACITY })) }
        })
      ),
      (bento) => Effect.promise(() => bento.disconnect().catch(() => undefined))
    ),
    (bento) => ({
      ask: (key) => bento.getOrSet({ key, factory: compute }),
      remove: (keys) => bento.deleteMany({ keys: [...keys] })
    })
  )

/** `cachified({ key, cache, getFreshValue })` over an lru-cache, with the adapter of cachified's README. */
export const cachifiedLru = (compute: Compute): Effect.Effect<Peer> =>
  Effect.sync(() => {
    const lru = new LRUCache<string, CacheEntry>({ max: CAPACITY })
    const cache: Cache = {
      set(key, value) {
        const ttl = totalTtl(value?.metadata)
        // The README's `ttl: ttl === Infinity ? undefined : ttl`, without the key under exactOptionalPropertyTypes.
        return lru.set(key, value, {
          ...(ttl === Infinity ? {} : { ttl }),
          start: value?.metadata?.createdTime
        })
      },
      get(key) {
        return lru.get(key)
      },
      delete(key) {
        return lru.delete(key)
      }
    }
    return {
      ask: (key) => cachified({ key, cache, getFreshValue: compute }),
      remove: async (keys) => {
        for (const key of keys) lru.delete(key)
      }
    }
  })
