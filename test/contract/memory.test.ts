/**
 * Runs the contract suite and the model-based property test against `MemoryStore`: the plain store, and one with an
 * LRU bound large enough never to evict, whose recency bookkeeping must not change any observable result.
 */
import { MemoryStore } from "effect-kv"
import type { KeyValueStore } from "effect-kv"
import { modelSuite } from "./model.js"
import { suite } from "./suite.js"

const capabilities: KeyValueStore.Capabilities = {
  persistent: false,
  crossProcess: false,
  orderedKeys: true,
  enumeration: false,
  tags: true,
  metadata: true,
  transactions: false,
  locks: false,
  check: false,
  volume: false
}

suite("MemoryStore", MemoryStore.layer(), capabilities)
suite("MemoryStore with maxEntries", MemoryStore.layer({ maxEntries: 1_000_000 }), capabilities)
modelSuite("MemoryStore with maxEntries", MemoryStore.layer({ maxEntries: 1_000_000 }))
