/**
 * Runs the contract suite and the model-based property test against `MemoryStore`: the plain store, and one with an
 * LRU bound large enough never to evict, whose recency bookkeeping must not change any observable result; and the lock
 * contract, on the store, on a namespace of it, and on the store with a lease table that answers late (real time, as a
 * loaded server does).
 */
import { KeyValueStore, MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { locksSuite } from "./locks.js"
import { modelSuite } from "./model.js"
import { namespaceSuite } from "./namespace.js"
import { suite } from "./suite.js"

const capabilities = MemoryStore.capabilities

/** Waits `ms` of real time (TestClock does not move it), then runs `call`: a request on its way to a slow server. */
const late = <A, E>(ms: number, call: Effect.Effect<A, E>) =>
  Effect.zipRight(Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms))), call)

/**
 * The store with a lease table whose calls take real time, renewals much longer than the rest: TestClock counts a fiber
 * waiting for them as suspended, so a test that moves the clock without waiting for them sees a lease expire while its
 * renewal is on its way (a slow server taken for a dead holder), or a waiter's attempt miss the instant it was due.
 */
const slowLeases = Layer.effect(
  KeyValueStore.KeyValueStore,
  Effect.map(KeyValueStore.KeyValueStore, (store) => {
    const table = store.primitives.leases!
    return KeyValueStore.make({
      ...store.primitives,
      leases: {
        ...table,
        acquire: (...args) => late(30, table.acquire(...args)),
        renew: (...args) => late(200, table.renew(...args)),
        release: (...args) => late(30, table.release(...args))
      }
    })
  })
)

suite("MemoryStore", MemoryStore.layer(), capabilities)
suite("MemoryStore with maxEntries", MemoryStore.layer({ maxEntries: 1_000_000 }), capabilities)
modelSuite("MemoryStore with maxEntries", MemoryStore.layer({ maxEntries: 1_000_000 }))
namespaceSuite("MemoryStore", MemoryStore.layer(), capabilities)
suite("MemoryStore with separator /", MemoryStore.layer({ separator: "/" }), capabilities)
locksSuite("MemoryStore", MemoryStore.layer(), capabilities)
locksSuite(
  "MemoryStore in a namespace",
  MemoryStore.layer().pipe(KeyValueStore.wrap(KeyValueStore.layerPrefix("ns."))),
  capabilities
)
locksSuite(
  "MemoryStore with a lease table answering late",
  MemoryStore.layer().pipe(KeyValueStore.wrap(slowLeases)),
  capabilities
)
