/**
 * The `ReadOnly` wrapper: every writing operation of the service (the table below must name each one `ReadOnly.access`
 * classifies as a write, and that table must cover every operation of a real store) fails with `ReadOnlyViolation`
 * and leaves the store exactly as it was, directly and through a namespace built over the wrapper; under
 * `onWrite: "ignore"` each write answers "nothing changed" (or still fails, for the operations whose result is the
 * value written). Reads pass, `check` passes without `fix`. `view` has no writing member at the type level.
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStoreError } from "effect-kv"
import { KeyValueStore, MemoryStore, ReadOnly } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

type Store = KeyValueStore.Service
type StoreError = KeyValueStoreError.KeyValueStoreError

/** One call of every writing operation, on keys the seeded store has (so each would change something). */
const writes: { readonly [K in ReadOnly.Writer]: (store: Store) => Effect.Effect<unknown, StoreError> } = {
  set: (store) => store.set("k", "new"),
  remove: (store) => store.remove("k"),
  pop: (store) => store.pop("k"),
  add: (store) => store.add("fresh", "v"),
  touch: (store) => store.touch("k", "1 hour"),
  setMetadata: (store) => store.setMetadata("k", { b: 2 }),
  increment: (store) => store.increment("n"),
  decrement: (store) => store.decrement("n"),
  compareAndSwap: (store) => store.compareAndSwap("k", Option.some("v"), Option.some("w")),
  append: (store) => store.append("k", "tail"),
  update: (store) => store.update("k", () => Option.some("u")),
  setMany: (store) => store.setMany([["k", "x"], ["fresh", "y"]]),
  removeMany: (store) => store.removeMany(["k", "n"]),
  removePattern: (store) => store.removePattern("*"),
  removeTag: (store) => store.removeTag("t"),
  expire: (store) => store.expire,
  clear: (store) => store.clear,
  getOrSet: (store) => store.getOrSet("fresh", Effect.succeed("computed"))
}

/** The key each write names in its error (`undefined`: the operation has no single key). */
const keyOf: { readonly [K in ReadOnly.Writer]: string | undefined } = {
  set: "k",
  remove: "k",
  pop: "k",
  add: "fresh",
  touch: "k",
  setMetadata: "k",
  increment: "n",
  decrement: "n",
  compareAndSwap: "k",
  append: "k",
  update: "k",
  setMany: undefined,
  removeMany: undefined,
  removePattern: undefined,
  removeTag: undefined,
  expire: undefined,
  clear: undefined,
  getOrSet: "fresh"
}

/** What each write answers under `onWrite: "ignore"` ("fails": it still fails with `ReadOnlyViolation`). */
const ignored: { readonly [K in ReadOnly.Writer]: unknown } = {
  set: undefined,
  remove: false,
  pop: Option.none(),
  add: false,
  touch: false,
  setMetadata: false,
  increment: "fails",
  decrement: "fails",
  compareAndSwap: false,
  append: "fails",
  update: "fails",
  setMany: undefined,
  removeMany: 0,
  removePattern: 0,
  removeTag: 0,
  expire: 0,
  clear: undefined,
  // computed and returned, not written
  getOrSet: new TextEncoder().encode("computed")
}

const writers = Object.keys(writes) as Array<ReadOnly.Writer>

/** Entries in the plain store and in the namespace "ns.", one of them expired but not yet removed. */
const seed = (store: Store) =>
  Effect.gen(function*() {
    for (const prefix of ["", "ns."]) {
      yield* store.set(`${prefix}k`, "v", { ttl: "1 hour", tags: ["t", "ns.t"], metadata: { a: 1 } })
      yield* store.set(`${prefix}n`, "5")
      yield* store.set(`${prefix}gone`, "x", { ttl: "1 second" })
    }
    yield* TestClock.adjust("2 seconds")
  })

/** Everything observable about the store's contents, read through the plain store. */
const snapshot = (store: Store) =>
  Effect.gen(function*() {
    const keys = Chunk.toArray(yield* Stream.runCollect(store.keys()))
    const entries = yield* Effect.forEach(keys, (key) =>
      Effect.map(
        store.getEntry(key),
        Option.map((entry) => ({
          ...entry,
          value: Buffer.from(entry.value).toString("hex"),
          tags: [...entry.tags].sort()
        }))
      ))
    const ttls = yield* Effect.forEach(keys, (key) => store.ttl(key))
    const expiredPending = (yield* store.check()).expiredPending
    return { keys, entries, ttls, size: yield* store.size, expiredPending }
  })

const withStores = <A, E>(
  options: ReadOnly.Options | undefined,
  f: (inner: Store, readOnly: Store) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const inner = yield* KeyValueStore.KeyValueStore
    yield* seed(inner)
    return yield* f(inner, yield* ReadOnly.make(inner, options))
  }).pipe(Effect.provide(MemoryStore.layer()))

describe("ReadOnly", () => {
  it("the writes table covers every operation classified as a write, and the classification every operation", () =>
    Effect.gen(function*() {
      const store = yield* Effect.provide(KeyValueStore.KeyValueStore, MemoryStore.layer())
      const operations = Object.keys(store).filter((name) =>
        ![KeyValueStore.TypeId, "backend", "capabilities", "separator", "primitives"].includes(name)
      )
      assert.sameMembers(Object.keys(ReadOnly.access), operations)
      assert.sameMembers(
        writers,
        Object.entries(ReadOnly.access).filter(([, access]) => access === "write").map(([name]) => name)
      )
    }).pipe(Effect.runPromise))

  for (const method of writers) {
    it.effect(`${method} fails with ReadOnlyViolation and changes nothing`, () =>
      withStores(undefined, (inner, store) =>
        Effect.gen(function*() {
          const before = yield* snapshot(inner)
          const error = yield* Effect.flip(writes[method](store))
          assert.strictEqual(error._tag, "ReadOnlyViolation")
          assert.strictEqual(error.method, method)
          assert.strictEqual(error.key, keyOf[method])
          assert.deepStrictEqual(yield* snapshot(inner), before)
        })))

    it.effect(`${method} through a namespace over the read-only store fails and changes nothing`, () =>
      withStores(undefined, (inner, store) =>
        Effect.gen(function*() {
          const before = yield* snapshot(inner)
          const error = yield* Effect.flip(writes[method](KeyValueStore.prefix(store, "ns.")))
          assert.strictEqual(error._tag, "ReadOnlyViolation", `${method}: ${error._tag}`)
          assert.deepStrictEqual(yield* snapshot(inner), before)
        })))

    it.effect(`${method} under onWrite: "ignore" answers ${String(ignored[method])} and changes nothing`, () =>
      withStores({ onWrite: "ignore" }, (inner, store) =>
        Effect.gen(function*() {
          const before = yield* snapshot(inner)
          const exit = yield* Effect.exit(writes[method](store))
          if (ignored[method] === "fails") {
            assert.isTrue(Exit.isFailure(exit))
            const error = yield* Effect.flip(writes[method](store))
            assert.strictEqual(error._tag, "ReadOnlyViolation")
          } else {
            assert.deepStrictEqual(exit, Exit.succeed(ignored[method]))
          }
          assert.deepStrictEqual(yield* snapshot(inner), before)
        })))
  }

  it.effect("a fenced write is refused too, before its fence is looked at", () =>
    withStores(undefined, (inner, store) =>
      Effect.gen(function*() {
        const before = yield* snapshot(inner)
        yield* Effect.scoped(Effect.gen(function*() {
          const lock = yield* store.lock("L")
          const error = yield* Effect.flip(store.set("k", "w", { fence: lock }))
          assert.strictEqual(error._tag, "ReadOnlyViolation")
        }))
        assert.deepStrictEqual(yield* snapshot(inner), before)
      })))

  it.effect("reads pass and see the inner store's contents", () =>
    withStores(undefined, (inner, store) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* store.getString("k"), Option.some("v"))
        assert.deepStrictEqual(yield* store.getOrFail("n"), yield* inner.getOrFail("n"))
        assert.deepStrictEqual(yield* store.getEntry("k"), yield* inner.getEntry("k"))
        assert.isTrue(yield* store.has("k"))
        assert.deepStrictEqual(yield* store.ttl("k"), yield* inner.ttl("k"))
        assert.deepStrictEqual(yield* store.getMany(["k", "x"]), yield* inner.getMany(["k", "x"]))
        assert.deepStrictEqual(
          Chunk.toArray(yield* Stream.runCollect(store.entries())),
          Chunk.toArray(yield* Stream.runCollect(inner.entries()))
        )
        assert.strictEqual(yield* store.countPattern("*"), yield* inner.countPattern("*"))
        assert.strictEqual(yield* store.size, 4)
        const ns = KeyValueStore.prefix(store, "ns.")
        assert.deepStrictEqual(yield* ns.getString("k"), Option.some("v"))
        assert.strictEqual(yield* ns.size, 2)
        assert.strictEqual((yield* store.stats).hits > 0, true)
      })))

  it.effect("check passes without fix and is refused with fix: true (ignore: checks without fixing)", () =>
    Effect.gen(function*() {
      yield* withStores(undefined, (inner, store) =>
        Effect.gen(function*() {
          assert.strictEqual((yield* store.check()).expiredPending, 2)
          const error = yield* Effect.flip(store.check({ fix: true }))
          assert.strictEqual(error._tag, "ReadOnlyViolation")
          const nsError = yield* Effect.flip(KeyValueStore.prefix(store, "ns.").check({ fix: true }))
          assert.strictEqual(nsError._tag, "ReadOnlyViolation")
          assert.strictEqual((yield* inner.check()).expiredPending, 2)
        }))
      yield* withStores({ onWrite: "ignore" }, (inner, store) =>
        Effect.gen(function*() {
          const report = yield* store.check({ fix: true })
          assert.deepStrictEqual(report.fixed, [])
          assert.strictEqual((yield* inner.check()).expiredPending, 2)
        }))
    }))

  it.effect("transactions and locks pass", () =>
    withStores(undefined, (_, store) =>
      Effect.gen(function*() {
        const value = yield* store.withTransaction(store.getString("k"))
        assert.deepStrictEqual(value, Option.some("v"))
        const locked = yield* store.withLock("L")(Effect.succeed(1))
        assert.strictEqual(locked, 1)
      })))

  it.effect("an unknown onWrite is InvalidArgument when the store is built, never a defect", () =>
    Effect.gen(function*() {
      const inner = yield* KeyValueStore.KeyValueStore
      const error = yield* Effect.flip(ReadOnly.make(inner, { onWrite: "nope" as "fail" }))
      assert.strictEqual(error._tag, "InvalidArgument")
      assert.strictEqual(error.argument, "onWrite")
      const fromLayer = yield* Effect.flip(
        Effect.provide(
          KeyValueStore.KeyValueStore,
          ReadOnly.layer({ onWrite: 1 as never }).pipe(Layer.provide(MemoryStore.layer()))
        )
      )
      assert.strictEqual(fromLayer._tag, "InvalidArgument")
      const notAnObject = yield* Effect.flip(ReadOnly.make(inner, "fail" as never))
      assert.strictEqual(notAnObject._tag, "InvalidArgument")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("the layer wraps the store in context", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore
      assert.strictEqual((yield* Effect.flip(store.set("a", "1")))._tag, "ReadOnlyViolation")
      assert.deepStrictEqual(yield* store.get("a"), Option.none())
    }).pipe(Effect.provide(MemoryStore.layer().pipe(KeyValueStore.wrap(ReadOnly.layer())))))
})

describe("ReadOnly.view", () => {
  it("has no writing member at the type level", () => {
    type Leaked = Extract<keyof ReadOnly.ReadOnlyStore, ReadOnly.Writer | "resetStats" | "primitives">
    const none: [Leaked] extends [never] ? true : false = true
    assert.isTrue(none)
  })

  it.effect("is the failing read-only store at runtime: a write through a cast is refused", () =>
    Effect.gen(function*() {
      const inner = yield* KeyValueStore.KeyValueStore
      yield* inner.set("k", "v")
      const reader = ReadOnly.view(inner)
      assert.deepStrictEqual(yield* reader.getString("k"), Option.some("v"))
      // @ts-expect-error a read-only view has no `set`
      const write: Effect.Effect<void, StoreError> = reader.set("k", "w")
      assert.strictEqual((yield* Effect.flip(write))._tag, "ReadOnlyViolation")
      // @ts-expect-error a read-only view's `check` takes no `fix: true`
      const fix: Effect.Effect<unknown, StoreError> = reader.check({ fix: true })
      assert.strictEqual((yield* Effect.flip(fix))._tag, "ReadOnlyViolation")
      assert.deepStrictEqual(yield* inner.getString("k"), Option.some("v"))
    }).pipe(Effect.provide(MemoryStore.layer())))
})
