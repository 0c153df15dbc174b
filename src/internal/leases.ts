/**
 * Locks as leases over a backend's lease table: acquisition with retry and timeout, a heartbeat fiber renewing the
 * lease while it is held, release when the scope closes, fencing tokens, `LockLost`, and semaphores of `n` holders.
 *
 * A lock is a slot of a named lock in the table, held by a fresh random owner id until an expiry that the heartbeat
 * keeps pushing forward (every third of the ttl). Waiters poll the table on the retry schedule; a release in the same
 * service also wakes its waiters at once. Every time is read from the fiber's `Clock`, so `TestClock` drives leases.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import type { Lock, LockOptions } from "../KeyValueStore.js"
import { InvalidArgument, type KeyValueStoreError, LockLost, LockTimeout } from "../KeyValueStoreError.js"
import * as regions from "./regions.js"
import * as validate from "./validate.js"

/**
 * What a backend implements for locks: slots of a named lock, each held by an `owner` (a fresh random id per
 * acquisition) until `expiresAt` (epoch ms of the store's `Clock`). Every call is atomic across the processes sharing
 * the engine.
 *
 * @internal
 */
export interface LeaseTable {
  /**
   * Takes a slot of `name` for `owner` if fewer than `holders` unexpired slots are held (expired ones are removed on
   * the way); returns the new fencing token (strictly greater than every token ever issued for `name`), or
   * `undefined` when every slot is taken.
   */
  readonly acquire: (
    name: string,
    owner: string,
    holders: number,
    now: number,
    expiresAt: number
  ) => Effect.Effect<bigint | undefined, KeyValueStoreError>
  /** Extends the slot of `owner` to `expiresAt`; false when it expired or is gone (the lease is lost). */
  readonly renew: (
    name: string,
    owner: string,
    now: number,
    expiresAt: number
  ) => Effect.Effect<boolean, KeyValueStoreError>
  /** Frees the slot of `owner` (nothing when it is gone). */
  readonly release: (name: string, owner: string) => Effect.Effect<void, KeyValueStoreError>
}

/**
 * A lease table in memory (MemoryStore's, and any single-process store's). A slot is expired once `now` reaches its
 * `expiresAt`; the fence counter of a name is kept for the life of the table, so its tokens never repeat.
 *
 * @internal
 */
export const memory = (): LeaseTable => {
  const slots = new Map<string, Map<string, number>>()
  const fences = new Map<string, bigint>()
  return {
    acquire: (name, owner, holders, now, expiresAt) =>
      Effect.sync(() => {
        const held = slots.get(name) ?? new Map<string, number>()
        for (const [other, until] of held) if (until <= now) held.delete(other)
        if (held.size >= holders && !held.has(owner)) {
          if (held.size === 0) slots.delete(name)
          return undefined
        }
        held.set(owner, expiresAt)
        slots.set(name, held)
        const fence = (fences.get(name) ?? 0n) + 1n
        fences.set(name, fence)
        return fence
      }),
    renew: (name, owner, now, expiresAt) =>
      Effect.sync(() => {
        const held = slots.get(name)
        const until = held?.get(owner)
        if (held === undefined || until === undefined || until <= now) return false
        held.set(owner, Math.max(until, expiresAt))
        return true
      }),
    release: (name, owner) =>
      Effect.sync(() => {
        const held = slots.get(name)
        if (held === undefined) return
        held.delete(owner)
        if (held.size === 0) slots.delete(name)
      })
  }
}

/**
 * The table with every call behind the store's gate (a transaction region of other fibers holds it back).
 *
 * @internal
 */
export const guarded = (table: LeaseTable, gate: regions.Gate): LeaseTable => ({
  acquire: (name, owner, holders, now, expiresAt) => gate.guard(table.acquire(name, owner, holders, now, expiresAt)),
  renew: (name, owner, now, expiresAt) => gate.guard(table.renew(name, owner, now, expiresAt)),
  release: (name, owner) => gate.guard(table.release(name, owner))
})

/**
 * The table of a namespace: lock names carry the prefix.
 *
 * @internal
 */
export const prefixed = (table: LeaseTable, ns: string): LeaseTable => ({
  acquire: (name, owner, holders, now, expiresAt) => table.acquire(ns + name, owner, holders, now, expiresAt),
  renew: (name, owner, now, expiresAt) => table.renew(ns + name, owner, now, expiresAt),
  release: (name, owner) => table.release(ns + name, owner)
})

const eventLoopTurn: Effect.Effect<void> = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/** Lease length when `ttl` is not given. */
const DEFAULT_TTL = 30_000
/** How long `lock` waits when `timeout` is not given. */
const DEFAULT_TIMEOUT = 30_000

/** @internal */
export interface Settings {
  readonly ttl: number
  /** Milliseconds; `Infinity` waits forever. */
  readonly timeout: number
  readonly holders: number
  readonly retry: Schedule.Schedule<unknown, unknown>
}

/**
 * The default polling of a waiter: 10 ms, doubling, capped at a quarter of the ttl but never above 250 ms (nor below
 * 10 ms), each pause jittered by ±20 % so that waiters of several processes spread out.
 */
const defaultRetry = (ttl: number): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential(Duration.millis(10)).pipe(
    Schedule.union(Schedule.spaced(Duration.millis(Math.min(250, Math.max(10, ttl / 4))))),
    Schedule.jittered
  )

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "lock", argument, reason })

/**
 * Checks the arguments of `lock` (also where the store has no locks: argument errors come before `Unsupported`).
 *
 * @internal
 */
export const settingsOf = (name: unknown, options: LockOptions | undefined): Settings | InvalidArgument => {
  const nameProblem = validate.nameProblem(name)
  if (nameProblem !== undefined) return invalid("name", `expected a non-empty string of valid Unicode: ${nameProblem}`)
  const optionsError = validate.checkOptions("lock", undefined, options)
  if (optionsError) return optionsError
  // Each field is read once.
  const { holders: holdersInput, retry: retryInput, timeout: timeoutInput, ttl: ttlInput } = options ?? {}
  let ttl = DEFAULT_TTL
  if (ttlInput !== undefined) {
    const millis = validate.durationOf(ttlInput, { zero: false, infinite: false })
    if (typeof millis === "string") return invalid("ttl", millis)
    ttl = Math.max(1, Math.ceil(millis))
  }
  let timeout = DEFAULT_TIMEOUT
  if (timeoutInput !== undefined) {
    const millis = validate.durationOf(timeoutInput, { zero: true, infinite: true })
    if (typeof millis === "string") return invalid("timeout", millis)
    timeout = millis
  }
  const holders = holdersInput === undefined ? 1 : holdersInput
  if (!(Number.isSafeInteger(holders) && holders > 0)) {
    return invalid("holders", `expected a positive integer, got ${validate.show(holders)}`)
  }
  const retry = retryInput === undefined ? defaultRetry(ttl) : retryInput
  if (!Schedule.isSchedule(retry)) return invalid("retry", `expected a Schedule, got ${validate.show(retry)}`)
  return { ttl, timeout, holders, retry }
}

/**
 * The service's `lock` over a table.
 *
 * - Acquisition tries the table, then waits on the `retry` schedule (see `defaultRetry`), or less when a release of
 *   the same service wakes it, until it gets a slot; it fails with `LockTimeout` once `timeout` (default 30 seconds,
 *   `0` tries once, an infinite duration waits forever) has passed or the schedule has ended. An engine error of the
 *   table fails the acquisition as it is.
 * - While held, a heartbeat fiber (living in the scope) renews the lease every third of its `ttl` (default 30
 *   seconds). A renewal the table refuses means the lease is lost. A renewal that fails with an error is tried again
 *   at the next beat, and the lease counts as lost only once its last successful expiry has passed: until then
 *   nobody else can have taken it.
 * - `verify` renews the lease (a renewal is a check against the table): `LockLost` when it is lost, released, or the
 *   table refuses; an engine error as it is. `lost` fails with `LockLost` once the heartbeat or `verify` finds the
 *   lease lost, and never completes otherwise.
 * - Closing the scope stops the heartbeat and releases the slot; a release error is ignored, and a release waits at
 *   most the ttl (the lease expires by itself by then).
 * - A name (a non-empty string of valid Unicode of at most 1024 UTF-8 bytes), ttl (positive, at most 100 years),
 *   timeout (at most 100 years, or infinite) or holder count (a positive safe integer) out of range, or options that
 *   are not an object, fail with `InvalidArgument`. Acquiring from a fiber inside a
 *   transaction of the same store fails with `InvalidArgument` too: the lease would be part of the transaction, and
 *   visible to other processes only once it commits.
 *
 * @internal
 */
export const lock = (
  table: LeaseTable,
  backend: string,
  gate: regions.Gate | undefined
) => {
  // Waiters of this service by lock name: a release here wakes them before their next poll.
  const waiters = new Map<string, Set<() => void>>()
  const subscribe = (name: string, wake: () => void) => {
    const set = waiters.get(name)
    if (set === undefined) waiters.set(name, new Set([wake]))
    else set.add(wake)
  }
  const unsubscribe = (name: string, wake: () => void) => {
    const set = waiters.get(name)
    if (set === undefined) return
    set.delete(wake)
    if (set.size === 0) waiters.delete(name)
  }
  const wakeAll = (name: string) => {
    const set = waiters.get(name)
    if (set === undefined) return
    waiters.delete(name)
    for (const wake of set) wake()
  }

  const acquire = (name: string, settings: Settings): Effect.Effect<Lock, KeyValueStoreError, Scope.Scope> =>
    Effect.gen(function*() {
      const { holders, retry, timeout, ttl } = settings
      const scope = yield* Effect.scope
      const owner = crypto.randomUUID()
      const lostSignal = yield* Deferred.make<never, KeyValueStoreError>()
      // `mayHold`: an attempt started, so the table may hold a slot of this owner (even one whose answer was lost to an
      // interruption); the finalizer then releases, which is a no-op for a slot that is not there.
      let mayHold = false
      let released = false
      let expiresAt = 0
      let heartbeat: Fiber.RuntimeFiber<void> | undefined = undefined

      const markLost = Effect.suspend(() => Deferred.fail(lostSignal, new LockLost({ method: "lock", name })))

      // Registered before the first attempt: an interruption right after the table answered still releases.
      yield* Scope.addFinalizer(
        scope,
        Effect.suspend(() => {
          released = true
          const stop = heartbeat === undefined ? Effect.void : Fiber.interrupt(heartbeat)
          if (!mayHold) return Effect.asVoid(stop)
          const release = table.release(name, owner).pipe(
            Effect.timeout(Duration.millis(ttl)),
            Effect.ignore,
            Effect.ensuring(Effect.sync(() => wakeAll(name)))
          )
          // A scope closing inside a transaction of the same store: the release waits for the transaction to end, in
          // the background (awaiting it here would keep the transaction's own fiber waiting for itself).
          return Effect.zipRight(
            stop,
            Effect.withFiberRuntime((fiber) =>
              gate !== undefined && gate.inRegion(fiber)
                ? Effect.asVoid(Effect.forkDaemon(regions.outside(release)))
                : release
            )
          )
        })
      )

      // The time is read once the store admits the fiber (a transaction region of another fiber may hold it back):
      // a lease computed from a time read before the wait could already be expired when written.
      const admitted = <A>(f: (now: number) => Effect.Effect<A, KeyValueStoreError>) => {
        const timed = Effect.flatMap(Clock.currentTimeMillis, f)
        return gate === undefined ? timed : gate.guard(timed)
      }
      const tryOnce = admitted((now) => {
        mayHold = true
        return Effect.map(table.acquire(name, owner, holders, now, now + ttl), (token) => {
          if (token !== undefined) expiresAt = now + ttl
          return token
        })
      })
      // The last attempt at the deadline runs only if the store admits the fiber now: it never waits past `timeout`.
      const lastTry = Effect.withFiberRuntime<bigint | undefined, KeyValueStoreError>((fiber) =>
        gate !== undefined && !gate.admits(fiber) ? Effect.succeed(undefined) : tryOnce
      )

      // Attempts, each followed by a pause: the schedule's next delay, cut short by a release in this service. The
      // waiter is subscribed before the attempt, so a release between the attempt and the pause is not missed. An
      // ended schedule is a timeout.
      const driver = yield* Schedule.driver(retry)
      const attempt: Effect.Effect<bigint | undefined, KeyValueStoreError> = Effect.suspend(() => {
        const woken = Deferred.unsafeMake<void>(FiberId.none)
        const wake = () => Deferred.unsafeDone(woken, Exit.void)
        subscribe(name, wake)
        return Effect.gen(function*() {
          const token = yield* tryOnce
          if (token !== undefined) return token
          const more = yield* Effect.raceFirst(
            Effect.match(driver.next(undefined), { onFailure: () => false, onSuccess: () => true }),
            Effect.as(Deferred.await(woken), true)
          )
          if (!more) return yield* new LockTimeout({ method: "lock", name })
          // A turn of the event loop between attempts, whatever the clock: a schedule without delays must not starve
          // the timers and I/O (the holder's heartbeat among them).
          yield* eventLoopTurn
          return undefined
        }).pipe(Effect.ensuring(Effect.sync(() => unsubscribe(name, wake))))
      })
      const waiting = Effect.gen(function*() {
        for (;;) {
          const token = yield* attempt
          if (token !== undefined) return token
        }
      })

      // One timer for the whole wait (so that it ends exactly `timeout` after the start, whatever the pauses were),
      // then a last attempt at the deadline.
      const waited: Effect.Effect<bigint | undefined, KeyValueStoreError> = timeout === Infinity
        ? waiting
        : timeout === 0
        ? Effect.succeed(undefined)
        : Effect.timeoutTo(Effect.interruptible(waiting), {
          duration: Duration.millis(timeout),
          onSuccess: (token): bigint | undefined => token,
          onTimeout: () => undefined
        })
      const fencingToken = (yield* waited) ?? (yield* lastTry)
      if (fencingToken === undefined) return yield* new LockTimeout({ method: "lock", name })
      // The scope closed while the acquisition waited (its finalizer already ran): give the slot back.
      if (released) {
        yield* Effect.ignore(table.release(name, owner))
        return yield* Effect.interrupt
      }

      const beat = Effect.gen(function*() {
        const interval = Duration.millis(Math.max(1, Math.floor(ttl / 3)))
        for (;;) {
          yield* Effect.sleep(interval)
          const renewed = yield* Effect.exit(
            admitted((now) => Effect.map(table.renew(name, owner, now, now + ttl), (ok) => ok ? now + ttl : undefined))
          )
          if (Exit.isSuccess(renewed)) {
            if (renewed.value !== undefined) {
              expiresAt = Math.max(expiresAt, renewed.value)
              continue
            }
            return yield* markLost
          }
          if ((yield* Clock.currentTimeMillis) >= expiresAt) return yield* markLost
        }
      })
      // Forked outside every region of this store (acquiring inside one is refused), so it never joins a transaction.
      // Interruptible even when the acquisition is not (an `acquireRelease`), so the finalizer can stop it.
      heartbeat = yield* Effect.forkIn(Effect.interruptible(Effect.asVoid(beat)), scope)

      const verify: Effect.Effect<void, KeyValueStoreError> = Effect.gen(function*() {
        if (released || (yield* Deferred.isDone(lostSignal))) {
          return yield* new LockLost({ method: "lock", name })
        }
        const renewed = yield* admitted((now) =>
          Effect.map(table.renew(name, owner, now, now + ttl), (ok) => ok ? now + ttl : undefined)
        )
        if (renewed !== undefined) {
          expiresAt = Math.max(expiresAt, renewed)
          return
        }
        yield* markLost
        return yield* new LockLost({ method: "lock", name })
      })

      return { name, fencingToken, verify, lost: Deferred.await(lostSignal) } satisfies Lock
    })

  return (name: string, options?: LockOptions): Effect.Effect<Lock, KeyValueStoreError, Scope.Scope> =>
    Effect.withFiberRuntime<Lock, KeyValueStoreError, Scope.Scope>((fiber) => {
      const settings = settingsOf(name, options)
      if (settings instanceof InvalidArgument) return Effect.fail(settings)
      if (gate !== undefined && gate.inRegion(fiber)) {
        return Effect.fail(invalid(
          "name",
          "a lock cannot be acquired inside a transaction: the lease would only become visible to others when the " +
            "transaction commits"
        ))
      }
      return acquire(name, settings)
    }).pipe(Effect.withSpan("effect-kv.lock", { attributes: { name, backend } }))
}

/**
 * The service's `withLock`: `effect` holding the lock, interrupted with `LockLost` if the lease is lost. The lock is
 * released when `effect` ends, however it ends.
 *
 * @internal
 */
export const withLock = <A, E, R>(
  lock: (name: string, options?: LockOptions) => Effect.Effect<Lock, KeyValueStoreError, Scope.Scope>,
  name: string,
  options: LockOptions | undefined,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | KeyValueStoreError, R> =>
  Effect.scoped(Effect.flatMap(lock(name, options), (held) =>
    // The lease is checked again when `effect` succeeds: a loss the heartbeat has not seen yet is still a loss.
    Effect.zipLeft(Effect.raceFirst(effect, Effect.interruptible(held.lost)), held.verify)))
