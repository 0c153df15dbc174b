/**
 * A footprint process of the bench's memory section: fills one in-memory store with `<entries>` entries of 256-byte
 * values and prints one JSON line with what they cost per entry, by RSS and by the V8 heap plus external memory
 * (ArrayBuffers), each read after two full collections (`--expose-gc`) before the fill and after it. Every target is
 * given the same keys and, per key, a fresh copy of the value (as bytes a program received, from Node's buffer pool),
 * so a store that keeps the caller's bytes and one that keeps a copy of its own are compared on what they hold once
 * the caller's copies are gone. Arguments: `<target> <entries>`, the target one of `Map`, `MemoryStore`,
 * `platform layerMemory`, `lru-cache`.
 */
import * as PlatformKv from "@effect/platform/KeyValueStore"
import * as MemoryStore from "effect-kv/MemoryStore"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { LRUCache } from "lru-cache"

const [target, count] = process.argv.slice(2)
const entries = Number(count)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined || target === undefined || !Number.isInteger(entries) || entries <= 0) {
  console.error("usage: node --expose-gc footprint.ts (Map | MemoryStore | platform layerMemory | lru-cache) <entries>")
  process.exit(2)
}

const VALUE = Buffer.alloc(256)
for (let i = 0; i < VALUE.length; i++) VALUE[i] = (i * 31) & 0xff

/** A fresh copy of the value for key `i`. */
const valueOf = (i: number): Buffer => {
  const out = Buffer.from(VALUE)
  out.writeUInt32LE(i, 0)
  return out
}

const usage = () => {
  gc()
  gc()
  const m = process.memoryUsage()
  return { rss: m.rss, heap: m.heapUsed + m.external }
}

// Fills the target; returns what holds it, so that it stays alive until the second reading.
const fill = (scope: Scope.Scope): Effect.Effect<unknown, unknown> => {
  switch (target) {
    case "Map":
      return Effect.sync(() => {
        const map = new Map<string, Uint8Array>()
        for (let i = 0; i < entries; i++) map.set(`key:${i}`, valueOf(i))
        return map
      })
    case "lru-cache":
      return Effect.sync(() => {
        const cache = new LRUCache<string, Uint8Array>({ max: entries * 2 })
        for (let i = 0; i < entries; i++) cache.set(`key:${i}`, valueOf(i))
        return cache
      })
    case "platform layerMemory":
      return Effect.gen(function*() {
        const store = yield* Effect.provide(PlatformKv.KeyValueStore, PlatformKv.layerMemory)
        for (let i = 0; i < entries; i++) yield* store.set(`key:${i}`, valueOf(i))
        return store
      })
    case "MemoryStore":
      return Effect.gen(function*() {
        const store = yield* Scope.extend(MemoryStore.make(), scope)
        for (let i = 0; i < entries; i++) yield* store.set(`key:${i}`, valueOf(i))
        return store
      })
    default:
      return Effect.die(new Error(`unknown target ${target}`))
  }
}

const main = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const before = usage()
  const held = yield* fill(scope)
  const after = usage()
  ;(globalThis as { held?: unknown }).held = held
  console.log(JSON.stringify({
    target,
    entries,
    rssPerEntry: (after.rss - before.rss) / entries,
    heapPerEntry: (after.heap - before.heap) / entries
  }))
})

// The store's sweeper would keep the process alive: it ends once the line is out.
Effect.runPromise(main).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
