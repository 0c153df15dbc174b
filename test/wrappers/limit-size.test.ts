/**
 * The `LimitSize` wrapper: the contract suite passes through a limit no value reaches; each kind of write of a value
 * out of bounds fails (`ValueTooLarge` above `maxBytes`, `InvalidArgument` below `minBytes`) with the store unchanged,
 * or under `"skip"` is left out (the store unchanged, the `skipped` counter one up) while the rest of the write goes
 * through; a namespace over the limit is limited; bad options are `InvalidArgument` when the store is built.
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStoreError } from "effect-kv"
import { KeyValueStore, LimitSize, MemoryStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { suite } from "../contract/suite.js"

type Store = KeyValueStore.Service
type StoreError = KeyValueStoreError.KeyValueStoreError

suite(
  "MemoryStore through LimitSize with a limit no value reaches",
  MemoryStore.layer().pipe(KeyValueStore.wrap(LimitSize.layer({ maxBytes: Number.MAX_SAFE_INTEGER }))),
  MemoryStore.capabilities
)

/** Everything observable about the store's contents. */
const snapshot = (store: Store) =>
  Effect.gen(function*() {
    const keys = Chunk.toArray(yield* Stream.runCollect(store.keys()))
    const entries = yield* Effect.forEach(keys, (key) =>
      Effect.map(
        store.getEntry(key),
        Option.map((entry) => ({ ...entry, value: Buffer.from(entry.value).toString() }))
      ))
    return { keys, entries }
  })

const skippedOf = (operation: string) =>
  Effect.map(Metric.value(LimitSize.skipped.pipe(Metric.tagged("operation", operation))), (state) => state.count)

const withLimit = <A, E>(options: LimitSize.Options, f: (store: Store, inner: Store) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const inner = yield* KeyValueStore.KeyValueStore
    yield* inner.set("k", "12345")
    yield* inner.set("n", "99999999")
    yield* inner.set("ns.k", "12345")
    return yield* f(yield* LimitSize.make(inner, options), inner)
  }).pipe(Effect.provide(MemoryStore.layer()))

const limits = { maxBytes: 8, minBytes: 2 }
const big = "123456789"
const small = "1"

/** Each kind of write of `value`: on a fresh key, or the existing "k" where it needs one. */
const writes: ReadonlyArray<readonly [string, (store: Store, value: string) => Effect.Effect<unknown, StoreError>]> = [
  ["set", (store, value) => store.set("fresh", value)],
  [
    "set with a fence",
    (store, value) =>
      Effect.scoped(Effect.flatMap(store.lock("L"), (lock) => store.set("fresh", value, { fence: lock })))
  ],
  ["add", (store, value) => store.add("fresh", value)],
  ["setMany (one entry of the batch)", (store, value) => store.setMany([["a", "ok"], ["fresh", value], ["b", "ok"]])],
  ["compareAndSwap", (store, value) => store.compareAndSwap("k", Option.some("12345"), Option.some(value))],
  ["update", (store, value) => store.update("k", () => Option.some(value))],
  ["a namespace's set", (store, value) => KeyValueStore.prefix(store, "ns.").set("fresh", value)],
  ["a namespace's update", (store, value) => KeyValueStore.prefix(store, "ns.").update("k", () => Option.some(value))]
]

describe("LimitSize: fail", () => {
  for (const [name, write] of writes) {
    it.effect(`${name}: a value above maxBytes is ValueTooLarge, nothing written`, () =>
      withLimit(limits, (store, inner) =>
        Effect.gen(function*() {
          const before = yield* snapshot(inner)
          const error = yield* Effect.flip(write(store, big))
          assert.strictEqual(error._tag, "ValueTooLarge")
          if (error._tag === "ValueTooLarge") {
            assert.strictEqual(error.size, 9)
            assert.strictEqual(error.limit, 8)
          }
          assert.deepStrictEqual(yield* snapshot(inner), before)
        })))

    it.effect(`${name}: a value below minBytes is InvalidArgument, nothing written`, () =>
      withLimit(limits, (store, inner) =>
        Effect.gen(function*() {
          const before = yield* snapshot(inner)
          const error = yield* Effect.flip(write(store, small))
          assert.strictEqual(error._tag, "InvalidArgument")
          if (error._tag === "InvalidArgument") assert.strictEqual(error.argument, "value")
          assert.deepStrictEqual(yield* snapshot(inner), before)
        })))

    it.effect(`${name}: a value within the bounds is written`, () =>
      withLimit(limits, (store, inner) =>
        Effect.gen(function*() {
          const before = yield* snapshot(inner)
          yield* write(store, "12345678")
          assert.notDeepEqual(yield* snapshot(inner), before)
        })))
  }

  it.effect("the error names the public operation and the key", () =>
    withLimit(limits, (store) =>
      Effect.gen(function*() {
        const calls: ReadonlyArray<readonly [string, Effect.Effect<unknown, StoreError>]> = [
          ["set", store.set("x", big)],
          ["add", store.add("x", big)],
          ["update", store.update("x", () => Option.some(big))],
          ["append", store.append("k", "6789")]
        ]
        for (const [method, call] of calls) {
          const error = yield* Effect.flip(call)
          assert.strictEqual(error.method, method)
          assert.strictEqual(error.key, method === "append" ? "k" : "x")
        }
      })))

  it.effect("append: the resulting value is checked", () =>
    withLimit(limits, (store, inner) =>
      Effect.gen(function*() {
        assert.strictEqual(yield* store.append("k", "678"), 8)
        const error = yield* Effect.flip(store.append("k", "9"))
        assert.strictEqual(error._tag, "ValueTooLarge")
        assert.deepStrictEqual(yield* inner.getString("k"), Option.some("12345678"))
        assert.strictEqual((yield* Effect.flip(store.append("fresh", "1")))._tag, "InvalidArgument")
        assert.isFalse(yield* inner.has("fresh"))
      })))

  it.effect("increment: a counter growing past maxBytes digits is refused", () =>
    withLimit(limits, (store, inner) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(store.increment("n"))
        assert.strictEqual(error._tag, "ValueTooLarge")
        assert.deepStrictEqual(yield* inner.getString("n"), Option.some("99999999"))
        assert.strictEqual(yield* store.decrement("n"), 99999998n)
      })))

  it.effect("setMetadata and touch keep an out-of-bounds value written around the limit", () =>
    withLimit(limits, (store, inner) =>
      Effect.gen(function*() {
        yield* inner.set("huge", big)
        assert.isTrue(yield* store.setMetadata("huge", { a: 1 }))
        assert.isTrue(yield* store.touch("huge", "1 hour"))
        assert.deepStrictEqual(yield* inner.getString("huge"), Option.some(big))
      })))
})

describe("LimitSize: skip", () => {
  const skipping: LimitSize.Options = { ...limits, onViolation: "skip" }

  it.effect("set is left out and counted", () =>
    withLimit(skipping, (store, inner) =>
      Effect.gen(function*() {
        const before = yield* snapshot(inner)
        const counted = yield* skippedOf("set")
        yield* store.set("fresh", big)
        yield* store.set("k", small)
        yield* KeyValueStore.prefix(store, "ns.").set("fresh", big)
        assert.deepStrictEqual(yield* snapshot(inner), before)
        assert.strictEqual((yield* skippedOf("set")) - counted, 3)
        yield* store.set("fresh", "ok")
        assert.deepStrictEqual(yield* inner.getString("fresh"), Option.some("ok"))
      })))

  it.effect("setMany writes the entries within bounds and counts each one left out", () =>
    withLimit(skipping, (store, inner) =>
      Effect.gen(function*() {
        const counted = yield* skippedOf("setMany")
        yield* store.setMany([["a", "ok"], ["b", big], ["c", small], ["d", "fine"]])
        assert.deepStrictEqual(
          yield* inner.getMany(["a", "b", "c", "d"]),
          [Option.some(Buffer.from("ok")), Option.none(), Option.none(), Option.some(Buffer.from("fine"))]
        )
        assert.strictEqual((yield* skippedOf("setMany")) - counted, 2)
      })))

  it.effect("add and compareAndSwap answer false, the store unchanged", () =>
    withLimit(skipping, (store, inner) =>
      Effect.gen(function*() {
        const before = yield* snapshot(inner)
        const added = yield* skippedOf("add")
        const swapped = yield* skippedOf("compareAndSwap")
        assert.isFalse(yield* store.add("fresh", big))
        assert.isFalse(yield* store.add("fresh", new Uint8Array(1)))
        assert.isFalse(yield* store.compareAndSwap("k", Option.some("12345"), Option.some(big)))
        assert.deepStrictEqual(yield* snapshot(inner), before)
        assert.strictEqual((yield* skippedOf("add")) - added, 2)
        assert.strictEqual((yield* skippedOf("compareAndSwap")) - swapped, 1)
        assert.isTrue(yield* store.add("fresh", "ok"))
        assert.isTrue(yield* store.compareAndSwap("k", Option.some("12345"), Option.none()))
      })))

  it.effect("argument errors come before skipping", () =>
    withLimit(skipping, (store) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* Effect.flip(store.add("", big)))._tag, "InvalidKey")
        assert.strictEqual((yield* Effect.flip(store.set("", big)))._tag, "InvalidKey")
        assert.strictEqual((yield* Effect.flip(store.add("x", "\uD800".repeat(5))))._tag, "InvalidArgument")
      })))

  it.effect("append, update and counters, whose result is the value written, still fail", () =>
    withLimit(skipping, (store, inner) =>
      Effect.gen(function*() {
        const before = yield* snapshot(inner)
        assert.strictEqual((yield* Effect.flip(store.append("k", "6789")))._tag, "ValueTooLarge")
        assert.strictEqual((yield* Effect.flip(store.update("k", () => Option.some(big))))._tag, "ValueTooLarge")
        assert.strictEqual((yield* Effect.flip(store.increment("n")))._tag, "ValueTooLarge")
        assert.deepStrictEqual(yield* snapshot(inner), before)
      })))
})

describe("LimitSize: options", () => {
  const bad: ReadonlyArray<readonly [string, unknown, string]> = [
    ["no maxBytes", {}, "maxBytes"],
    ["maxBytes 0", { maxBytes: 0 }, "maxBytes"],
    ["a fractional maxBytes", { maxBytes: 1.5 }, "maxBytes"],
    ["an infinite maxBytes", { maxBytes: Infinity }, "maxBytes"],
    ["a negative minBytes", { maxBytes: 10, minBytes: -1 }, "minBytes"],
    ["minBytes above maxBytes", { maxBytes: 10, minBytes: 11 }, "minBytes"],
    ["an unknown onViolation", { maxBytes: 10, onViolation: "drop" }, "onViolation"],
    ["options that are not an object", 10, "options"]
  ]
  for (const [name, options, argument] of bad) {
    it.effect(`${name} is InvalidArgument`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          LimitSize.make(yield* KeyValueStore.KeyValueStore, options as LimitSize.Options)
        )
        assert.strictEqual(error._tag, "InvalidArgument")
        assert.strictEqual(error.argument, argument)
      }).pipe(Effect.provide(MemoryStore.layer())))
  }

  it.effect("the layer fails with it too", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(
          KeyValueStore.KeyValueStore,
          MemoryStore.layer().pipe(KeyValueStore.wrap(LimitSize.layer({ maxBytes: -1 })))
        )
      )
      assert.strictEqual(error._tag, "InvalidArgument")
    }))
})
