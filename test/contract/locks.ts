/**
 * The lock contract: `locksSuite(name, layer, capabilities)` registers the lease-lock cases on a store freshly built
 * from `layer` per test, with `TestClock` as the clock. On a store with `capabilities.locks`: acquisition and release
 * in a scope, a waiter woken by a release (and one polling for it), `LockTimeout` after the timeout or when the retry
 * schedule ends, fencing tokens strictly increasing across holders, semaphores of `holders` slots, `withLock`
 * releasing however its effect ends, the heartbeat keeping a lease alive, expiry when renewals fail and at the lease
 * table itself (`store.primitives.leases`), `LockLost` through `verify`, `lost` and `withLock` when the lease is taken
 * away behind the holder's back, argument errors, and namespaces holding their own locks; then the fenced-write cases
 * (`fences.ts`). On a store without locks, `lock` and `withLock` fail with `Unsupported`.
 *
 * The clock moves only through `paced` (below): one scheduled wake-up at a time, each followed by the lease-table calls
 * it started coming back, so that a store on a server answers every call before the next instant, however loaded the
 * machine (TestClock's own `adjust` moves on while those calls are still on the wire).
 */
import { assert, describe } from "@effect/vitest"
import { KeyValueStore, KeyValueStoreError } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { fencedWriteCases } from "./fences.js"
import { testOn } from "./suite.js"

type Store = KeyValueStore.Service
type StoreError = KeyValueStoreError.KeyValueStoreError
type LeaseTable = NonNullable<KeyValueStore.Primitives["leases"]>

/** Fails the test (as a defect) when `self` succeeds; otherwise yields its error. */
const failure = <A, E, R>(self: Effect.Effect<A, E, R>, what: string): Effect.Effect<E, never, R> =>
  Effect.flip(self).pipe(
    Effect.catchAll(() => Effect.dieMessage(`${what}: expected a failure, but it succeeded`))
  )

const expectError = <A, R>(self: Effect.Effect<A, StoreError, R>, tag: StoreError["_tag"], what: string) =>
  Effect.map(failure(self, what), (error) => {
    assert.strictEqual(error._tag, tag, `${what}: ${error.message}`)
    return error
  })

/** A lock held until `release` (a scope of its own), taken at once (or failing with `LockTimeout`). */
const hold = (store: Store, name: string, options?: KeyValueStore.LockOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const lock = yield* Scope.extend(store.lock(name, { timeout: 0, ...options }), scope).pipe(
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    return { lock, release: Scope.close(scope, Exit.void) }
  })

/** Whether `name` can be taken right now (tried once, released at once). */
const free = (store: Store, name: string) =>
  Effect.scoped(store.lock(name, { timeout: 0 })).pipe(
    Effect.as(true),
    Effect.catchTag("LockTimeout", () => Effect.succeed(false))
  )

/** How long (real time) a lease-table call may stay on its way before `quiet` gives up: a deadline, not a pace. */
const CALL_DEADLINE_MS = 10_000

/** A store whose lease-table calls are counted while on their way, with the clock steps that wait for them. */
interface Paced {
  readonly store: Store
  /** The store itself, without the counting lease table (a second store over the same primitives). */
  readonly raw: Store
  /**
   * Returns once every fiber has run until it blocks and no lease-table call is on its way: the calls a release or a
   * clock step started have come back (a waiter woken by a release has made its attempt). Dies when a call is still
   * on its way after `CALL_DEADLINE_MS`.
   */
  readonly quiet: Effect.Effect<void>
  /**
   * `TestClock.adjust`, one scheduled wake-up at a time, each followed by `quiet`. TestClock counts a fiber waiting on
   * real I/O as suspended, so its own `adjust` goes on moving the clock while a renewal or an attempt is on the wire:
   * one `adjust` of 29 seconds passes a lease's expiry while the renewal made at its first third, which would have
   * extended it, is still unanswered, and a waiter then takes the lease of a live holder (a slow server, not a dead
   * holder). Here every instant sees the answers of the calls made before it, as with a server that answers at once.
   */
  readonly adjust: (duration: Duration.DurationInput) => Effect.Effect<void>
}

const paced = (raw: Store): Paced => {
  const table = raw.primitives.leases
  let inFlight = 0
  const counted = <A>(call: Effect.Effect<A, StoreError>) =>
    Effect.suspend(() => {
      inFlight++
      return Effect.ensuring(call, Effect.sync(() => inFlight--))
    })
  const store = table === undefined ? raw : over(raw, {
    ...table,
    acquire: (...args) => counted(table.acquire(...args)),
    renew: (...args) => counted(table.renew(...args)),
    release: (...args) => counted(table.release(...args))
  })
  // Turns of the event loop until five in a row find no call on its way, the last of them a timer's (the scheduler's
  // own hops may wait for one): every fiber has then run until it blocks, a woken waiter through its turn between
  // attempts. While a call is on its way, the loop sleeps a millisecond per turn rather than spin. The clock does not
  // move meanwhile, so no poll on a schedule can happen during it.
  const quiet = Effect.flatMap(
    Effect.promise(async () => {
      const deadline = performance.now() + CALL_DEADLINE_MS
      for (let idle = 0; idle < 5;) {
        await new Promise((resolve) => idle === 0 || idle === 4 ? setTimeout(resolve, 1) : setImmediate(resolve))
        idle = inFlight === 0 ? idle + 1 : 0
        if (idle === 0 && performance.now() > deadline) return false
      }
      return true
    }),
    (done) =>
      done ? Effect.void : Effect.dieMessage(`a lease-table call is still on its way after ${CALL_DEADLINE_MS} ms`)
  )
  const adjust = (duration: Duration.DurationInput) =>
    Effect.gen(function*() {
      const end = (yield* Clock.currentTimeMillis) + Duration.toMillis(duration)
      for (;;) {
        yield* quiet
        const next = Chunk.reduce(yield* TestClock.sleeps(), Infinity, (a, b) => Math.min(a, b))
        yield* TestClock.setTime(Math.min(next, end))
        if (next >= end) return yield* quiet
      }
    })
  return { store, raw, quiet, adjust }
}

const isRunning = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(Fiber.poll(fiber), Option.isNone)

const tableOf = (store: Store): LeaseTable => {
  const table = store.primitives.leases
  assert.isDefined(table, "a store with locks exposes its lease table in its primitives")
  return table!
}

/** A store over the same engine whose lease table is `table` instead. */
const over = (store: Store, table: LeaseTable): Store => KeyValueStore.make({ ...store.primitives, leases: table })

/** The table, remembering the owner of each slot it hands out, so a test can take a lease away behind its back. */
const spied = (table: LeaseTable) => {
  const owners = new Map<string, string>()
  const spy: LeaseTable = {
    ...table,
    acquire: (name, owner, holders, now, expiresAt) =>
      Effect.tap(table.acquire(name, owner, holders, now, expiresAt), (token) => {
        if (token !== undefined) owners.set(name, owner)
      })
  }
  const takeAway = (name: string) =>
    Effect.suspend(() => {
      const owner = owners.get(name)
      assert.isDefined(owner, `no slot of ${name} was handed out`)
      return table.release(name, owner!)
    })
  return { spy, takeAway }
}

/** Registers the lock contract on stores built from `layer`. */
export const locksSuite = (
  name: string,
  layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown>,
  capabilities: KeyValueStore.Capabilities
): void => {
  const test = (title: string, body: (paced: Paced) => Effect.Effect<void, unknown>) =>
    testOn(layer)(title, (store) => body(paced(store)))

  describe(`${name}: locks`, () => {
    if (!capabilities.locks) {
      test("lock and withLock fail with Unsupported, and withLock does not run its effect", ({ store }) =>
        Effect.gen(function*() {
          yield* expectError(Effect.scoped(store.lock("a")), "Unsupported", "lock")
          let ran = false
          yield* expectError(store.withLock("a")(Effect.sync(() => ran = true)), "Unsupported", "withLock")
          assert.isFalse(ran, "withLock ran its effect")
        }))
      fencedWriteCases((title, body) => test(title, ({ raw }) => body(raw)), capabilities)
      return
    }

    test("a lock is held for its scope and free once the scope closes", ({ store }) =>
      Effect.gen(function*() {
        const { lock, release } = yield* hold(store, "a")
        assert.strictEqual(lock.name, "a")
        assert.strictEqual(typeof lock.fencingToken, "bigint")
        yield* lock.verify
        assert.isFalse(yield* free(store, "a"), "a second acquisition got a held lock")
        assert.isTrue(yield* free(store, "b"), "another name is another lock")
        yield* release
        assert.isTrue(yield* free(store, "a"), "the lock was not released with its scope")
        yield* expectError(lock.verify, "LockLost", "verify after release")
      }))

    test("a waiter gets the lock when its holder releases it, woken without waiting for its next poll", ({ adjust, quiet, store }) =>
      Effect.gen(function*() {
        const { release } = yield* hold(store, "a")
        const waiter = yield* Effect.fork(Effect.scoped(Effect.map(store.lock("a"), (lock) => lock.fencingToken)))
        yield* adjust("5 seconds")
        assert.isTrue(yield* isRunning(waiter), "the waiter got a held lock")
        yield* release
        // No clock step: only the release can end the wait.
        yield* quiet
        assert.isFalse(yield* isRunning(waiter), "the waiter was not woken by the release")
        yield* Fiber.join(waiter)
      }))

    test("a waiter polls for a lock released by another service over the same engine", ({ adjust, quiet, store }) =>
      Effect.gen(function*() {
        // A namespace is a service of its own: its releases wake only its own waiters.
        const ns = KeyValueStore.prefix(store, "ns.")
        const { release } = yield* hold(ns, "a")
        const waiter = yield* Effect.fork(Effect.scoped(store.lock("ns.a")))
        yield* adjust("5 seconds")
        assert.isTrue(yield* isRunning(waiter), "the waiter got a held lock")
        yield* release
        yield* quiet
        yield* adjust("300 millis")
        yield* quiet
        assert.isFalse(yield* isRunning(waiter), "the waiter did not poll again within 300 ms")
        yield* Fiber.join(waiter)
      }))

    test("LockTimeout once the timeout has passed, the default timeout being 30 seconds", ({ adjust, store }) =>
      Effect.gen(function*() {
        yield* hold(store, "a")
        const waiter = yield* Effect.fork(Effect.scoped(store.lock("a", { timeout: "2 seconds" })))
        yield* adjust("1999 millis")
        assert.isTrue(yield* isRunning(waiter), "gave up before its timeout")
        yield* adjust("1 millis")
        const error = yield* expectError(Fiber.join(waiter), "LockTimeout", "lock with a timeout")
        assert.strictEqual(error.method, "lock")
        assert.strictEqual((error as { readonly name?: string }).name, "a")

        const patient = yield* Effect.fork(Effect.scoped(store.lock("a")))
        yield* adjust("29 seconds")
        assert.isTrue(yield* isRunning(patient), "gave up before the default timeout")
        yield* adjust("1 second")
        yield* expectError(Fiber.join(patient), "LockTimeout", "lock with the default timeout")
        yield* expectError(Effect.scoped(store.lock("a", { timeout: 0 })), "LockTimeout", "timeout 0")
      }))

    test("LockTimeout when the retry schedule ends, before the timeout", ({ quiet, store }) =>
      Effect.gen(function*() {
        yield* hold(store, "a")
        let attempts = 0
        const counted: LeaseTable = {
          ...tableOf(store),
          acquire: (...args) => Effect.zipRight(Effect.sync(() => attempts++), tableOf(store).acquire(...args))
        }
        const waiter = yield* Effect.fork(
          Effect.scoped(over(store, counted).lock("a", { timeout: "1 hour", retry: Schedule.recurs(3) }))
        )
        yield* quiet
        yield* expectError(Fiber.join(waiter), "LockTimeout", "lock with a finite schedule")
        assert.strictEqual(attempts, 4, "one attempt, then one per recurrence")
      }))

    test("fencing tokens strictly increase across successive and concurrent holders", ({ store }) =>
      Effect.gen(function*() {
        const tokens: Array<bigint> = []
        for (let i = 0; i < 5; i++) {
          tokens.push(yield* Effect.scoped(Effect.map(store.lock("a"), (lock) => lock.fencingToken)))
        }
        const first = yield* hold(store, "s", { holders: 2 })
        const second = yield* hold(store, "s", { holders: 2 })
        yield* first.release
        const third = yield* hold(store, "s", { holders: 2 })
        const slots = [first, second, third].map(({ lock }) => lock.fencingToken)
        for (const series of [tokens, slots]) {
          series.forEach((token, i) => {
            if (i > 0) assert.isTrue(token > series[i - 1]!, `token ${token} after ${series[i - 1]}`)
          })
        }
      }))

    test("holders: 3 admits exactly three holders at once; a fourth waits for a slot", ({ adjust, quiet, store }) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        let active = 0
        let most = 0
        const entered = yield* Deferred.make<void>()
        const worker = store.withLock("s", { holders: 3 })(Effect.gen(function*() {
          active++
          most = Math.max(most, active)
          if (active === 3) yield* Deferred.succeed(entered, undefined)
          yield* Deferred.await(gate)
          active--
        }))
        const fibers = yield* Effect.forEach(Array.from({ length: 5 }), () => Effect.fork(worker))
        yield* Deferred.await(entered)
        yield* adjust("1 second")
        yield* quiet
        assert.strictEqual(active, 3, "holders inside the section")
        assert.isFalse(yield* free(store, "s"), "a fourth holder got in without waiting")
        yield* Deferred.succeed(gate, undefined)
        yield* adjust("1 second")
        yield* Fiber.joinAll(fibers)
        assert.strictEqual(most, 3, "most holders inside at once")
        assert.isTrue(yield* free(store, "s"))

        const held = yield* Effect.forEach([1, 2, 3], () => hold(store, "t", { holders: 3 }))
        const fourth = yield* Effect.fork(Effect.scoped(store.lock("t", { holders: 3 })))
        yield* adjust("1 second")
        assert.isTrue(yield* isRunning(fourth), "a fourth holder of three slots")
        yield* held[1]!.release
        yield* adjust("1 second")
        yield* Fiber.join(fourth)
      }))

    test("withLock runs its effect holding the lock and releases it however the effect ends", ({ quiet, store }) =>
      Effect.gen(function*() {
        const result = yield* store.withLock("a")(Effect.map(free(store, "a"), (free) => ({ free })))
        assert.deepStrictEqual(result, { free: false }, "the lock was free inside withLock")
        assert.isTrue(yield* free(store, "a"), "not released after success")

        const failed = yield* Effect.flip(store.withLock("a")(Effect.fail("boom" as const)))
        assert.strictEqual(failed, "boom")
        assert.isTrue(yield* free(store, "a"), "not released after a failure")

        const died = yield* Effect.exit(store.withLock("a")(Effect.dieMessage("defect")))
        assert.isTrue(Exit.isFailure(died) && !Exit.isInterrupted(died), "the defect did not come out")
        assert.isTrue(yield* free(store, "a"), "not released after a defect")

        const inside = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(
          store.withLock("a")(Effect.zipRight(Deferred.succeed(inside, undefined), Effect.never))
        )
        yield* Deferred.await(inside)
        yield* Fiber.interrupt(fiber)
        assert.isTrue(yield* free(store, "a"), "not released after an interruption")

        const waiting = yield* hold(store, "a")
        const interruptedWaiter = yield* Effect.fork(store.withLock("a")(Effect.void))
        yield* quiet
        yield* Fiber.interrupt(interruptedWaiter)
        yield* waiting.release
        assert.isTrue(yield* free(store, "a"), "an interrupted waiter left the lock taken")
      }))

    test("the heartbeat keeps a lease alive past its ttl", ({ adjust, store }) =>
      Effect.gen(function*() {
        const { lock } = yield* hold(store, "a", { ttl: "3 seconds" })
        const lost = yield* Effect.fork(lock.lost)
        for (let i = 0; i < 40; i++) yield* adjust("500 millis")
        assert.isFalse(yield* free(store, "a"), "the lease expired while its holder was alive")
        assert.isTrue(yield* isRunning(lost), "lost completed while the lease was renewed")
        yield* lock.verify
      }))

    test("the lease table: expired slots are taken over, their holders cannot renew, tokens keep growing", ({ store }) =>
      Effect.gen(function*() {
        const table = tableOf(store)
        const t1 = yield* table.acquire("t", "o1", 1, 1000, 2000)
        assert.isDefined(t1)
        assert.isUndefined(yield* table.acquire("t", "o2", 1, 1999, 2999), "took a live slot")
        assert.isTrue(yield* table.renew("t", "o1", 1500, 2500))
        assert.isUndefined(yield* table.acquire("t", "o2", 1, 2499, 3499), "took a renewed slot")
        const t2 = yield* table.acquire("t", "o2", 1, 2500, 3500)
        assert.isDefined(t2, "an expired slot was not taken over")
        assert.isTrue(t2! > t1!, `token ${t2} after ${t1}`)
        assert.isFalse(yield* table.renew("t", "o1", 2600, 3600), "the expired holder renewed")
        yield* table.release("t", "o1")
        assert.isUndefined(yield* table.acquire("t", "o3", 1, 2600, 3600), "an old holder's release freed a slot")
        yield* table.release("t", "o2")
        const t3 = yield* table.acquire("t", "o3", 1, 2700, 3700)
        assert.isTrue(t3 !== undefined && t3 > t2!, `token ${t3} after ${t2}`)
        assert.isDefined(yield* table.acquire("u", "o1", 1, 1000, 2000))
        assert.isFalse(yield* table.renew("u", "o1", 2000, 3000), "renewed a slot at its expiry, nobody took it")
        assert.isDefined(yield* table.acquire("t", "o4", 2, 2700, 3700), "a second slot of two")
        assert.isUndefined(yield* table.acquire("t", "o5", 2, 2700, 3700), "a third slot of two")
      }))

    test("a holder that cannot renew loses its lease once it expires, and a waiter gets it then", ({ adjust, store }) =>
      Effect.gen(function*() {
        const table = tableOf(store)
        const failing = over(store, {
          ...table,
          renew: () => Effect.fail(new KeyValueStoreError.BackendError({ method: "lock", backend: "test" }))
        })
        const { lock } = yield* hold(failing, "a", { ttl: "3 seconds" })
        const lost = yield* Effect.fork(lock.lost)
        const waiter = yield* Effect.fork(
          Effect.scoped(Effect.zipRight(store.lock("a", { timeout: "10 seconds" }), Clock.currentTimeMillis))
        )
        yield* adjust("2999 millis")
        assert.isTrue(yield* isRunning(waiter), "the waiter took a lease that had not expired")
        assert.isTrue(yield* isRunning(lost), "a failed renewal counted as lost before the lease expired")
        yield* adjust("1 second")
        const lostError = yield* expectError(Fiber.join(lost), "LockLost", "lost")
        assert.strictEqual((lostError as { readonly name?: string }).name, "a")
        assert.isAtLeast(yield* Fiber.join(waiter), 3000, "the waiter's acquisition time")
        yield* expectError(lock.verify, "LockLost", "verify")
      }))

    test("LockLost from verify, lost and withLock when the lease is taken away", ({ adjust, quiet, store }) =>
      Effect.gen(function*() {
        const { spy, takeAway } = spied(tableOf(store))
        const spiedStore = over(store, spy)
        const { lock } = yield* hold(spiedStore, "a", { ttl: "3 seconds" })
        const lost = yield* Effect.fork(lock.lost)
        yield* lock.verify
        yield* takeAway("a")
        yield* expectError(lock.verify, "LockLost", "verify")
        yield* quiet
        yield* expectError(Fiber.join(lost), "LockLost", "lost, after verify found it")

        const { lock: second } = yield* hold(spiedStore, "b", { ttl: "3 seconds" })
        const secondLost = yield* Effect.fork(second.lost)
        yield* takeAway("b")
        yield* adjust("999 millis")
        assert.isTrue(yield* isRunning(secondLost), "lost before the next heartbeat")
        yield* adjust("1 millis")
        yield* expectError(Fiber.join(secondLost), "LockLost", "lost, found by the heartbeat")

        const inside = yield* Deferred.make<void>()
        let interrupted = false
        const work = yield* Effect.fork(
          spiedStore.withLock("c", { ttl: "3 seconds" })(
            Effect.zipRight(Deferred.succeed(inside, undefined), Effect.never).pipe(
              Effect.onInterrupt(() => Effect.sync(() => interrupted = true))
            )
          )
        )
        yield* Deferred.await(inside)
        yield* takeAway("c")
        yield* adjust("1 second")
        yield* expectError(Fiber.join(work), "LockLost", "withLock")
        assert.isTrue(interrupted, "withLock's effect was not interrupted")
      }))

    test("a lock name, ttl, timeout, holder count or schedule out of range fails with InvalidArgument", ({ store }) =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [string, string, KeyValueStore.LockOptions | undefined, string]> = [
          ["an empty name", "", undefined, "name"],
          ["a name with a lone surrogate", "a\uD800", undefined, "name"],
          ["a name that is not a string", 42 as unknown as string, undefined, "name"],
          ["ttl 0", "a", { ttl: 0 }, "ttl"],
          ["a negative ttl", "a", { ttl: -5 }, "ttl"],
          ["ttl NaN", "a", { ttl: NaN }, "ttl"],
          ["an infinite ttl", "a", { ttl: Duration.infinity }, "ttl"],
          ["a ttl that is not a duration", "a", { ttl: "soon" as Duration.DurationInput }, "ttl"],
          ["a negative timeout", "a", { timeout: -1 }, "timeout"],
          ["a timeout that is not a duration", "a", { timeout: "later" as Duration.DurationInput }, "timeout"],
          ["holders 0", "a", { holders: 0 }, "holders"],
          ["negative holders", "a", { holders: -1 }, "holders"],
          ["fractional holders", "a", { holders: 1.5 }, "holders"],
          ["infinite holders", "a", { holders: Infinity }, "holders"],
          ["holders NaN", "a", { holders: NaN }, "holders"],
          ["a retry that is not a schedule", "a", { retry: "often" as never }, "retry"]
        ]
        for (const [what, name, options, argument] of cases) {
          const error = yield* expectError(Effect.scoped(store.lock(name, options)), "InvalidArgument", what)
          assert.strictEqual(error.method, "lock", what)
          assert.strictEqual((error as { readonly argument?: string }).argument, argument, what)
        }
        let ran = false
        yield* expectError(store.withLock("")(Effect.sync(() => ran = true)), "InvalidArgument", "withLock")
        assert.isFalse(ran, "withLock ran its effect with an invalid name")
        assert.isTrue(yield* free(store, "a"), "an invalid call left a lock behind")
      }))

    test("a namespace's lock a and the root's lock a are different locks", ({ store }) =>
      Effect.gen(function*() {
        const sep = store.separator
        const a = KeyValueStore.prefix(store, `tenant-a${sep}`)
        const b = KeyValueStore.prefix(store, `tenant-b${sep}`)
        yield* hold(a, "x")
        assert.isTrue(yield* free(store, "x"), "the root's x")
        assert.isTrue(yield* free(b, "x"), "another namespace's x")
        assert.isFalse(yield* free(a, "x"), "the namespace's own x")
        assert.isFalse(yield* free(store, `tenant-a${sep}x`), "the root under the prefixed name")
      }))

    if (capabilities.transactions) {
      test("acquiring a lock inside a transaction of the same store fails with InvalidArgument", ({ store }) =>
        Effect.gen(function*() {
          const error = yield* expectError(
            store.withTransaction(Effect.scoped(store.lock("a"))),
            "InvalidArgument",
            "lock in a transaction"
          )
          assert.strictEqual((error as { readonly argument?: string }).argument, "name")
          yield* expectError(
            store.withTransaction(store.withLock("a")(Effect.void)),
            "InvalidArgument",
            "withLock in a transaction"
          )
          assert.isTrue(yield* free(store, "a"), "the refused lock was taken")
        }))
    }

    fencedWriteCases((title, body) => test(title, ({ raw }) => body(raw)), capabilities)
  })
}
