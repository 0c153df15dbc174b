/**
 * The Timeout wrapper: the contract suite through a Timeout whose limits are never reached, then its own cases under
 * `TestClock`: a slow operation fails with `Timeout` naming its method, key and limit, and its underlying effect is
 * interrupted; per-operation limits and `default`; a limit per page for streams; the waiting operations left to
 * explicit limits; a namespace over the Timeout store keeping the limits; bad options; options from `Config`.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore, Timeout } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Wrapper from "../../src/internal/wrapper.js"
import { suite } from "../contract/suite.js"
import * as Scripted from "./fixtures/scripted.js"

suite(
  "MemoryStore through Timeout",
  MemoryStore.layer().pipe(KeyValueStore.wrap(Timeout.layer("1 hour"))),
  MemoryStore.capabilities
)

/** A Timeout store over a scripted MemoryStore. */
const setup = (options: Timeout.Options) =>
  Effect.gen(function*() {
    const { control, store: scripted } = Scripted.make(yield* KeyValueStore.KeyValueStore)
    const store = yield* Timeout.make(scripted, options)
    return { control, store, scripted }
  })

/** Forks `self`, moves the test clock by `by`, and polls it. */
const after = <A, E>(self: Effect.Effect<A, E>, by: Duration.DurationInput) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(self)
    yield* TestClock.adjust(by)
    return { fiber, done: yield* Fiber.poll(fiber) }
  })

describe("Timeout", () => {
  it.effect("a slow operation fails with Timeout carrying its method, key and limit", () =>
    Effect.gen(function*() {
      const { control, store } = yield* setup("100 millis")
      control.script({ method: "get", mode: "hang" }, { method: "size", mode: "hang" })
      const { fiber } = yield* after(Effect.flip(store.get("a")), "1 second")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "Timeout")
      assert.deepInclude(error, { method: "get", key: "a", millis: 100 })
      const sized = yield* Fiber.join((yield* after(Effect.flip(store.size), "1 second")).fiber)
      assert.deepInclude(sized, { _tag: "Timeout", method: "size", millis: 100 })
      assert.isUndefined((sized as { readonly key?: string }).key)
      assert.deepStrictEqual(control.calls.map((call) => call.outcome), ["hang", "hang"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a timed-out operation's underlying effect is interrupted", () =>
    Effect.gen(function*() {
      let interrupted = 0
      const hanging = Wrapper.around<"hang">(yield* KeyValueStore.KeyValueStore, {
        operations: Object.fromEntries(
          Object.keys(Wrapper.operationShapes).map((name) => [name, name === "set" ? "hang" : Wrapper.inherit])
        ) as unknown as Wrapper.Policy<"hang">["operations"],
        primitives: Object.fromEntries(
          Object.keys(Wrapper.primitiveShapes).map((name) => [name, Wrapper.inherit])
        ) as unknown as Wrapper.Policy<"hang">["primitives"],
        effect: () => Effect.onInterrupt(Effect.never, () => Effect.sync(() => interrupted++)),
        stream: (_, self) => self
      })
      const store = yield* Timeout.make(hanging, { operations: { set: "50 millis" } })
      const { fiber } = yield* after(Effect.flip(store.set("k", "v")), "1 second")
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "Timeout")
      assert.strictEqual(interrupted, 1)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("limits per operation, default for the rest, Duration.infinity exempts", () =>
    Effect.gen(function*() {
      const { control, store } = yield* setup({
        default: "100 millis",
        operations: { setMany: "5 seconds", get: Duration.infinity }
      })
      control.script({ method: ["setMany", "get", "has"], mode: "hang", times: 3 })
      const setMany = yield* after(Effect.flip(store.setMany([["a", "1"]])), "1 second")
      assert.isTrue(Option.isNone(setMany.done), "setMany ended before its own limit")
      yield* TestClock.adjust("5 seconds")
      assert.deepInclude(yield* Fiber.join(setMany.fiber), { _tag: "Timeout", method: "setMany", millis: 5000 })
      const get = yield* after(store.get("a"), "1 hour")
      assert.isTrue(Option.isNone(get.done), "get is exempt and still waits")
      yield* Fiber.interrupt(get.fiber)
      const has = yield* Fiber.join((yield* after(Effect.flip(store.has("a")), "1 second")).fiber)
      assert.deepInclude(has, { _tag: "Timeout", method: "has", key: "a", millis: 100 })
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("without default, unlisted operations have no limit", () =>
    Effect.gen(function*() {
      const { control, store } = yield* setup({ operations: { get: "1 second" } })
      control.script({ method: "has", mode: "hang" })
      const has = yield* after(store.has("a"), "1 hour")
      assert.isTrue(Option.isNone(has.done))
      yield* Fiber.interrupt(has.fiber)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a stream's limit applies to each page, not to the whole enumeration", () =>
    Effect.gen(function*() {
      const base = yield* KeyValueStore.KeyValueStore
      const keys = Array.from({ length: 2500 }, (_, i) => `k${String(i).padStart(4, "0")}`)
      yield* base.setMany(keys.map((key) => [key, "v"] as const))
      let pages = 0
      let hangOn = Infinity
      const p = base.primitives
      const slow = Wrapper.mapPrimitives(
        p,
        Object.fromEntries(
          Object.keys(Wrapper.primitiveShapes).map((name) => [
            name,
            name === "scanKeys"
              ? (range: KeyValueStore.ScanRange, now: number) =>
                Effect.suspend(() =>
                  ++pages === hangOn
                    ? Effect.never
                    : Effect.zipRight(Effect.sleep("60 millis"), p.scanKeys!(range, now))
                )
              : Wrapper.inherit
          ])
        ) as unknown as Wrapper.PrimitiveDecisions
      )
      const store = yield* Timeout.make(KeyValueStore.make(slow), { operations: { keys: "100 millis" } })
      const all = yield* after(Stream.runCollect(store.keys()), "1 minute")
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(all.fiber)), keys)
      assert.strictEqual(pages, 3)
      pages = 0
      hangOn = 2
      const error = yield* Fiber.join((yield* after(Effect.flip(Stream.runDrain(store.keys())), "1 minute")).fiber)
      assert.deepInclude(error, { _tag: "Timeout", method: "keys", millis: 100 })
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("withTransaction is not bounded by default; a limit given by name covers the region", () =>
    Effect.gen(function*() {
      const { store } = yield* setup("100 millis")
      const region = yield* after(store.withTransaction(Effect.as(Effect.sleep("1 hour"), "done")), "2 hours")
      assert.deepStrictEqual(region.done, Option.some(yield* Effect.exit(Effect.succeed("done"))))
      const { store: bounded } = yield* setup({ operations: { withTransaction: "1 second" } })
      const error = yield* Fiber.join(
        (yield* after(Effect.flip(bounded.withTransaction(Effect.sleep("1 hour"))), "2 seconds")).fiber
      )
      assert.deepInclude(error, { _tag: "Timeout", method: "withTransaction", millis: 1000 })
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a namespace over the Timeout store keeps the limits", () =>
    Effect.gen(function*() {
      const { control, store } = yield* setup("100 millis")
      const ns = KeyValueStore.prefix(store, "ns.")
      control.script({ method: "set", mode: "hang" }, { method: "modify", mode: "hang" })
      const set = yield* Fiber.join((yield* after(Effect.flip(ns.set("a", "1")), "1 second")).fiber)
      assert.deepInclude(set, { _tag: "Timeout", millis: 100 })
      const incremented = yield* Fiber.join((yield* after(Effect.flip(ns.increment("n")), "1 second")).fiber)
      assert.deepInclude(incremented, { _tag: "Timeout", millis: 100 })
      assert.deepStrictEqual(control.calls.map((call) => [call.method, call.primitive, call.outcome]), [
        ["set", true, "hang"],
        ["modify", true, "hang"]
      ])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("invalid options fail with InvalidArgument at build", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore
      const invalid: ReadonlyArray<unknown> = [
        -1,
        0,
        Number.NaN,
        "-5 millis",
        "soon",
        null,
        { default: 0 },
        { default: "-1 second" },
        { operations: { gett: "1 second" } },
        { operations: { get: -1 } },
        { operations: { get: Number.NaN } },
        { operations: "get" },
        { defualt: "1 second" }
      ]
      for (const options of invalid) {
        const error = yield* Effect.flip(Timeout.make(store, options as Timeout.Options))
        assert.strictEqual(error._tag, "InvalidArgument", String(JSON.stringify(options)))
      }
      const built = yield* Effect.flip(Layer.build(Timeout.layer(0).pipe(Layer.provide(MemoryStore.layer()))))
      assert.strictEqual(built._tag, "InvalidArgument")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer())))

  it.effect("layerConfig reads the limit from Config", () =>
    Effect.gen(function*() {
      let control: Scripted.Control | undefined
      const layer = Scripted.layer(MemoryStore.layer(), (c) => control = c).pipe(
        KeyValueStore.wrap(Timeout.layerConfig(Config.duration("KV_TIMEOUT")))
      )
      const context = yield* Layer.build(layer).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["KV_TIMEOUT", "250 millis"]])))
      )
      const store = Context.get(context, KeyValueStore.KeyValueStore)
      control!.script({ method: "get", mode: "hang" })
      const error = yield* Fiber.join((yield* after(Effect.flip(store.get("a")), "1 second")).fiber)
      assert.deepInclude(error, { _tag: "Timeout", millis: 250 })
    }).pipe(Effect.scoped))
})
