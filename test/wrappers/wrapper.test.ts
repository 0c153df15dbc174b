/**
 * The wrapper helper (`internal/wrapper.ts`): its decision tables are exhaustive at the type level (a table that leaves
 * out a member of `Service` or `Primitives` does not compile: the `@ts-expect-error` cases below break if the check is
 * removed), and an aspect applied with `around` reaches every operation: the contract suite passes through an inert
 * one, which sees every call it classifies, and a namespace built over the wrapped store's primitives still goes
 * through the aspect.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore, Statistics } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Wrapper from "../../src/internal/wrapper.js"
import { suite } from "../contract/suite.js"
import * as Scripted from "./fixtures/scripted.js"

type Class = "read" | "write"

const allOperations = (decision: Class | Wrapper.Inherit) =>
  Object.fromEntries(Object.keys(Wrapper.operationShapes).map((name) => [name, decision])) as {
    readonly [K in Wrapper.Operation]: Class | Wrapper.Inherit
  }

const allPrimitives = Object.fromEntries(
  Object.entries(Wrapper.primitiveShapes).map((
    [name, shape]
  ) => [name, name === "unsafe" ? Wrapper.drop : shape === "other" ? Wrapper.inherit : "read"])
) as unknown as Wrapper.Policy<Class>["primitives"]

/** An aspect that records the calls it wraps. */
const recording = (store: KeyValueStore.Service, calls: Array<string>) =>
  Wrapper.around<Class>(store, {
    operations: allOperations("read"),
    primitives: allPrimitives,
    effect: (call, self) => Effect.zipRight(Effect.sync(() => calls.push(call.method)), self),
    stream: (call, self) => Stream.unwrap(Effect.sync(() => (calls.push(call.method), self)))
  })

describe("wrapper helper: exhaustive tables", () => {
  it("a service table without a member does not compile", () => {
    const { getOrFail: _, ...rest } = Object.fromEntries(
      Object.keys(Wrapper.operationShapes).map((name) => [name, Wrapper.inherit])
    ) as { readonly [K in Wrapper.Operation]: Wrapper.Inherit }
    const partial: Omit<{ readonly [K in Wrapper.ServiceMember]: Wrapper.Inherit }, "primitives" | "getOrFail"> = {
      ...rest,
      backend: Wrapper.inherit,
      capabilities: Wrapper.inherit,
      separator: Wrapper.inherit
    }
    // @ts-expect-error `primitives` and `getOrFail` have no decision
    const decisions: Wrapper.ServiceDecisions = partial
    assert.isObject(decisions)
  })

  it("a primitive table without a member does not compile", () => {
    const { leases: _, ...rest } = Object.fromEntries(
      Object.keys(Wrapper.primitiveShapes).map((name) => [name, Wrapper.inherit])
    ) as { readonly [K in keyof KeyValueStore.Primitives]: Wrapper.Inherit }
    // @ts-expect-error `leases` has no decision
    const decisions: Wrapper.PrimitiveDecisions = rest
    assert.isObject(decisions)
  })

  it("a policy that leaves out an operation does not compile", () => {
    const { increment: _, ...rest } = allOperations("write")
    // @ts-expect-error `increment` has no class
    const operations: Wrapper.Policy<Class>["operations"] = rest
    assert.isObject(operations)
  })

  it("a policy cannot put an aspect on a non-effect primitive", () => {
    // @ts-expect-error `gate` is not an effect: inherit only
    const primitives: Wrapper.Policy<Class>["primitives"] = { ...allPrimitives, gate: "read" }
    assert.isObject(primitives)
  })

  it("the shape tables list every member", () =>
    Effect.gen(function*() {
      const store = yield* Effect.provide(KeyValueStore.KeyValueStore, MemoryStore.layer())
      const members = Object.keys(store).filter((name) =>
        ![KeyValueStore.TypeId, "backend", "capabilities", "separator", "primitives"].includes(name)
      ).filter((name) => !(Wrapper.derivedMembers as ReadonlyArray<string>).includes(name))
      assert.sameMembers(Object.keys(Wrapper.operationShapes), members)
    }).pipe(Effect.runPromise))
})

describe("wrapper helper: around", () => {
  it.effect("sees every operation and the primitives a namespace over it calls", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const store = recording(yield* KeyValueStore.KeyValueStore, calls)
      yield* store.set("a", "1")
      yield* store.increment("n")
      yield* Stream.runDrain(store.keys())
      yield* store.size
      assert.deepStrictEqual(calls, ["set", "increment", "keys", "size"])
      calls.length = 0
      const ns = KeyValueStore.prefix(store, "ns.")
      yield* ns.set("a", "1")
      yield* ns.increment("n")
      assert.deepStrictEqual(calls, ["set", "modify"])
    }).pipe(Effect.provide(MemoryStore.layer())))
})

suite(
  "MemoryStore through an inert aspect (wrapper helper)",
  Layer.effect(KeyValueStore.KeyValueStore, Effect.map(KeyValueStore.KeyValueStore, (s) => recording(s, []))).pipe(
    Layer.provide(MemoryStore.layer())
  ),
  MemoryStore.capabilities
)

describe("scripted test backend", () => {
  it.effect("fails, fails after applying, and hangs as scripted", () =>
    Effect.gen(function*() {
      const { control, store } = Scripted.make(yield* KeyValueStore.KeyValueStore)
      control.script(
        { method: "set", mode: "fail", times: 2 },
        { method: "increment", mode: "failAfter" },
        { method: "get", mode: "hang" }
      )
      assert.strictEqual((yield* Effect.flip(store.set("a", "1")))._tag, "BackendError")
      assert.strictEqual((yield* Effect.flip(store.set("a", "1")))._tag, "BackendError")
      yield* store.set("a", "1")
      assert.strictEqual((yield* Effect.flip(store.increment("n")))._tag, "BackendError")
      assert.strictEqual(yield* store.increment("n"), 2n)
      const hung = yield* Effect.fork(store.get("a"))
      yield* TestClock.adjust("1 hour")
      assert.isTrue(Option.isNone(yield* Fiber.poll(hung)), "the hanging get answered")
      yield* Fiber.interrupt(hung)
      assert.deepStrictEqual(control.callsOf("set").map((call) => call.outcome), ["fail", "fail", "passed"])
    }).pipe(Effect.provide(MemoryStore.layer())))
})

describe("KeyValueStore.wrap and readOnly", () => {
  it.effect("wrap keeps what the wrapper gives besides the store", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore
      yield* store.set("a", "1")
      const snapshot = yield* Statistics.snapshot
      assert.strictEqual(snapshot.operations["set"]?.calls, 1)
    }).pipe(Effect.provide(MemoryStore.layer().pipe(KeyValueStore.wrap(Statistics.layer())))))

  it.effect("readOnly is typed without writing members and refuses writes at runtime", () =>
    Effect.gen(function*() {
      const reader = KeyValueStore.readOnly(yield* KeyValueStore.KeyValueStore)
      // @ts-expect-error a read-only view has no `set`
      const set = reader.set as KeyValueStore.Service["set"]
      assert.strictEqual((yield* Effect.flip(set("a", "1")))._tag, "ReadOnlyViolation")
      assert.isTrue(Option.isNone(yield* reader.get("a")))
    }).pipe(Effect.provide(MemoryStore.layer())))
})
