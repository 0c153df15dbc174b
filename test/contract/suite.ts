/**
 * The contract suite every backend and every policy of effect-kv runs: `suite(name, layer, capabilities)` registers one
 * `describe` block of small `it.effect` tests, each on a store freshly built from `layer` (so every test starts from an
 * empty store), with `TestClock` as the clock. It pins the observable behaviour of the `KeyValueStore` service from
 * DESIGN.md sections 2 and 3: single-key, batch and atomic operations, expiry, statistics, value round trips, every
 * argument error, the absence of partial writes, and `Unsupported` for what `capabilities` rules out.
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStoreError } from "effect-kv"
import { KeyValueStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { allBytes, assertBytes, assertSomeBytes, patternBytes, utf8 } from "./bytes.js"
import { enumerationCases } from "./enumeration.js"
import { getOrSetCases } from "./getOrSet.js"
import { hostileSuite } from "./hostile.js"
import { transactionCases } from "./transactions.js"

type Store = KeyValueStore.Service
type StoreError = KeyValueStoreError.KeyValueStoreError
type ErrorTag = StoreError["_tag"]

/** Fails the test (as a defect) when `self` succeeds; otherwise yields its error. */
const failure = <A, E>(self: Effect.Effect<A, E>, what: string): Effect.Effect<E> =>
  Effect.flip(self).pipe(
    Effect.catchAll((value) => Effect.dieMessage(`${what}: expected a failure, but it succeeded with ${show(value)}`))
  )

const expectError = <A>(self: Effect.Effect<A, StoreError>, tag: ErrorTag, what: string) =>
  Effect.map(failure(self, what), (error) => assert.strictEqual(error._tag, tag, what))

const show = (u: unknown): string => {
  if (u instanceof Uint8Array) return `<${u.byteLength} bytes>`
  if (typeof u === "bigint") return `${u}n`
  if (Option.isOption(u)) return Option.isNone(u) ? "none" : `some(${show(u.value)})`
  try {
    return JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}

const someOrFail = <A, E>(self: Effect.Effect<Option.Option<A>, E>, what: string): Effect.Effect<A, E> =>
  Effect.flatMap(
    self,
    Option.match({ onNone: () => Effect.dieMessage(`${what}: expected some, got none`), onSome: Effect.succeed })
  )

const assertNone = (actual: Option.Option<unknown>, what: string): void => {
  if (Option.isSome(actual)) assert.fail(`${what}: expected none, got ${show(actual)}`)
}

/** The remaining ttl as milliseconds, `"infinity"`, or `"none"` when the key is absent. */
const ttlOf = (ttl: Option.Option<Duration.Duration>): number | "infinity" | "none" =>
  Option.match(ttl, {
    onNone: () => "none" as const,
    onSome: (d) => Duration.isFinite(d) ? Duration.toMillis(d) : "infinity" as const
  })

const sortedTags = (tags: ReadonlyArray<string>): Array<string> => [...tags].sort()

const longKey = (bytes: number, unit: string): string => unit.repeat(bytes / Buffer.byteLength(unit, "utf8"))

/** A key exactly 1024 UTF-8 bytes long made of each kind of character. */
const keysOf1024Bytes: ReadonlyArray<readonly [string, string]> = [
  ["ASCII", longKey(1024, "a")],
  ["2-byte characters", longKey(1024, "é")],
  ["3-byte characters", longKey(1023, "€") + "a"],
  ["emoji (4 bytes)", longKey(1024, "😀")]
]

const invalidKeys: ReadonlyArray<readonly [string, string]> = [
  ["an empty key", ""],
  ["a key of 1025 ASCII bytes", "a".repeat(1025)],
  ["a key of 1025 UTF-8 bytes with multi-byte characters", longKey(1024, "é") + "a"],
  ["a key of 1026 UTF-8 bytes of emoji", longKey(1024, "😀") + "é"],
  ["a key with a lone high surrogate", "a\uD800b"],
  ["a key with a lone low surrogate", "\uDC00"]
]

/** Every operation that takes a key, applied to `key` (batch operations get it beside a valid key). */
const keyedOperations: ReadonlyArray<
  readonly [string, (store: Store, key: string) => Effect.Effect<unknown, StoreError>]
> = [
  ["get", (store, key) => store.get(key)],
  ["getString", (store, key) => store.getString(key)],
  ["getEntry", (store, key) => store.getEntry(key)],
  ["set", (store, key) => store.set(key, "v")],
  ["has", (store, key) => store.has(key)],
  ["remove", (store, key) => store.remove(key)],
  ["pop", (store, key) => store.pop(key)],
  ["add", (store, key) => store.add(key, "v")],
  ["touch", (store, key) => store.touch(key, "1 second")],
  ["ttl", (store, key) => store.ttl(key)],
  ["setMetadata", (store, key) => store.setMetadata(key, { a: 1 })],
  ["increment", (store, key) => store.increment(key)],
  ["decrement", (store, key) => store.decrement(key)],
  ["compareAndSwap", (store, key) => store.compareAndSwap(key, Option.none(), Option.some("v"))],
  ["append", (store, key) => store.append(key, "v")],
  ["update", (store, key) => store.update(key, () => Option.some("v"))],
  ["getMany", (store, key) => store.getMany(["valid", key])],
  ["setMany", (store, key) => store.setMany([["valid", "v"], [key, "v"]])],
  ["removeMany", (store, key) => store.removeMany(["valid", key])]
]

const invalidTtls: ReadonlyArray<readonly [string, Duration.DurationInput]> = [
  ["0", 0],
  ["a negative number", -1000],
  ["NaN", Number.NaN],
  ["Duration.zero", Duration.zero],
  ["a negative duration string", "-5 seconds"],
  ["zero nanoseconds", 0n]
]

/** Every operation that takes a ttl, applied to `ttl` on key "k". */
const ttlOperations: ReadonlyArray<
  readonly [string, (store: Store, ttl: Duration.DurationInput) => Effect.Effect<unknown, StoreError>]
> = [
  ["set", (store, ttl) => store.set("k", "v", { ttl })],
  ["add", (store, ttl) => store.add("k", "v", { ttl })],
  ["touch", (store, ttl) => Effect.zipRight(store.set("k", "v"), store.touch("k", ttl))],
  ["setMany", (store, ttl) => store.setMany([["j", "v"], ["k", "v", { ttl }]])],
  ["increment", (store, ttl) => store.increment("k", 1, { ttl })],
  ["compareAndSwap", (store, ttl) => store.compareAndSwap("k", Option.none(), Option.some("v"), { ttl })],
  ["update", (store, ttl) => store.update("k", () => Option.some("v"), { ttl })]
]

const circular = (): KeyValueStore.Metadata => {
  const self: { [key: string]: unknown } = { a: 1 }
  self.self = self
  return self
}

/**
 * Registers the contract suite for a store layer. `layer` is built afresh for every test; `capabilities` must be
 * what the store reports, and decides which operations are expected to work and which to fail with `Unsupported`.
 */
/** Registers `it.effect` cases that each get a store freshly built from `layer`. */
export const testOn =
  (layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown>) =>
  (title: string, body: (store: Store) => Effect.Effect<void, unknown>): void =>
    it.effect(title, () => Effect.flatMap(KeyValueStore.KeyValueStore, body).pipe(Effect.provide(layer)))

export const suite = (
  name: string,
  layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown>,
  capabilities: KeyValueStore.Capabilities
): void => {
  const test = testOn(layer)
  // Cases about expiry exist only on stores that have it: on a store without expiry every ttl-taking operation is
  // checked to fail with `Unsupported` instead (the "with a ttl fails with Unsupported" cases), so nothing is skipped.
  const timed: typeof test = capabilities.expiry ? test : () => {}

  describe(name, () => {
    describe("service", () => {
      test("reports the capabilities the suite was given", (store) =>
        Effect.sync(() => {
          assert.isTrue(KeyValueStore.isKeyValueStore(store))
          assert.deepStrictEqual(store.capabilities, capabilities)
          assert.isString(store.backend)
          assert.isNotEmpty(store.backend)
          assert.isNotEmpty(store.separator)
        }))

      test("starts empty", (store) =>
        Effect.gen(function*() {
          assert.strictEqual(yield* store.size, 0)
          assertNone(yield* store.get("a"), "get")
        }))
    })

    describe("get, getString, has", () => {
      test("getString keeps a leading byte order mark, and names itself in its errors", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "\uFEFFhello")
          assert.strictEqual(Option.getOrNull(yield* store.getString("k")), "\uFEFFhello")
          assert.strictEqual((yield* failure(store.getString(""), "getString")).method, "getString")
        }))

      test("get returns none for an absent key", (store) =>
        Effect.gen(function*() {
          assertNone(yield* store.get("absent"), "get")
          assertNone(yield* store.getString("absent"), "getString")
        }))

      test("get returns what set wrote", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "value")
          assertSomeBytes(yield* store.get("k"), "value")
        }))

      test("getString decodes the value as UTF-8", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", utf8("grüße 😀"))
          assert.deepStrictEqual(Option.getOrNull(yield* store.getString("k")), "grüße 😀")
        }))

      test("has tells whether a live entry exists", (store) =>
        Effect.gen(function*() {
          assert.isFalse(yield* store.has("k"))
          yield* store.set("k", "v")
          assert.isTrue(yield* store.has("k"))
        }))

      test("keys are distinct by exact content", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "lower")
          yield* store.set("K", "upper")
          yield* store.set("k ", "space")
          yield* store.set("é", "composed")
          yield* store.set("e\u0301", "decomposed")
          assertSomeBytes(yield* store.get("k"), "lower")
          assertSomeBytes(yield* store.get("K"), "upper")
          assertSomeBytes(yield* store.get("k "), "space")
          assertSomeBytes(yield* store.get("é"), "composed")
          assertSomeBytes(yield* store.get("e\u0301"), "decomposed")
          assert.strictEqual(yield* store.size, 5)
        }))

      for (const [label, key] of keysOf1024Bytes) {
        test(`accepts a key of exactly 1024 UTF-8 bytes of ${label}`, (store) =>
          Effect.gen(function*() {
            yield* store.set(key, "v")
            assertSomeBytes(yield* store.get(key), "v")
            assert.isTrue(yield* store.has(key))
            const [found] = yield* store.getMany([key])
            assertSomeBytes(found ?? Option.none(), "v", "getMany")
            assert.isTrue(yield* store.remove(key))
          }))
      }
    })

    describe("values", () => {
      test("round-trips every byte value 0..255", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", allBytes)
          assertSomeBytes(yield* store.get("k"), allBytes)
          const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
          assertBytes(entry.value, allBytes)
          assert.strictEqual(entry.size, 256)
          const [many] = yield* store.getMany(["k"])
          assertSomeBytes(many ?? Option.none(), allBytes, "getMany")
          assertSomeBytes(yield* store.pop("k"), allBytes, "pop")
        }))

      test("round-trips UTF-8 text with multi-byte characters and emoji", (store) =>
        Effect.gen(function*() {
          const text = "héllo wörld — 日本語 ∑ 😀👩‍👩‍👧 \u0000 end"
          yield* store.set("k", text)
          assert.strictEqual(Option.getOrNull(yield* store.getString("k")), text)
          assertSomeBytes(yield* store.get("k"), utf8(text))
          const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
          assert.strictEqual(entry.size, utf8(text).byteLength)
        }))

      test("stores an empty value, distinct from an absent one", (store) =>
        Effect.gen(function*() {
          yield* store.set("empty-string", "")
          yield* store.set("empty-bytes", new Uint8Array(0))
          for (const key of ["empty-string", "empty-bytes"]) {
            assertSomeBytes(yield* store.get(key), new Uint8Array(0), key)
            assert.strictEqual(Option.getOrNull(yield* store.getString(key)), "", key)
            assert.isTrue(yield* store.has(key), key)
            const entry = yield* someOrFail(store.getEntry(key), key)
            assert.strictEqual(entry.size, 0)
          }
          const many = yield* store.getMany(["empty-bytes", "absent"])
          assertSomeBytes(many[0] ?? Option.none(), new Uint8Array(0), "getMany")
          assertNone(many[1] ?? Option.none(), "getMany absent")
          assert.strictEqual(yield* store.size, 2)
          assertSomeBytes(yield* store.pop("empty-bytes"), new Uint8Array(0), "pop")
        }))

      test("round-trips a 1 MiB value", (store) =>
        Effect.gen(function*() {
          const big = patternBytes(1024 * 1024)
          yield* store.set("big", big)
          assertSomeBytes(yield* store.get("big"), big)
          const entry = yield* someOrFail(store.getEntry("big"), "getEntry")
          assert.strictEqual(entry.size, 1024 * 1024)
          yield* store.set("big", "small")
          assertSomeBytes(yield* store.get("big"), "small")
        }))

      test("stores only the bytes of a view into a larger buffer", (store) =>
        Effect.gen(function*() {
          const backing = patternBytes(64)
          const view = backing.subarray(10, 20)
          yield* store.set("k", view)
          assertSomeBytes(yield* store.get("k"), backing.slice(10, 20))
          yield* store.set("b", Buffer.from("from a buffer"))
          assertSomeBytes(yield* store.get("b"), "from a buffer")
        }))

      test("overwriting replaces the value", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "a long first value")
          yield* store.set("k", "2nd")
          assertSomeBytes(yield* store.get("k"), "2nd")
          assert.strictEqual(yield* store.size, 1)
        }))
    })

    describe("getEntry", () => {
      test("returns none for an absent key", (store) =>
        Effect.gen(function*() {
          assertNone(yield* store.getEntry("absent"), "getEntry")
        }))

      timed("reports key, value, size, expiry and times", (store) =>
        Effect.gen(function*() {
          yield* TestClock.adjust("1 second")
          const start = yield* Clock.currentTimeMillis
          yield* store.set("k", "héllo", { ttl: "10 seconds" })
          const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
          assert.strictEqual(entry.key, "k")
          assertBytes(entry.value, "héllo")
          assert.strictEqual(entry.size, 6)
          assert.strictEqual(Option.getOrNull(entry.expiresAt), start + 10_000)
          assert.strictEqual(entry.createdAt, start)
          assert.strictEqual(entry.updatedAt, start)
        }))

      test("reports no expiry for an entry without ttl", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
          assertNone(entry.expiresAt, "expiresAt")
        }))

      test("createdAt survives an overwrite, updatedAt changes", (store) =>
        Effect.gen(function*() {
          const start = yield* Clock.currentTimeMillis
          yield* store.set("k", "1")
          yield* TestClock.adjust("5 seconds")
          yield* store.set("k", "2")
          const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
          assert.strictEqual(entry.createdAt, start)
          assert.strictEqual(entry.updatedAt, start + 5000)
        }))

      timed("a write over an expired entry starts a new entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "1", { ttl: "1 second" })
          yield* TestClock.adjust("2 seconds")
          const now = yield* Clock.currentTimeMillis
          yield* store.set("k", "2")
          const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
          assert.strictEqual(entry.createdAt, now)
        }))

      if (capabilities.tags) {
        test("reports the tags, each once", (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "v", { tags: ["b", "a", "b"] })
            const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
            assert.deepStrictEqual(sortedTags(entry.tags), ["a", "b"])
            yield* store.set("u", "v")
            const untagged = yield* someOrFail(store.getEntry("u"), "getEntry")
            assert.deepStrictEqual(untagged.tags, [])
          }))
      }

      if (capabilities.metadata) {
        test("reports the metadata as JSON", (store) =>
          Effect.gen(function*() {
            const metadata = { n: 1, s: "é😀", nested: { list: [1, "x", null, true] } }
            yield* store.set("k", "v", { metadata })
            const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
            assert.deepStrictEqual(Option.getOrNull(entry.metadata), metadata)
            yield* store.set("u", "v")
            const plain = yield* someOrFail(store.getEntry("u"), "getEntry")
            assertNone(plain.metadata, "metadata")
          }))

        test("metadata cannot be changed through the object that was written", (store) =>
          Effect.gen(function*() {
            const metadata: { [key: string]: unknown } = { n: 1 }
            yield* store.set("k", "v", { metadata })
            metadata.n = 2
            const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
            assert.deepStrictEqual(Option.getOrNull(entry.metadata), { n: 1 })
          }))
      }
    })

    describe("set", () => {
      timed("applies a ttl", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: "2 seconds" })
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 2000)
          yield* TestClock.adjust("2 seconds")
          assertNone(yield* store.get("k"), "get")
        }))

      timed("accepts a ttl as millis, string or Duration", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "v", { ttl: 1500 })
          yield* store.set("b", "v", { ttl: "3 seconds" })
          yield* store.set("c", "v", { ttl: Duration.minutes(1) })
          assert.strictEqual(ttlOf(yield* store.ttl("a")), 1500)
          assert.strictEqual(ttlOf(yield* store.ttl("b")), 3000)
          assert.strictEqual(ttlOf(yield* store.ttl("c")), 60_000)
        }))

      test("an infinite ttl means no expiry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: Duration.infinity })
          assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
          yield* TestClock.adjust("1 hour")
          assertSomeBytes(yield* store.get("k"), "v")
        }))

      timed("a write without ttl clears the previous expiry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "1", { ttl: "1 second" })
          yield* store.set("k", "2")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
          yield* TestClock.adjust("1 minute")
          assertSomeBytes(yield* store.get("k"), "2")
        }))

      timed("a write with a ttl replaces the previous expiry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "1", { ttl: "10 seconds" })
          yield* store.set("k", "2", { ttl: "1 second" })
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 1000)
        }))

      if (capabilities.tags || capabilities.metadata) {
        timed(
          "replaces the whole entry: tags and metadata are cleared when not given",
          (store) =>
            Effect.gen(function*() {
              yield* store.set("k", "1", {
                ttl: "10 seconds",
                ...(capabilities.tags ? { tags: ["t"] } : {}),
                ...(capabilities.metadata ? { metadata: { m: 1 } } : {})
              })
              yield* store.set("k", "2")
              const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
              assertBytes(entry.value, "2")
              assert.deepStrictEqual(entry.tags, [])
              assertNone(entry.metadata, "metadata")
              assertNone(entry.expiresAt, "expiresAt")
            })
        )
      }

      if (capabilities.tags && capabilities.metadata) {
        test("replaces tags and metadata with the ones given", (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "1", { tags: ["a", "b"], metadata: { v: 1 } })
            yield* store.set("k", "2", { tags: ["c"], metadata: { v: 2 } })
            const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
            assert.deepStrictEqual(sortedTags(entry.tags), ["c"])
            assert.deepStrictEqual(Option.getOrNull(entry.metadata), { v: 2 })
          }))
      }
    })

    describe("getMany", () => {
      test("returns values in the order asked, none for missing keys", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          yield* store.set("b", "2")
          const found = yield* store.getMany(["b", "missing", "a"])
          assert.strictEqual(found.length, 3)
          assertSomeBytes(found[0] ?? Option.none(), "2", "b")
          assertNone(found[1] ?? Option.none(), "missing")
          assertSomeBytes(found[2] ?? Option.none(), "1", "a")
        }))

      test("answers a key asked twice twice", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          const found = yield* store.getMany(["a", "a"])
          assert.strictEqual(found.length, 2)
          assertSomeBytes(found[0] ?? Option.none(), "1")
          assertSomeBytes(found[1] ?? Option.none(), "1")
        }))

      test("returns an empty array for no keys", (store) =>
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* store.getMany([]), [])
        }))

      test("accepts any iterable of keys", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          const found = yield* store.getMany(new Set(["a", "b"]))
          assert.strictEqual(found.length, 2)
          assertSomeBytes(found[0] ?? Option.none(), "1")
        }))
    })

    describe("setMany", () => {
      test("writes every entry", (store) =>
        Effect.gen(function*() {
          yield* store.setMany([["a", "1"], ["b", utf8("2")], ["c", ""]])
          assertSomeBytes(yield* store.get("a"), "1")
          assertSomeBytes(yield* store.get("b"), "2")
          assertSomeBytes(yield* store.get("c"), "")
          assert.strictEqual(yield* store.size, 3)
        }))

      timed("applies each entry's own ttl, none included", (store) =>
        Effect.gen(function*() {
          yield* store.setMany([["short", "1", { ttl: "1 second" }], ["forever", "2"], ["long", "3", {
            ttl: "10 seconds"
          }]])
          assert.strictEqual(ttlOf(yield* store.ttl("short")), 1000)
          assert.strictEqual(ttlOf(yield* store.ttl("forever")), "infinity")
          assert.strictEqual(ttlOf(yield* store.ttl("long")), 10_000)
          yield* TestClock.adjust("1 second")
          assert.isFalse(yield* store.has("short"))
          assert.isTrue(yield* store.has("forever"))
          assert.isTrue(yield* store.has("long"))
          yield* TestClock.adjust("9 seconds")
          assert.isFalse(yield* store.has("long"))
          assert.isTrue(yield* store.has("forever"))
        }))

      timed("a later duplicate key wins, value and ttl", (store) =>
        Effect.gen(function*() {
          yield* store.setMany([["k", "first", { ttl: "1 second" }], ["other", "x"], ["k", "second"]])
          assertSomeBytes(yield* store.get("k"), "second")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
          assert.strictEqual(yield* store.size, 2)
        }))

      timed("overwrites existing entries", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "old", { ttl: "1 second" })
          yield* store.setMany([["a", "new"]])
          assertSomeBytes(yield* store.get("a"), "new")
          assert.strictEqual(ttlOf(yield* store.ttl("a")), "infinity")
        }))

      test("accepts no entries", (store) =>
        Effect.gen(function*() {
          yield* store.setMany([])
          assert.strictEqual(yield* store.size, 0)
        }))

      if (capabilities.tags && capabilities.metadata) {
        test("applies each entry's tags and metadata", (store) =>
          Effect.gen(function*() {
            yield* store.setMany([["a", "1", { tags: ["t"], metadata: { n: 1 } }], ["b", "2"]])
            const a = yield* someOrFail(store.getEntry("a"), "a")
            const b = yield* someOrFail(store.getEntry("b"), "b")
            assert.deepStrictEqual(sortedTags(a.tags), ["t"])
            assert.deepStrictEqual(Option.getOrNull(a.metadata), { n: 1 })
            assert.deepStrictEqual(b.tags, [])
            assertNone(b.metadata, "b metadata")
          }))
      }
    })

    describe("remove, removeMany, pop, clear", () => {
      test("remove deletes a live entry and reports true", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          assert.isTrue(yield* store.remove("k"))
          assertNone(yield* store.get("k"), "get")
          assert.isFalse(yield* store.has("k"))
        }))

      test("remove reports false for an absent key", (store) =>
        Effect.gen(function*() {
          assert.isFalse(yield* store.remove("absent"))
        }))

      timed("remove reports false for an expired entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: "1 second" })
          yield* TestClock.adjust("1 second")
          assert.isFalse(yield* store.remove("k"))
        }))

      timed("removeMany returns the count of live entries removed", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          yield* store.set("b", "2")
          yield* store.set("expired", "3", { ttl: "1 second" })
          yield* store.set("kept", "4")
          yield* TestClock.adjust("1 second")
          assert.strictEqual(yield* store.removeMany(["a", "b", "expired", "absent"]), 2)
          assert.isFalse(yield* store.has("a"))
          assert.isFalse(yield* store.has("b"))
          assert.isTrue(yield* store.has("kept"))
          assert.strictEqual(yield* store.size, 1)
        }))

      test("removeMany counts a key given twice once", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          assert.strictEqual(yield* store.removeMany(["a", "a"]), 1)
        }))

      test("removeMany of no keys removes nothing", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          assert.strictEqual(yield* store.removeMany([]), 0)
          assert.strictEqual(yield* store.size, 1)
        }))

      test("pop returns the value and removes the entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          assertSomeBytes(yield* store.pop("k"), "v")
          assertNone(yield* store.get("k"), "get after pop")
          assertNone(yield* store.pop("k"), "second pop")
        }))

      timed("pop returns none for an absent or expired key", (store) =>
        Effect.gen(function*() {
          assertNone(yield* store.pop("absent"), "absent")
          yield* store.set("k", "v", { ttl: "1 second" })
          yield* TestClock.adjust("1 second")
          assertNone(yield* store.pop("k"), "expired")
        }))

      timed("clear removes every entry, live and expired", (store) =>
        Effect.gen(function*() {
          yield* store.setMany([["a", "1"], ["b", "2", { ttl: "1 second" }], ["c", "3", { ttl: "1 hour" }]])
          yield* TestClock.adjust("1 second")
          yield* store.clear
          assert.strictEqual(yield* store.size, 0)
          assertNone(yield* store.get("a"), "a")
          assertNone(yield* store.get("c"), "c")
          assert.strictEqual(yield* store.expire, 0)
        }))

      test("the store is usable after clear", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          yield* store.clear
          yield* store.set("a", "2")
          assertSomeBytes(yield* store.get("a"), "2")
          assert.strictEqual(yield* store.size, 1)
        }))
    })

    describe("add", () => {
      timed("writes when the key is absent and reports true", (store) =>
        Effect.gen(function*() {
          assert.isTrue(yield* store.add("k", "v", { ttl: "5 seconds" }))
          assertSomeBytes(yield* store.get("k"), "v")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 5000)
        }))

      timed("leaves a live entry alone and reports false", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old", { ttl: "5 seconds" })
          assert.isFalse(yield* store.add("k", "new"))
          assertSomeBytes(yield* store.get("k"), "old")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 5000)
        }))

      timed("writes over an expired entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old", { ttl: "1 second" })
          yield* TestClock.adjust("1 second")
          assert.isTrue(yield* store.add("k", "new"))
          assertSomeBytes(yield* store.get("k"), "new")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
        }))

      test("only one of many concurrent adds wins", (store) =>
        Effect.gen(function*() {
          const results = yield* Effect.all(
            Array.from({ length: 20 }, (_, i) => store.add("k", `v${i}`)),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((won) => won).length, 1)
          const winner = results.indexOf(true)
          assertSomeBytes(yield* store.get("k"), `v${winner}`)
        }))
    })

    describe("touch and ttl", () => {
      test("ttl is none for an absent key", (store) =>
        Effect.gen(function*() {
          assert.strictEqual(ttlOf(yield* store.ttl("absent")), "none")
        }))

      test("ttl is infinity for an entry without expiry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          const ttl = yield* store.ttl("k")
          assert.isTrue(Option.isSome(ttl) && Duration.equals(ttl.value, Duration.infinity))
        }))

      timed("ttl is the remaining time, decreasing with the clock", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: "10 seconds" })
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 10_000)
          yield* TestClock.adjust("2500 millis")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 7500)
          yield* TestClock.adjust("7499 millis")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 1)
        }))

      timed("touch gives an entry a new ttl", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          assert.isTrue(yield* store.touch("k", "5 seconds"))
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 5000)
          yield* TestClock.adjust("5 seconds")
          assertNone(yield* store.get("k"), "get")
        }))

      timed("touch can extend an expiring entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: "1 second" })
          yield* TestClock.adjust("500 millis")
          assert.isTrue(yield* store.touch("k", "2 seconds"))
          yield* TestClock.adjust("1 second")
          assertSomeBytes(yield* store.get("k"), "v")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 1000)
        }))

      timed("touch with undefined removes the expiry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: "1 second" })
          assert.isTrue(yield* store.touch("k", undefined))
          assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
          yield* TestClock.adjust("1 hour")
          assertSomeBytes(yield* store.get("k"), "v")
        }))

      timed("touch reports false for an absent key and does not create it", (store) =>
        Effect.gen(function*() {
          assert.isFalse(yield* store.touch("absent", "1 second"))
          assert.isFalse(yield* store.has("absent"))
          assert.strictEqual(yield* store.size, 0)
        }))

      timed("touch reports false for an expired entry and does not revive it", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: "1 second" })
          yield* TestClock.adjust("1 second")
          assert.isFalse(yield* store.touch("k", "1 hour"))
          assertNone(yield* store.get("k"), "get")
        }))

      timed("touch keeps the value", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", allBytes)
          yield* store.touch("k", "1 minute")
          assertSomeBytes(yield* store.get("k"), allBytes)
        }))

      if (capabilities.tags && capabilities.metadata) {
        timed("touch keeps tags and metadata", (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "v", { tags: ["t"], metadata: { m: 1 } })
            yield* store.touch("k", "1 minute")
            const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
            assert.deepStrictEqual(sortedTags(entry.tags), ["t"])
            assert.deepStrictEqual(Option.getOrNull(entry.metadata), { m: 1 })
          }))
      }
    })

    if (capabilities.expiry) {
      describe("expiry", () => {
        timed("an entry is visible to every read just before its expiry", (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "v", { ttl: "1 second" })
            yield* TestClock.adjust("999 millis")
            assertSomeBytes(yield* store.get("k"), "v", "get")
            assert.strictEqual(Option.getOrNull(yield* store.getString("k")), "v")
            assert.isTrue(yield* store.has("k"), "has")
            const [many] = yield* store.getMany(["k"])
            assertSomeBytes(many ?? Option.none(), "v", "getMany")
            assert.strictEqual(yield* store.size, 1, "size")
            assert.strictEqual(ttlOf(yield* store.ttl("k")), 1, "ttl")
            assert.isTrue(Option.isSome(yield* store.getEntry("k")), "getEntry")
          }))

        timed("an entry is invisible to every read at its expiry", (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "v", { ttl: "1 second" })
            yield* TestClock.adjust("1 second")
            assertNone(yield* store.get("k"), "get")
            assertNone(yield* store.getString("k"), "getString")
            assert.isFalse(yield* store.has("k"), "has")
            const [many] = yield* store.getMany(["k"])
            assertNone(many ?? Option.none(), "getMany")
            assert.strictEqual(yield* store.size, 0, "size")
            assert.strictEqual(ttlOf(yield* store.ttl("k")), "none", "ttl")
            assertNone(yield* store.getEntry("k"), "getEntry")
          }))

        timed("an entry stays invisible long after its expiry", (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "v", { ttl: "1 second" })
            yield* TestClock.adjust("1 hour")
            assertNone(yield* store.get("k"), "get")
            assert.isFalse(yield* store.has("k"), "has")
            assert.strictEqual(yield* store.size, 0, "size")
            assertNone(yield* store.getEntry("k"), "getEntry")
          }))

        timed("size counts live entries only", (store) =>
          Effect.gen(function*() {
            yield* store.set("a", "1")
            yield* store.set("b", "2", { ttl: "1 second" })
            yield* store.set("c", "3", { ttl: "2 seconds" })
            yield* store.set("a", "again")
            assert.strictEqual(yield* store.size, 3)
            yield* TestClock.adjust("1 second")
            assert.strictEqual(yield* store.size, 2)
            yield* TestClock.adjust("1 second")
            assert.strictEqual(yield* store.size, 1)
          }))

        timed("expire removes expired entries and returns their count", (store) =>
          Effect.gen(function*() {
            yield* store.set("a", "1", { ttl: "1 second" })
            yield* store.set("b", "2", { ttl: "1 second" })
            yield* store.set("c", "3", { ttl: "2 seconds" })
            yield* store.set("d", "4")
            assert.strictEqual(yield* store.expire, 0)
            yield* TestClock.adjust("1 second")
            assert.strictEqual(yield* store.expire, 2)
            assert.strictEqual(yield* store.expire, 0)
            yield* TestClock.adjust("1 second")
            assert.strictEqual(yield* store.expire, 1)
            assert.strictEqual(yield* store.size, 1)
            assertSomeBytes(yield* store.get("d"), "4")
          }))
      })
    }

    describe("stats", () => {
      test("counts hits, misses, writes and removes", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          assertSomeBytes(yield* store.get("a"), "1")
          assertNone(yield* store.get("b"), "b")
          yield* store.getString("a")
          yield* store.getEntry("a")
          yield* store.getMany(["a", "b"])
          yield* store.setMany([["b", "2"], ["c", "3"]])
          assert.isTrue(yield* store.remove("c"))
          assert.isFalse(yield* store.remove("c"))
          assert.strictEqual(yield* store.removeMany(["a", "b", "absent"]), 2)
          const stats = yield* store.stats
          assert.deepStrictEqual(
            { hits: stats.hits, misses: stats.misses, writes: stats.writes, removes: stats.removes },
            { hits: 4, misses: 2, writes: 3, removes: 3 }
          )
        }))

      test("counts writes and removes of the atomic operations", (store) =>
        Effect.gen(function*() {
          yield* store.increment("n") // write
          yield* store.add("a", "1") // write
          yield* store.add("a", "2") // nothing
          yield* store.append("a", "x") // write
          yield* store.compareAndSwap("a", Option.some("1x"), Option.some("y")) // write
          yield* store.compareAndSwap("a", Option.some("nope"), Option.some("z")) // nothing
          yield* store.update("u", () => Option.some("u")) // write
          yield* store.update("u", () => Option.none()) // remove
          yield* store.pop("a") // remove
          yield* store.pop("a") // nothing
          yield* store.compareAndSwap("n", Option.some("1"), Option.none()) // remove
          const stats = yield* store.stats
          assert.deepStrictEqual({ writes: stats.writes, removes: stats.removes }, { writes: 5, removes: 3 })
        }))

      timed("a rejected write is not counted", (store) =>
        Effect.gen(function*() {
          yield* Effect.flip(store.set("k", "v", { ttl: 0 }))
          yield* Effect.flip(store.setMany([["a", "1"], ["", "2"]]))
          yield* store.set("x", "1.5")
          yield* Effect.flip(store.increment("x"))
          const stats = yield* store.stats
          assert.strictEqual(stats.writes, 1)
        }))

      test("resetStats zeroes every counter", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          yield* store.get("a")
          yield* store.get("b")
          yield* store.remove("a")
          yield* store.resetStats
          assert.deepStrictEqual(yield* store.stats, {
            hits: 0,
            misses: 0,
            writes: 0,
            removes: 0,
            evictions: 0,
            expirations: 0
          })
          yield* store.get("b")
          assert.strictEqual((yield* store.stats).misses, 1)
        }))
    })

    describe("increment and decrement", () => {
      test("a value starting with a byte order mark is not a number", (store) =>
        Effect.gen(function*() {
          yield* store.set("n", "\uFEFF41")
          yield* expectError(store.increment("n"), "NotANumber", "increment")
          assertSomeBytes(yield* store.get("n"), "\uFEFF41")
        }))

      test("an absent counter starts from 0", (store) =>
        Effect.gen(function*() {
          assert.strictEqual(yield* store.increment("n"), 1n)
          assert.strictEqual(yield* store.increment("n", 5), 6n)
          assert.strictEqual(yield* store.decrement("n", 2), 4n)
          assert.strictEqual(yield* store.decrement("n"), 3n)
          assert.strictEqual(Option.getOrNull(yield* store.getString("n")), "3")
        }))

      test("an absent counter starts from initial", (store) =>
        Effect.gen(function*() {
          assert.strictEqual(yield* store.increment("a", 5, { initial: 10 }), 15n)
          assert.strictEqual(yield* store.increment("a", 1, { initial: 100 }), 16n)
          assert.strictEqual(yield* store.decrement("b", 1, { initial: 10n }), 9n)
        }))

      test("goes below zero", (store) =>
        Effect.gen(function*() {
          assert.strictEqual(yield* store.decrement("n", 3), -3n)
          assert.strictEqual(Option.getOrNull(yield* store.getString("n")), "-3")
          assert.strictEqual(yield* store.increment("n", -2), -5n)
        }))

      test("reads a counter written with set", (store) =>
        Effect.gen(function*() {
          yield* store.set("n", "41")
          assert.strictEqual(yield* store.increment("n"), 42n)
          yield* store.set("m", "-7")
          assert.strictEqual(yield* store.decrement("m", 3), -10n)
        }))

      test("is exact beyond 2^53", (store) =>
        Effect.gen(function*() {
          yield* store.set("n", "9007199254740993")
          assert.strictEqual(yield* store.increment("n"), 9007199254740994n)
          assert.strictEqual(Option.getOrNull(yield* store.getString("n")), "9007199254740994")
          assert.strictEqual(yield* store.increment("n", 2n ** 70n), 9007199254740994n + 2n ** 70n)
          assert.strictEqual(yield* store.decrement("big", 2n ** 64n), -(2n ** 64n))
          assert.strictEqual(Option.getOrNull(yield* store.getString("big")), (-(2n ** 64n)).toString())
        }))

      for (const value of ["1.5", "abc", "1e3", "0x10", "", " 1"]) {
        test(`fails with NotANumber on ${JSON.stringify(value)} and leaves it`, (store) =>
          Effect.gen(function*() {
            yield* store.set("x", value)
            yield* expectError(store.increment("x"), "NotANumber", "increment")
            yield* expectError(store.decrement("x"), "NotANumber", "decrement")
            assert.strictEqual(Option.getOrNull(yield* store.getString("x")), value)
          }))
      }

      test("fails with InvalidArgument on a delta that is not a safe integer", (store) =>
        Effect.gen(function*() {
          yield* expectError(store.increment("n", 1.5), "InvalidArgument", "1.5")
          yield* expectError(store.increment("n", Number.NaN), "InvalidArgument", "NaN")
          yield* expectError(store.increment("n", 2 ** 60), "InvalidArgument", "2^60")
          assert.isFalse(yield* store.has("n"))
        }))

      timed("gives a new counter its ttl", (store) =>
        Effect.gen(function*() {
          yield* store.increment("n", 1, { ttl: "10 seconds" })
          assert.strictEqual(ttlOf(yield* store.ttl("n")), 10_000)
          yield* TestClock.adjust("10 seconds")
          assert.isFalse(yield* store.has("n"))
        }))

      timed("keeps the ttl of an existing counter", (store) =>
        Effect.gen(function*() {
          yield* store.increment("n", 1, { ttl: "10 seconds" })
          yield* TestClock.adjust("4 seconds")
          assert.strictEqual(yield* store.increment("n", 1, { ttl: "1 hour" }), 2n)
          assert.strictEqual(ttlOf(yield* store.ttl("n")), 6000)
          yield* store.set("m", "5", { ttl: "3 seconds" })
          yield* store.decrement("m")
          assert.strictEqual(ttlOf(yield* store.ttl("m")), 3000)
          yield* store.set("forever", "5")
          yield* store.increment("forever", 1, { ttl: "1 second" })
          assert.strictEqual(ttlOf(yield* store.ttl("forever")), "infinity")
        }))

      timed("an expired counter starts again from initial", (store) =>
        Effect.gen(function*() {
          yield* store.increment("n", 5, { ttl: "1 second" })
          yield* TestClock.adjust("1 second")
          assert.strictEqual(yield* store.increment("n", 1, { initial: 100 }), 101n)
          assert.strictEqual(ttlOf(yield* store.ttl("n")), "infinity")
        }))

      test("concurrent increments are atomic", (store) =>
        Effect.gen(function*() {
          yield* Effect.all(Array.from({ length: 100 }, () => store.increment("n")), { concurrency: "unbounded" })
          assert.strictEqual(Option.getOrNull(yield* store.getString("n")), "100")
        }))
    })

    describe("compareAndSwap", () => {
      test("an expected or next value that is not an Option of a value fails with InvalidArgument", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          const notAValue = null as unknown as string
          yield* expectError(
            store.compareAndSwap("k", Option.some(notAValue), Option.some("x")),
            "InvalidArgument",
            "expected"
          )
          yield* expectError(store.compareAndSwap("k", "v" as never, Option.some("x")), "InvalidArgument", "expected")
          yield* expectError(store.compareAndSwap("k", Option.some("v"), "x" as never), "InvalidArgument", "next")
          assertSomeBytes(yield* store.get("k"), "v")
        }))

      test("expected none writes when the key is absent", (store) =>
        Effect.gen(function*() {
          assert.isTrue(yield* store.compareAndSwap("k", Option.none(), Option.some("v")))
          assertSomeBytes(yield* store.get("k"), "v")
        }))

      test("expected none fails when the key is present", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old")
          assert.isFalse(yield* store.compareAndSwap("k", Option.none(), Option.some("new")))
          assertSomeBytes(yield* store.get("k"), "old")
        }))

      timed("expected none writes over an expired entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old", { ttl: "1 second" })
          yield* TestClock.adjust("1 second")
          assert.isTrue(yield* store.compareAndSwap("k", Option.none(), Option.some("new")))
          assertSomeBytes(yield* store.get("k"), "new")
        }))

      test("a matching value is replaced", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old")
          assert.isTrue(yield* store.compareAndSwap("k", Option.some("old"), Option.some(allBytes)))
          assertSomeBytes(yield* store.get("k"), allBytes)
          assert.isTrue(yield* store.compareAndSwap("k", Option.some(allBytes), Option.some("")))
          assertSomeBytes(yield* store.get("k"), "")
          assert.isTrue(yield* store.compareAndSwap("k", Option.some(new Uint8Array(0)), Option.some("x")))
        }))

      timed("a mismatch returns false and leaves the value", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old", { ttl: "10 seconds" })
          assert.isFalse(yield* store.compareAndSwap("k", Option.some("other"), Option.some("new")))
          assert.isFalse(yield* store.compareAndSwap("k", Option.some("ol"), Option.some("new")))
          assert.isFalse(yield* store.compareAndSwap("k", Option.some("old "), Option.none()))
          assertSomeBytes(yield* store.get("k"), "old")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 10_000)
        }))

      test("an expected value fails when the key is absent", (store) =>
        Effect.gen(function*() {
          assert.isFalse(yield* store.compareAndSwap("k", Option.some(""), Option.some("new")))
          assert.isFalse(yield* store.has("k"))
        }))

      test("next none deletes the entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old")
          assert.isTrue(yield* store.compareAndSwap("k", Option.some("old"), Option.none()))
          assert.isFalse(yield* store.has("k"))
        }))

      test("expected none and next none on an absent key succeeds and writes nothing", (store) =>
        Effect.gen(function*() {
          assert.isTrue(yield* store.compareAndSwap("k", Option.none(), Option.none()))
          assert.isFalse(yield* store.has("k"))
        }))

      timed("applies the write options to the new value", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old")
          assert.isTrue(yield* store.compareAndSwap("k", Option.some("old"), Option.some("new"), { ttl: "2 seconds" }))
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 2000)
        }))

      test("exactly one of many concurrent swaps from the same value wins", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "0")
          const results = yield* Effect.all(
            Array.from({ length: 20 }, (_, i) => store.compareAndSwap("k", Option.some("0"), Option.some(`${i + 1}`))),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(results.filter((won) => won).length, 1)
          assertSomeBytes(yield* store.get("k"), `${results.indexOf(true) + 1}`)
        }))
    })

    describe("append", () => {
      test("creates an absent entry and returns its length", (store) =>
        Effect.gen(function*() {
          assert.strictEqual(yield* store.append("k", "abc"), 3)
          assertSomeBytes(yield* store.get("k"), "abc")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
        }))

      test("appends bytes and returns the new length", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "ab")
          assert.strictEqual(yield* store.append("k", "cd"), 4)
          assert.strictEqual(yield* store.append("k", allBytes), 260)
          assert.strictEqual(yield* store.append("k", ""), 260)
          const expected = new Uint8Array(260)
          expected.set(utf8("abcd"))
          expected.set(allBytes, 4)
          assertSomeBytes(yield* store.get("k"), expected)
        }))

      timed("keeps the ttl of an existing entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "a", { ttl: "5 seconds" })
          yield* TestClock.adjust("1 second")
          yield* store.append("k", "b")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 4000)
        }))

      timed("starts afresh over an expired entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old", { ttl: "1 second" })
          yield* TestClock.adjust("1 second")
          assert.strictEqual(yield* store.append("k", "new"), 3)
          assertSomeBytes(yield* store.get("k"), "new")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
        }))

      test("concurrent appends are atomic", (store) =>
        Effect.gen(function*() {
          yield* Effect.all(Array.from({ length: 50 }, () => store.append("k", "x")), { concurrency: "unbounded" })
          assert.strictEqual(Option.getOrNull(yield* store.getString("k")), "x".repeat(50))
        }))
    })

    describe("update", () => {
      test("sees none for an absent key and writes the result", (store) =>
        Effect.gen(function*() {
          const seen: Array<Option.Option<Uint8Array>> = []
          const result = yield* store.update("k", (current) => {
            seen.push(current)
            return Option.some("new")
          })
          assert.isTrue(seen.length >= 1 && seen.every(Option.isNone))
          assertSomeBytes(result, "new")
          assertSomeBytes(yield* store.get("k"), "new")
        }))

      test("sees the current value and returns the new one", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "abc")
          const result = yield* store.update("k", (current) =>
            Option.map(current, (bytes) => utf8(new TextDecoder().decode(bytes).toUpperCase())))
          assertSomeBytes(result, "ABC")
          assertSomeBytes(yield* store.get("k"), "ABC")
        }))

      test("none removes the entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          const result = yield* store.update("k", () => Option.none())
          assertNone(result, "result")
          assert.isFalse(yield* store.has("k"))
        }))

      test("none on an absent key writes nothing", (store) =>
        Effect.gen(function*() {
          assertNone(yield* store.update("k", () => Option.none()), "result")
          assert.strictEqual(yield* store.size, 0)
        }))

      timed("sees none for an expired entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old", { ttl: "1 second" })
          yield* TestClock.adjust("1 second")
          const result = yield* store.update("k", (current) => Option.some(Option.isNone(current) ? "fresh" : "stale"))
          assertSomeBytes(result, "fresh")
        }))

      timed("applies the write options", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: "1 hour" })
          yield* store.update("k", () => Option.some("w"), { ttl: "3 seconds" })
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 3000)
          yield* store.update("k", () => Option.some("x"))
          assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
        }))

      test("concurrent updates are atomic read-modify-writes", (store) =>
        Effect.gen(function*() {
          const bump = (current: Option.Option<Uint8Array>) =>
            Option.some(
              String(
                Number(Option.match(current, { onNone: () => "0", onSome: (b) => new TextDecoder().decode(b) })) + 1
              )
            )
          yield* Effect.all(Array.from({ length: 50 }, () => store.update("k", bump)), { concurrency: "unbounded" })
          assert.strictEqual(Option.getOrNull(yield* store.getString("k")), "50")
        }))
    })

    if (capabilities.metadata) {
      describe("setMetadata", () => {
        timed("replaces the metadata of a live entry and keeps the rest", (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "v", { ttl: "10 seconds", metadata: { a: 1 } })
            assert.isTrue(yield* store.setMetadata("k", { b: [2] }))
            const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
            assert.deepStrictEqual(Option.getOrNull(entry.metadata), { b: [2] })
            assertBytes(entry.value, "v")
            assert.strictEqual(ttlOf(yield* store.ttl("k")), 10_000)
          }))

        timed("reports false for an absent or expired key", (store) =>
          Effect.gen(function*() {
            assert.isFalse(yield* store.setMetadata("absent", { a: 1 }))
            yield* store.set("k", "v", { ttl: "1 second" })
            yield* TestClock.adjust("1 second")
            assert.isFalse(yield* store.setMetadata("k", { a: 1 }))
            assert.strictEqual(yield* store.size, 0)
          }))

        test("fails with InvalidArgument on non-JSON metadata and keeps the old", (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "v", { metadata: { a: 1 } })
            yield* expectError(store.setMetadata("k", { n: 1n }), "InvalidArgument", "bigint")
            yield* expectError(store.setMetadata("k", circular()), "InvalidArgument", "circular")
            const entry = yield* someOrFail(store.getEntry("k"), "getEntry")
            assert.deepStrictEqual(Option.getOrNull(entry.metadata), { a: 1 })
          }))
      })
    }

    if (capabilities.tags) {
      describe("tags", () => {
        timed(
          "removeTag removes every live entry carrying the tag and returns the count",
          (store) =>
            Effect.gen(function*() {
              yield* store.set("a", "1", { tags: ["x", "y"] })
              yield* store.set("b", "2", { tags: ["x"] })
              yield* store.set("c", "3", { tags: ["y"] })
              yield* store.set("d", "4")
              yield* store.set("e", "5", { tags: ["x"], ttl: "1 second" })
              yield* TestClock.adjust("1 second")
              assert.strictEqual(yield* store.removeTag("x"), 2)
              assert.isFalse(yield* store.has("a"))
              assert.isFalse(yield* store.has("b"))
              assert.isTrue(yield* store.has("c"))
              assert.isTrue(yield* store.has("d"))
              assert.strictEqual(yield* store.removeTag("x"), 0)
            })
        )

        test("removeTag counts its removals in stats", (store) =>
          Effect.gen(function*() {
            yield* store.setMany([["a", "1", { tags: ["x"] }], ["b", "2", { tags: ["x"] }]])
            assert.strictEqual(yield* store.removeTag("x"), 2)
            assert.strictEqual((yield* store.stats).removes, 2)
          }))

        test("an overwrite without the tag drops the entry from it", (store) =>
          Effect.gen(function*() {
            yield* store.set("a", "1", { tags: ["x"] })
            yield* store.set("a", "2")
            assert.strictEqual(yield* store.removeTag("x"), 0)
            assert.isTrue(yield* store.has("a"))
          }))

        test("an empty tag is InvalidArgument", (store) =>
          Effect.gen(function*() {
            yield* expectError(store.set("k", "v", { tags: [""] }), "InvalidArgument", "set")
            assert.isFalse(yield* store.has("k"))
          }))
      })
    }

    describe("invalid keys", () => {
      for (const [label, key] of invalidKeys) {
        for (const [method, operation] of keyedOperations) {
          test(`${method} rejects ${label} with InvalidKey`, (store) =>
            expectError(operation(store, key), "InvalidKey", `${method}(${JSON.stringify(key.slice(0, 20))})`))
        }
      }

      test("setMany with one invalid key writes nothing", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "old")
          yield* expectError(store.setMany([["a", "new"], ["b", "1"], ["", "2"], ["c", "3"]]), "InvalidKey", "setMany")
          assertSomeBytes(yield* store.get("a"), "old")
          assert.isFalse(yield* store.has("b"))
          assert.isFalse(yield* store.has("c"))
          assert.strictEqual(yield* store.size, 1)
        }))

      test("removeMany with one invalid key removes nothing", (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "1")
          yield* expectError(store.removeMany(["a", "\uD800"]), "InvalidKey", "removeMany")
          assert.isTrue(yield* store.has("a"))
        }))
    })

    describe("invalid arguments", () => {
      test("a string value that is not valid Unicode fails with InvalidArgument and writes nothing", (store) =>
        Effect.gen(function*() {
          yield* expectError(store.set("k", "a\uD800b"), "InvalidArgument", "set")
          yield* expectError(store.setMany([["k", "\uDC00"]]), "InvalidArgument", "setMany")
          yield* expectError(store.add("k", "\uD800"), "InvalidArgument", "add")
          yield* expectError(store.append("k", "\uD800"), "InvalidArgument", "append")
          assert.strictEqual(yield* store.size, 0)
        }))

      test("tags given as one string or as null fail with InvalidArgument and write nothing", (store) =>
        Effect.gen(function*() {
          yield* expectError(store.set("k", "v", { tags: "urgent" }), "InvalidArgument", "a string")
          yield* expectError(store.set("k", "v", { tags: null as never }), "InvalidArgument", "null")
          yield* expectError(store.setMany([["k", "v", { tags: "urgent" }]]), "InvalidArgument", "setMany")
          assert.strictEqual(yield* store.size, 0)
        }))

      for (const [label, ttl] of invalidTtls) {
        for (const [method, operation] of ttlOperations) {
          timed(
            `${method} rejects a ttl of ${label} with InvalidArgument and writes nothing`,
            (store) =>
              Effect.gen(function*() {
                yield* expectError(operation(store, ttl), "InvalidArgument", method)
                if (method === "touch") {
                  assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
                } else {
                  assert.strictEqual(yield* store.size, 0)
                }
              })
          )
        }
      }

      timed("set with an invalid ttl leaves the previous entry", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "old", { ttl: "10 seconds" })
          yield* expectError(store.set("k", "new", { ttl: -1 }), "InvalidArgument", "set")
          assertSomeBytes(yield* store.get("k"), "old")
          assert.strictEqual(ttlOf(yield* store.ttl("k")), 10_000)
        }))

      test("an invalid ttl is rejected whatever the state of the key", (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "1")
          yield* expectError(store.add("k", "v", { ttl: 0 }), "InvalidArgument", "add over a live entry")
          yield* expectError(store.increment("k", 1, { ttl: 0 }), "InvalidArgument", "increment of an existing counter")
          yield* expectError(
            store.compareAndSwap("k", Option.some("mismatch"), Option.some("v"), { ttl: 0 }),
            "InvalidArgument",
            "compareAndSwap that does not match"
          )
          yield* expectError(store.update("k", () => Option.none(), { ttl: 0 }), "InvalidArgument", "update to none")
          assertSomeBytes(yield* store.get("k"), "1")
        }))

      timed("setMany with one invalid ttl writes nothing", (store) =>
        Effect.gen(function*() {
          yield* expectError(
            store.setMany([["a", "1"], ["b", "2", { ttl: "1 second" }], ["c", "3", { ttl: Number.NaN }]]),
            "InvalidArgument",
            "setMany"
          )
          assert.strictEqual(yield* store.size, 0)
        }))

      if (capabilities.metadata) {
        test("set rejects non-JSON metadata with InvalidArgument", (store) =>
          Effect.gen(function*() {
            yield* expectError(store.set("k", "v", { metadata: { n: 1n } }), "InvalidArgument", "bigint")
            yield* expectError(store.set("k", "v", { metadata: circular() }), "InvalidArgument", "circular")
            // values JSON would silently change are refused, not stored altered
            yield* expectError(store.set("k", "v", { metadata: { when: new Date(0) } }), "InvalidArgument", "Date")
            yield* expectError(store.set("k", "v", { metadata: { m: new Map() } }), "InvalidArgument", "Map")
            yield* expectError(store.set("k", "v", { metadata: { x: Number.NaN } }), "InvalidArgument", "NaN")
            yield* expectError(
              store.set("k", "v", { metadata: ["not", "an", "object"] as unknown as KeyValueStore.Metadata }),
              "InvalidArgument",
              "array"
            )
            assert.isFalse(yield* store.has("k"))
          }))

        test("setMany with one entry of non-JSON metadata writes nothing", (store) =>
          Effect.gen(function*() {
            yield* expectError(
              store.setMany([["a", "1", { metadata: { ok: true } }], ["b", "2", { metadata: { n: 1n } }]]),
              "InvalidArgument",
              "setMany"
            )
            assert.strictEqual(yield* store.size, 0)
          }))
      }
    })

    if (capabilities.enumeration) enumerationCases(test, timed)
    if (capabilities.transactions) transactionCases(test, capabilities)
    getOrSetCases(test, timed)
    hostileSuite(layer, capabilities, name)

    describe("capabilities", () => {
      if (capabilities.enumeration) {
        timed("keys and entries list the live entries", (store) =>
          Effect.gen(function*() {
            yield* store.setMany([["b", "2"], ["a", "1"], ["gone", "x", { ttl: "1 second" }]])
            yield* TestClock.adjust("1 second")
            const keys = Chunk.toReadonlyArray(yield* Stream.runCollect(store.keys()))
            assert.deepStrictEqual([...keys].sort(), ["a", "b"])
            const entries = Chunk.toReadonlyArray(yield* Stream.runCollect(store.entries()))
            assert.strictEqual(entries.length, 2)
            for (const [key, value] of entries) assertBytes(value, key === "a" ? "1" : "2", key)
          }))

        test("countPattern and removePattern match one segment with *", (store) =>
          Effect.gen(function*() {
            const sep = store.separator
            yield* store.setMany([[`a${sep}x`, "1"], [`a${sep}y`, "2"], [`b${sep}x`, "3"]])
            assert.strictEqual(yield* store.countPattern(`a${sep}*`), 2)
            assert.strictEqual(yield* store.removePattern(`a${sep}*`), 2)
            assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Stream.runCollect(store.keys())), [`b${sep}x`])
          }))
      } else {
        test("keys, entries, countPattern and removePattern fail with Unsupported", (store) =>
          Effect.gen(function*() {
            yield* store.set("a", "1")
            yield* expectError(Stream.runCollect(store.keys()), "Unsupported", "keys")
            yield* expectError(Stream.runCollect(store.keys("a*")), "Unsupported", "keys(pattern)")
            yield* expectError(Stream.runCollect(store.entries()), "Unsupported", "entries")
            yield* expectError(store.countPattern("*"), "Unsupported", "countPattern")
            yield* expectError(store.removePattern("*"), "Unsupported", "removePattern")
            assert.isTrue(yield* store.has("a"))
          }))
      }

      if (capabilities.orderedKeys && capabilities.enumeration) {
        test("keys come in ascending UTF-8 byte order", (store) =>
          Effect.gen(function*() {
            const keys = ["b", "a", "é", "Z", "😀", "\uFF21", "a.b", "aa"]
            yield* store.setMany(keys.map((key) => [key, "v"] as const))
            const listed = Chunk.toReadonlyArray(yield* Stream.runCollect(store.keys()))
            const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
            assert.deepStrictEqual(listed, expected)
          }))
      }

      if (!capabilities.expiry) {
        for (const [method, operation] of ttlOperations) {
          test(`${method} with a ttl fails with Unsupported and writes nothing`, (store) =>
            Effect.gen(function*() {
              yield* expectError(operation(store, "1 hour"), "Unsupported", method)
              if (method === "touch") {
                assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
              } else {
                assert.strictEqual(yield* store.size, 0)
              }
            }))
        }

        test("entries never expire: ttl is infinity and expire finds nothing", (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "v")
            assert.strictEqual(ttlOf(yield* store.ttl("k")), "infinity")
            assert.isTrue(yield* store.touch("k", undefined))
            yield* TestClock.adjust("1000 days")
            assert.strictEqual(yield* store.expire, 0)
            assertSomeBytes(yield* store.get("k"), "v")
          }))
      }

      if (!capabilities.tags) {
        test("tags fail with Unsupported and write nothing", (store) =>
          Effect.gen(function*() {
            yield* expectError(store.set("k", "v", { tags: ["t"] }), "Unsupported", "set")
            yield* expectError(store.setMany([["j", "v"], ["k", "v", { tags: ["t"] }]]), "Unsupported", "setMany")
            yield* expectError(store.removeTag("t"), "Unsupported", "removeTag")
            assert.strictEqual(yield* store.size, 0)
          }))
      }

      if (!capabilities.metadata) {
        test("metadata fails with Unsupported and writes nothing", (store) =>
          Effect.gen(function*() {
            yield* expectError(store.set("k", "v", { metadata: { a: 1 } }), "Unsupported", "set")
            yield* store.set("j", "v")
            yield* expectError(store.setMetadata("j", { a: 1 }), "Unsupported", "setMetadata")
            assert.strictEqual(yield* store.size, 1)
          }))
      }

      if (!capabilities.transactions) {
        test("transactions fail with Unsupported without running the region", (store) =>
          Effect.gen(function*() {
            yield* expectError(store.withTransaction(store.set("a", "1")), "Unsupported", "withTransaction")
            assert.isFalse(yield* store.has("a"))
            yield* expectError(Effect.scoped(store.transaction), "Unsupported", "transaction")
          }))
      }

      if (capabilities.locks) {
        timed("lock is held for the scope and its fencing tokens increase", (store) =>
          Effect.gen(function*() {
            const first = yield* Effect.scoped(store.lock("l", { ttl: "10 seconds" }))
            const second = yield* Effect.scoped(store.lock("l", { ttl: "10 seconds" }))
            assert.strictEqual(first.name, "l")
            assert.isTrue(second.fencingToken > first.fencingToken)
          }))
      } else {
        timed(
          "lock fails with Unsupported",
          (store) => expectError(Effect.scoped(store.lock("l", { ttl: "10 seconds" })), "Unsupported", "lock")
        )
      }

      if (capabilities.check) {
        test("check reports a sound store as sound and fixes nothing", (store) =>
          Effect.gen(function*() {
            yield* store.set("a", "1")
            yield* store.setMany([["b", "2"], ["c", patternBytes(100_000)]])
            yield* store.remove("b")
            for (const fix of [false, true]) {
              const report = yield* store.check({ fix })
              assert.isTrue(report.ok, `fix: ${fix}`)
              assert.deepStrictEqual(report.engine, ["ok"])
              assert.deepStrictEqual(report.orphanedFiles, [])
              assert.deepStrictEqual(report.danglingRows, [])
              assert.isUndefined(report.counterDrift)
              assert.strictEqual(report.expiredPending, 0)
              assert.deepStrictEqual(report.fixed, [])
            }
          }))
        timed("check counts expired entries pending, and fix removes them", (store) =>
          Effect.gen(function*() {
            yield* store.set("a", "1", { ttl: "1 second" })
            yield* store.set("b", "2", { ttl: "1 second" })
            yield* store.set("c", "3")
            yield* TestClock.adjust("2 seconds")
            const found = yield* store.check()
            assert.strictEqual(found.expiredPending, 2)
            assert.isTrue(found.ok, "expired entries pending are not a defect")
            const fixed = yield* store.check({ fix: true })
            assert.strictEqual(fixed.expiredPending, 2)
            assert.strictEqual(fixed.fixed.length, 1)
            assert.strictEqual((yield* store.check()).expiredPending, 0)
            assertSomeBytes(yield* store.get("c"), "3")
          }))
      } else {
        test("check fails with Unsupported", (store) => expectError(store.check(), "Unsupported", "check"))
      }

      if (capabilities.volume) {
        test("volume counts the bytes stored", (store) =>
          Effect.gen(function*() {
            yield* store.set("big", patternBytes(1024 * 1024))
            assert.isAtLeast(yield* store.volume, 1024 * 1024)
          }))
      } else {
        test("volume is 0", (store) =>
          Effect.gen(function*() {
            yield* store.set("big", patternBytes(1024))
            assert.strictEqual(yield* store.volume, 0)
          }))
      }
    })
  })
}
