/**
 * The `TtlClamp` wrapper: the contract suite passes through an unbounded clamp; every kind of write has its ttl
 * clamped into `[min, max]` (checked with `ttl(key)` under `TestClock`), writes without one get `default` (or `max`),
 * writes keeping an entry's expiry keep it (lowered to `max` only), a namespace over the clamp is clamped, and bad
 * options are `InvalidArgument` when the store is built.
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStoreError } from "effect-kv"
import { KeyValueStore, MemoryStore, TtlClamp } from "effect-kv"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { suite } from "../contract/suite.js"

type Store = KeyValueStore.Service

suite(
  "MemoryStore through TtlClamp without bounds",
  MemoryStore.layer().pipe(KeyValueStore.wrap(TtlClamp.layer({}))),
  MemoryStore.capabilities
)

const second = 1000
const minute = 60 * second
const hour = 60 * minute

/** The remaining ttl of `key` in ms, `"infinity"`, or `"none"` when absent. */
const ttlOf = (store: Store, key: string) =>
  Effect.map(
    store.ttl(key),
    Option.match({
      onNone: () => "none" as const,
      onSome: (d) => Duration.isFinite(d) ? Duration.toMillis(d) : "infinity" as const
    })
  )

const bounded: TtlClamp.Options = { min: "10 seconds", max: "1 hour", default: "5 minutes" }

const withClamp = <A, E>(options: TtlClamp.Options, f: (store: Store, inner: Store) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const inner = yield* KeyValueStore.KeyValueStore
    return yield* f(yield* TtlClamp.make(inner, options), inner)
  }).pipe(Effect.provide(MemoryStore.layer()))

/** Each kind of write giving `ttl` (undefined: none) to a fresh key "k" (on an existing entry where it needs one). */
const givingWrites: ReadonlyArray<
  readonly [
    string,
    (
      store: Store,
      ttl: Duration.DurationInput | undefined
    ) => Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>
  ]
> = [
  ["set", (store, ttl) => store.set("k", "v", { ttl })],
  [
    "set with a fence",
    (store, ttl) => Effect.scoped(Effect.flatMap(store.lock("L"), (lock) => store.set("k", "v", { ttl, fence: lock })))
  ],
  ["add", (store, ttl) => store.add("k", "v", { ttl })],
  ["setMany", (store, ttl) => store.setMany([["other", "v"], ["k", "v", { ttl }]])],
  ["touch", (store, ttl) => Effect.zipRight(store.set("k", "v", { ttl: "30 seconds" }), store.touch("k", ttl))],
  ["increment creating the counter", (store, ttl) => store.increment("k", 1, { ttl })],
  ["decrement creating the counter", (store, ttl) => store.decrement("k", 1, { ttl })],
  [
    "compareAndSwap on an absent entry",
    (store, ttl) => store.compareAndSwap("k", Option.none(), Option.some("v"), { ttl })
  ],
  [
    "compareAndSwap on an entry",
    (store, ttl) =>
      Effect.zipRight(
        store.set("k", "v", { ttl: "30 seconds" }),
        store.compareAndSwap("k", Option.some("v"), Option.some("w"), { ttl })
      )
  ],
  [
    "update on an entry",
    (store, ttl) =>
      Effect.zipRight(store.set("k", "v", { ttl: "30 seconds" }), store.update("k", () => Option.some("w"), { ttl }))
  ]
]

describe("TtlClamp", () => {
  for (const [name, write] of givingWrites) {
    describe(name, () => {
      it.effect("a ttl below min is raised to min", () =>
        withClamp(bounded, (store) =>
          Effect.gen(function*() {
            yield* write(store, "1 second")
            assert.strictEqual(yield* ttlOf(store, "k"), 10 * second)
          })))

      it.effect("a ttl above max is lowered to max", () =>
        withClamp(bounded, (store) =>
          Effect.gen(function*() {
            yield* write(store, "2 hours")
            assert.strictEqual(yield* ttlOf(store, "k"), hour)
          })))

      it.effect("a ttl within the bounds is kept", () =>
        withClamp(bounded, (store) =>
          Effect.gen(function*() {
            yield* write(store, "20 minutes")
            assert.strictEqual(yield* ttlOf(store, "k"), 20 * minute)
          })))

      it.effect("no ttl gets default", () =>
        withClamp(bounded, (store) =>
          Effect.gen(function*() {
            yield* write(store, undefined)
            assert.strictEqual(yield* ttlOf(store, "k"), 5 * minute)
          })))

      it.effect("no ttl gets max when only max is given", () =>
        withClamp({ max: "1 hour" }, (store) =>
          Effect.gen(function*() {
            yield* write(store, undefined)
            assert.strictEqual(yield* ttlOf(store, "k"), hour)
          })))

      it.effect("through a namespace over the clamp", () =>
        withClamp(bounded, (store, inner) =>
          Effect.gen(function*() {
            yield* write(KeyValueStore.prefix(store, "ns."), "2 hours")
            assert.strictEqual(yield* ttlOf(inner, "ns.k"), hour)
          })))
    })
  }

  it.effect("update without options replaces like set: default", () =>
    withClamp(bounded, (store) =>
      Effect.gen(function*() {
        yield* store.set("k", "v", { ttl: "30 seconds" })
        yield* store.update("k", () => Option.some("w"))
        assert.strictEqual(yield* ttlOf(store, "k"), 5 * minute)
      })))

  it.effect("a ttl of Duration.infinity counts as none: default, or no expiry without bounds", () =>
    Effect.gen(function*() {
      yield* withClamp(bounded, (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: Duration.infinity })
          assert.strictEqual(yield* ttlOf(store, "k"), 5 * minute)
        }))
      yield* withClamp({ min: "10 seconds" }, (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v", { ttl: Duration.infinity })
          yield* store.set("j", "v")
          assert.strictEqual(yield* ttlOf(store, "k"), "infinity")
          assert.strictEqual(yield* ttlOf(store, "j"), "infinity")
        }))
    }))

  describe("writes keeping the entry's expiry keep it", () => {
    const keeping: ReadonlyArray<
      readonly [string, (store: Store) => Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]
    > = [
      ["append", (store) => store.append("k", "1")],
      ["setMetadata", (store) => store.setMetadata("k", { a: 1 })],
      ["increment", (store) => store.increment("k")],
      ["decrement", (store) => store.decrement("k", 1, { ttl: "2 hours" })]
    ]
    for (const [name, write] of keeping) {
      it.effect(`${name}: the remaining ttl, not min or default`, () =>
        withClamp(bounded, (store) =>
          Effect.gen(function*() {
            yield* store.set("k", "1", { ttl: "20 seconds" })
            yield* TestClock.adjust("15 seconds")
            yield* write(store)
            assert.strictEqual(yield* ttlOf(store, "k"), 5 * second)
          })))

      it.effect(`${name}: an expiry beyond max (written around the clamp) is lowered to max`, () =>
        withClamp(bounded, (store, inner) =>
          Effect.gen(function*() {
            yield* inner.set("k", "1", { ttl: "10 hours" })
            yield* write(store)
            assert.strictEqual(yield* ttlOf(store, "k"), hour)
          })))

      it.effect(`${name}: a never-expiring entry (written around the clamp) gets default`, () =>
        withClamp(bounded, (store, inner) =>
          Effect.gen(function*() {
            yield* inner.set("k", "1")
            yield* write(store)
            assert.strictEqual(yield* ttlOf(store, "k"), 5 * minute)
          })))
    }

    it.effect("append creating the entry gives it default", () =>
      withClamp(bounded, (store) =>
        Effect.gen(function*() {
          yield* store.append("k", "1")
          assert.strictEqual(yield* ttlOf(store, "k"), 5 * minute)
        })))
  })

  it.effect("the clamped entries expire at the clamped time", () =>
    withClamp(bounded, (store) =>
      Effect.gen(function*() {
        yield* store.set("short", "v", { ttl: "1 second" })
        yield* store.set("long", "v", { ttl: "1 day" })
        yield* TestClock.adjust("9 seconds")
        assert.isTrue(yield* store.has("short"))
        yield* TestClock.adjust("1 second")
        assert.isFalse(yield* store.has("short"))
        yield* TestClock.adjust(hour - 10 * second - 1)
        assert.isTrue(yield* store.has("long"))
        yield* TestClock.adjust(1)
        assert.isFalse(yield* store.has("long"))
      })))

  describe("bad options are InvalidArgument when the store is built", () => {
    const bad: ReadonlyArray<readonly [string, unknown, string]> = [
      ["min of 0", { min: 0 }, "min"],
      ["a negative max", { max: -5 }, "max"],
      ["a NaN default", { default: Number.NaN }, "default"],
      ["an infinite max", { max: Duration.infinity }, "max"],
      ["a max longer than 100 years", { max: Duration.weeks(52 * 200) }, "max"],
      ["not a duration", { min: "soon" }, "min"],
      ["min above max", { min: "2 hours", max: "1 hour" }, "min"],
      ["default below min", { min: "1 minute", default: "1 second" }, "default"],
      ["default above max", { max: "1 minute", default: "1 hour" }, "default"],
      ["options that are not an object", "1 hour", "options"]
    ]
    for (const [name, options, argument] of bad) {
      it.effect(name, () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(
            TtlClamp.make(yield* KeyValueStore.KeyValueStore, options as TtlClamp.Options)
          )
          assert.strictEqual(error._tag, "InvalidArgument")
          assert.strictEqual(error.argument, argument)
        }).pipe(Effect.provide(MemoryStore.layer())))
    }

    it.effect("max or default over a store without expiry", () =>
      Effect.gen(function*() {
        const memory = yield* KeyValueStore.KeyValueStore
        const index = KeyValueStore.make({
          ...memory.primitives,
          capabilities: { ...memory.capabilities, expiry: false }
        })
        assert.strictEqual((yield* Effect.flip(TtlClamp.make(index, { max: "1 hour" })))._tag, "InvalidArgument")
        assert.strictEqual((yield* Effect.flip(TtlClamp.make(index, { default: "1 hour" })))._tag, "InvalidArgument")
        const minOnly = yield* TtlClamp.make(index, { min: "1 second" })
        yield* minOnly.set("k", "v")
        assert.strictEqual(yield* ttlOf(minOnly, "k"), "infinity")
      }).pipe(Effect.provide(MemoryStore.layer())))

    it.effect("from the layer", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Effect.provide(
            KeyValueStore.KeyValueStore,
            MemoryStore.layer().pipe(KeyValueStore.wrap(TtlClamp.layer({ min: -1 })))
          )
        )
        assert.strictEqual(error._tag, "InvalidArgument")
      }))
  })

  it.effect("layerConfig reads the bounds from Config", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore
      yield* store.set("k", "v")
      assert.strictEqual(yield* ttlOf(store, "k"), 30 * second)
    }).pipe(
      Effect.provide(
        MemoryStore.layer().pipe(
          KeyValueStore.wrap(TtlClamp.layerConfig({ max: Config.duration("KV_MAX_TTL") })),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ KV_MAX_TTL: "30 seconds" })))
        )
      )
    ))
})
