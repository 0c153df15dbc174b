/**
 * Hierarchical keys on SQLite: glob patterns over dotted keys, tags, metadata with `getEntry`, two tenants in
 * namespaces over one file, and a small cache with a size limit and LRU eviction. Every result is checked, so the
 * program fails (exit 1) if a behaviour it shows ever changes.
 */
import { KeyValueStore, SqliteStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as assert from "node:assert/strict"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

const program = (dir: string) =>
  Effect.gen(function*() {
    const store = yield* SqliteStore.make({ filename: path.join(dir, "kv.db") })

    // Patterns: `*` is one segment, `**` any number of them, `{a,b}` alternatives.
    yield* store.setMany([
      ["users.1.name", "Ada"],
      ["users.1.email", "ada@example.com"],
      ["users.2.name", "Grace"],
      ["users.2.settings.theme", "dark"],
      ["env.dev.config", "{}"],
      ["env.prod.config", "{}"]
    ])
    const names = yield* collect(store.keys("users.*.name"))
    assert.deepStrictEqual(names, ["users.1.name", "users.2.name"])
    assert.strictEqual(yield* store.countPattern("users.2.**"), 2)
    assert.strictEqual(yield* store.countPattern("env.{dev,prod}.config"), 2)
    yield* Console.log(`users.*.name        -> ${names.join(", ")}`)

    // Tags and metadata, read back with getEntry; removeTag drops every entry carrying a tag.
    yield* store.set("page.home", "<html>", { tags: ["pages", "v1"], metadata: { etag: "abc" } })
    const entry = yield* store.getEntry("page.home")
    assert.ok(Option.isSome(entry))
    yield* Console.log(
      `page.home tags      -> ${entry.value.tags.join(", ")}; metadata ${
        JSON.stringify(entry.value.metadata.pipe(Option.getOrNull))
      }`
    )
    assert.strictEqual(yield* store.removeTag("v1"), 1)

    // Namespaces over the same file: each tenant sees and clears only its own keys.
    const acme = KeyValueStore.prefix(store, "tenant.acme.")
    const globex = KeyValueStore.prefix(store, "tenant.globex.")
    yield* acme.set("plan", "pro")
    yield* globex.set("plan", "free")
    yield* acme.clear
    assert.ok(Option.isNone(yield* acme.get("plan")))
    assert.deepStrictEqual(yield* globex.getString("plan"), Option.some("free"))
    yield* Console.log(`tenant.globex.plan  -> ${Option.getOrThrow(yield* globex.getString("plan"))} (acme cleared)`)

    // A bounded cache in its own table: at most 3 entries, least recently used evicted first.
    const cache = yield* SqliteStore.make({ filename: path.join(dir, "kv.db"), table: "cache", maxEntries: 3 })
    yield* cache.setMany([["a", "1"], ["b", "2"], ["c", "3"]])
    yield* cache.get("a") // "a" is now the most recently used
    yield* cache.set("d", "4") // evicts "b"
    const kept = yield* collect(cache.keys())
    assert.deepStrictEqual(kept, ["a", "c", "d"])
    yield* Console.log(`cache after 4 sets  -> ${kept.join(", ")} (evictions: ${(yield* cache.stats).evictions})`)
  })

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-hierarchical-"))
Effect.runPromise(Effect.scoped(program(dir))).then(
  () => fs.rmSync(dir, { recursive: true, force: true }),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
