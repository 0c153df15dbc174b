/**
 * Runs the contract suite and the model-based property test against `MemoryStore`: the plain store, and one with an
 * LRU bound large enough never to evict, whose recency bookkeeping must not change any observable result; and the lock
 * contract, on the store and on a namespace of it.
 */
import { KeyValueStore, MemoryStore } from "effect-kv"
import { locksSuite } from "./locks.js"
import { modelSuite } from "./model.js"
import { namespaceSuite } from "./namespace.js"
import { suite } from "./suite.js"

const capabilities = MemoryStore.capabilities

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
