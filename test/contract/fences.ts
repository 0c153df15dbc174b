/**
 * The fenced-write contract, registered by the lock contract (`locksSuite`) on every store: `fencedWriteCases(test,
 * capabilities)`. Every fenced operation (`set`, `add`, `setMany`, `remove`, `removeMany`, `pop`, `touch`,
 * `setMetadata`, `increment`, `decrement`, `compareAndSwap`, `append`, `update`) writes while its lock is held; fails
 * with `LockLost` naming the lock, and leaves every entry as it was, once the holder's lease expired and another
 * holder took the lock (a holder paused past its lease: its heartbeat renews nothing), once the lease expired with
 * nobody taking it, and once the lock was released (even when the release failed to reach the table), the operations
 * that end up writing nothing included. A lock of another store, or an object that is not a lock, is
 * `InvalidArgument`, and so is a fence inside an entry of `setMany`. A namespace's lock fences the namespace's writes
 * and the root's writes of the same keys. A fenced write joins a transaction of the store, and rolls back with it.
 * On a store without `capabilities.fencedWrites`, a fenced operation fails with `Unsupported`.
 *
 * Keys and the lock name share the hash tag `{f}`, so that a store sharding by hash tag (FanoutStore) keeps them on
 * one shard.
 */
import { assert } from "@effect/vitest"
import { KeyValueStore, MemoryStore } from "effect-kv"
import type { KeyValueStoreError } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { hold } from "../locks/helpers.js"

type Store = KeyValueStore.Service
type StoreError = KeyValueStoreError.KeyValueStoreError
type Test = (title: string, body: (store: Store) => Effect.Effect<void, unknown>) => void

const LOCK = "{f}"
const A = "{f}.a"
const B = "{f}.b"
const N = "{f}.n"
const NEW = "{f}.new"
const KEYS = [A, B, N, NEW]

/** The entries the operations start from: two values (one with a ttl, where the store has expiry) and a counter. */
const seed = (store: Store) =>
  Effect.zipRight(
    store.removeMany(KEYS),
    store.setMany([[A, "old", store.capabilities.expiry ? { ttl: "1 hour" } : {}], [B, "other"], [N, "5"]])
  )

/** Every entry of `KEYS` as text: value, remaining ttl, metadata. */
const snapshot = (store: Store) =>
  Effect.forEach(KEYS, (key) =>
    Effect.map(store.getEntry(key), (entry) =>
      Option.match(entry, {
        onNone: () => `${key}: none`,
        onSome: (e) =>
          `${key}: ${Buffer.from(e.value).toString("utf8")} expires ${Option.getOrElse(e.expiresAt, () => "never")} ` +
          `metadata ${JSON.stringify(Option.getOrNull(e.metadata))}`
      })))

type Operation = readonly [
  name: string,
  run: (store: Store, fence: KeyValueStore.Lock) => Effect.Effect<unknown, StoreError>,
  writes: boolean
]

/** The fenced operations over the seeded entries: `writes` says whether it changes them while the lock is held. */
const operations = (capabilities: KeyValueStore.Capabilities): ReadonlyArray<Operation> => {
  const all: ReadonlyArray<Operation | false> = [
    ["set", (store, fence) => store.set(A, "new", { fence }), true],
    ["add", (store, fence) => store.add(NEW, "new", { fence }), true],
    ["add over an entry (writes nothing)", (store, fence) => store.add(A, "new", { fence }), false],
    ["setMany", (store, fence) => store.setMany([[A, "new"], [NEW, "new"]], { fence }), true],
    ["remove", (store, fence) => store.remove(A, { fence }), true],
    ["removeMany", (store, fence) => store.removeMany([A, B], { fence }), true],
    ["pop", (store, fence) => store.pop(A, { fence }), true],
    ["pop of an absent key (writes nothing)", (store, fence) => store.pop(NEW, { fence }), false],
    capabilities.expiry && ["touch", (store, fence) => store.touch(A, "2 hours", { fence }), true],
    capabilities.metadata && ["setMetadata", (store, fence) => store.setMetadata(A, { m: 1 }, { fence }), true],
    ["increment", (store, fence) => store.increment(N, 1, { fence }), true],
    ["decrement", (store, fence) => store.decrement(N, 1, { fence }), true],
    [
      "compareAndSwap",
      (store, fence) => store.compareAndSwap(A, Option.some("old"), Option.some("new"), { fence }),
      true
    ],
    [
      "compareAndSwap that does not match (writes nothing)",
      (store, fence) => store.compareAndSwap(A, Option.some("nope"), Option.some("new"), { fence }),
      false
    ],
    ["append", (store, fence) => store.append(A, "+", { fence }), true],
    ["update", (store, fence) => store.update(A, () => Option.some("new"), { fence }), true]
  ]
  return all.filter((operation): operation is Operation => operation !== false)
}

/** The error `self` fails with; a success fails the test. */
const failure = <A>(self: Effect.Effect<A, StoreError>, what: string): Effect.Effect<StoreError> =>
  Effect.flip(self).pipe(
    Effect.catchAll(() => Effect.dieMessage(`${what}: expected a failure, but it succeeded`))
  )

/** Every operation fails with `tag` (and `LockLost` names `name`), leaving the seeded entries as they were. */
const refusedEverywhere = (
  store: Store,
  capabilities: KeyValueStore.Capabilities,
  fence: KeyValueStore.Lock,
  tag: StoreError["_tag"],
  why: string
) =>
  Effect.gen(function*() {
    for (const [name, run] of operations(capabilities)) {
      yield* seed(store)
      const before = yield* snapshot(store)
      const error = yield* failure(run(store, fence), `${name} ${why}`)
      assert.strictEqual(error._tag, tag, `${name} ${why}: ${error.message}`)
      if (error._tag === "LockLost") assert.strictEqual(error.name, fence.name, `${name}: the lock named`)
      if (error._tag === "InvalidArgument") assert.strictEqual(error.argument, "fence", `${name}: the argument named`)
      assert.deepStrictEqual(yield* snapshot(store), before, `${name} ${why} changed the store`)
    }
  })

/** Registers the fenced-write cases (inside the lock contract's `describe`). */
export const fencedWriteCases = (test: Test, capabilities: KeyValueStore.Capabilities): void => {
  if (!capabilities.fencedWrites) {
    test("a fenced write fails with Unsupported and changes nothing", (store) =>
      Effect.scoped(Effect.gen(function*() {
        const other = yield* MemoryStore.make()
        const { lock } = yield* hold(other, LOCK)
        yield* refusedEverywhere(store, capabilities, lock, "Unsupported", "on a store without fenced writes")
      })))
    return
  }

  test("fenced writes succeed while the lock is held, and each one writes", (store) =>
    Effect.gen(function*() {
      const { lock, release } = yield* hold(store, LOCK)
      for (const [name, run, writes] of operations(capabilities)) {
        yield* seed(store)
        const before = yield* snapshot(store)
        yield* Effect.mapError(run(store, lock), (error) => new Error(`${name}: ${error.message}`))
        const after = yield* snapshot(store)
        if (writes) assert.notDeepEqual(after, before, `${name} wrote nothing`)
        else assert.deepStrictEqual(after, before, `${name} wrote`)
      }
      yield* store.set(A, "fenced", { fence: lock })
      assert.strictEqual(Option.getOrUndefined(yield* store.getString(A)), "fenced")
      yield* release
    }))

  test("a holder paused past its lease cannot write once another holder took the lock: LockLost, nothing changed", (store) =>
    Effect.gen(function*() {
      const table = store.primitives.leases!
      // A paused holder: its heartbeat runs, but its renewals never reach the table.
      const paused = KeyValueStore.make({
        ...store.primitives,
        leases: { ...table, renew: () => Effect.succeed(true) }
      })
      const first = yield* hold(paused, LOCK, { ttl: "3 seconds" })
      yield* seed(store)
      yield* store.set(A, "while held", { fence: first.lock })
      yield* TestClock.adjust("2999 millis")
      yield* store.set(A, "still held", { fence: first.lock })
      yield* TestClock.adjust("2 seconds")
      // Expired, nobody took it yet: refused all the same.
      yield* refusedEverywhere(store, capabilities, first.lock, "LockLost", "after the lease expired")
      const second = yield* hold(store, LOCK, { ttl: "1 minute" })
      assert.isTrue(second.lock.fencingToken > first.lock.fencingToken)
      yield* refusedEverywhere(store, capabilities, first.lock, "LockLost", "after another holder took the lock")
      yield* refusedEverywhere(paused, capabilities, first.lock, "LockLost", "through the holder's own store")
      yield* store.set(A, "second", { fence: second.lock })
      assert.strictEqual(Option.getOrUndefined(yield* store.getString(A)), "second")
    }))

  test("a released lock fences nothing: LockLost, also when the release never reached the table", (store) =>
    Effect.gen(function*() {
      const { lock, release } = yield* hold(store, LOCK)
      yield* release
      yield* refusedEverywhere(store, capabilities, lock, "LockLost", "after release")

      const table = store.primitives.leases!
      const unreleased = KeyValueStore.make({ ...store.primitives, leases: { ...table, release: () => Effect.void } })
      const kept = yield* hold(unreleased, LOCK)
      yield* kept.release
      yield* refusedEverywhere(store, capabilities, kept.lock, "LockLost", "after a release that failed")
    }))

  test("a lock of another store, or no lock at all, is InvalidArgument; so is a fence inside a setMany entry", (store) =>
    Effect.scoped(Effect.gen(function*() {
      const other = yield* MemoryStore.make()
      const foreign = yield* hold(other, LOCK)
      yield* refusedEverywhere(store, capabilities, foreign.lock, "InvalidArgument", "with another store's lock")
      const fake: KeyValueStore.Lock = { name: LOCK, fencingToken: 1n, verify: Effect.void, lost: Effect.never }
      yield* refusedEverywhere(store, capabilities, fake, "InvalidArgument", "with an object that is not a lock")

      const { lock } = yield* hold(store, LOCK)
      yield* seed(store)
      const before = yield* snapshot(store)
      const error = yield* failure(store.setMany([[A, "new", { fence: lock }]]), "setMany with an entry's fence")
      assert.strictEqual(error._tag, "InvalidArgument")
      assert.deepStrictEqual(yield* snapshot(store), before, "setMany with an entry's fence changed the store")
    })))

  test("a namespace's lock fences the namespace's writes and the root's writes of the same keys", (store) =>
    Effect.gen(function*() {
      const sep = store.separator
      const ns = KeyValueStore.prefix(store, `ns${sep}`)
      const { lock, release } = yield* hold(ns, LOCK)
      // The root's lock of the same name is another lock: taking it changes nothing for the namespace's holder.
      const root = yield* hold(store, LOCK)
      yield* ns.set(A, "from the namespace", { fence: lock })
      yield* store.set(`ns${sep}${A}`, "from the root", { fence: lock })
      assert.strictEqual(Option.getOrUndefined(yield* ns.getString(A)), "from the root")
      yield* store.set(A, "root's own", { fence: root.lock })
      yield* release
      const lost = yield* failure(ns.set(A, "late", { fence: lock }), "a namespace write after release")
      assert.strictEqual(lost._tag, "LockLost")
      assert.strictEqual((lost as KeyValueStoreError.LockLost).name, LOCK, "the lock as the namespace names it")
      yield* failure(store.set(`ns${sep}${A}`, "late", { fence: lock }), "a root write after release")
      assert.strictEqual(Option.getOrUndefined(yield* ns.getString(A)), "from the root")
    }))

  if (capabilities.transactions) {
    test("a fenced write joins a transaction and rolls back with it", (store) =>
      Effect.gen(function*() {
        const { lock, release } = yield* hold(store, LOCK)
        yield* seed(store)
        yield* store.withTransaction(store.set(A, "committed", { fence: lock }))
        assert.strictEqual(Option.getOrUndefined(yield* store.getString(A)), "committed")
        const exit = yield* Effect.exit(
          store.withTransaction(Effect.zipRight(store.set(A, "rolled back", { fence: lock }), Effect.fail("boom")))
        )
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(Option.getOrUndefined(yield* store.getString(A)), "committed")
        yield* release
        const lost = yield* failure(
          store.withTransaction(
            Effect.zipRight(store.set(B, "in the transaction"), store.set(A, "x", { fence: lock }))
          ),
          "a fenced write after release, in a transaction"
        )
        assert.strictEqual(lost._tag, "LockLost")
        assert.strictEqual(Option.getOrUndefined(yield* store.getString(B)), "other", "the transaction was not undone")
      }))
  }
}
