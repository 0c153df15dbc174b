/**
 * Locks as leases over a backend's lease table: acquisition with retry and timeout, a heartbeat fiber renewing the
 * lease while it is held, release when the scope closes, fencing tokens, `LockLost`, and semaphores of `n` holders.
 *
 * A lock is a slot of a named lock in the table, held by a fresh random owner id until an expiry that the heartbeat
 * keeps pushing forward (every third of the ttl). Waiters poll the table on the retry schedule; a release in the same
 * service also wakes its waiters at once. Every time is read from the fiber's `Clock`, so `TestClock` drives leases.
 * A held lock is also a fence for writes (`fenceOf`): the backend checks its slot atomically with the write.
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
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import type { Fence, Lock, LockOptions } from "../KeyValueStore.js"
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
  /**
   * The engine's table this one is a view of: the same object for every view of it (behind a gate, in a namespace),
   * so a lock's fence is accepted by exactly the stores over that table.
   */
  readonly origin: object
  /** What this view adds in front of lock names before they reach the engine's table (a namespace's prefix). */
  readonly prefix: string
}

/**
 * A lease table of an engine that answers synchronously (memory, better-sqlite3), with the check of a fenced write,
 * which the store runs in the same step or transaction as the write.
 *
 * @internal
 */
export interface SyncLeaseTable extends LeaseTable {
  /** Whether the slot of `owner` in `name` is there and unexpired at `now`. */
  readonly holds: (name: string, owner: string, now: number) => boolean
}

/**
 * A lease table in memory (MemoryStore's, and any single-process store's). A slot is expired once `now` reaches its
 * `expiresAt`; the fence counter of a name is kept for the life of the table, so its tokens never repeat.
 *
 * @internal
 */
export const memory = (): SyncLeaseTable => {
  const slots = new Map<string, Map<string, number>>()
  const fences = new Map<string, bigint>()
  return {
    origin: {},
    prefix: "",
    holds: (name, owner, now) => {
      const until = slots.get(name)?.get(owner)
      return until !== undefined && until > now
    },
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
  origin: table.origin,
  prefix: table.prefix,
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
  origin: table.origin,
  prefix: table.prefix + ns,
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
/** How long the last attempt at the deadline may take (the longest default pause between attempts). */
const LAST_TRY = 250

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
 * The mark of the library's own lock names (the leases of `getOrSet`): a name that contains it is refused from users,
 * so the library's leases can never be taken, or waited on, by a user's lock of the same name.
 *
 * @internal
 */
export const reservedMark = "\u0000effect-kv:"

/**
 * The option field (a symbol not in the global registry, so no caller outside the library can name it) that lets the library take a reserved name.
 *
 * @internal
 */
export const reserved: unique symbol = Symbol("effect-kv/leases/reserved")

/**
 * Checks the arguments of `lock` (also where the store has no locks: argument errors come before `Unsupported`).
 *
 * @internal
 */
export const settingsOf = (name: unknown, options: LockOptions | undefined): Settings | InvalidArgument => {
  const nameProblem = validate.nameProblem(name)
  if (nameProblem !== undefined) return invalid("name", `expected a non-empty string of valid Unicode: ${nameProblem}`)
  if (
    (name as string).includes(reservedMark) &&
    (typeof options !== "object" || options === null || (options as { [reserved]?: unknown })[reserved] !== true)
  ) return invalid("name", "names containing \"\\u0000effect-kv:\" are reserved for the library's own leases")
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
 *   `0` tries once, an infinite duration waits forever) has passed or the schedule has ended. The timeout bounds the
 *   whole call, even when the table does not answer (an attempt in flight at the deadline is left to end in the
 *   background, and the slot it may take is released then). An engine error of the table fails the acquisition as it
 *   is.
 * - While held, a heartbeat fiber (living in the scope) renews the lease every third of its `ttl` (default 30
 *   seconds). A renewal the table refuses means the lease is lost. A renewal that fails with an error is tried again
 *   at the next beat, and the lease counts as lost only once its last successful expiry has passed: until then
 *   nobody else can have taken it.
 * - `verify` renews the lease (a renewal is a check against the table): `LockLost` when it is lost, released, or the
 *   table refuses; an engine error as it is. `lost` fails with `LockLost` once the heartbeat or `verify` finds the
 *   lease lost, and never completes otherwise.
 * - Closing the scope stops the heartbeat and releases the slot; a release error is ignored, and a release waits at
 *   most the ttl (the lease expires by itself by then), and no longer than the engine's own deadline. When the lock
 *   was not acquired, the release happens in the background.
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
      // `unsettled`: attempts whose answer was not "every slot is taken" (a slot, an error, or no answer at all, lost to
      // an interruption): while there is one, the table may hold a slot of this owner, and the finalizer releases it
      // (a no-op for a slot that is not there).
      let unsettled = 0
      let held = false
      let released = false
      // An attempt's answer is awaited (it is in flight).
      let attempting = false
      // Attempts the caller stopped waiting for at its timeout, left to end in the background.
      const abandoned: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
      let lostSeen = false
      let expiresAt = 0
      let heartbeat: Fiber.RuntimeFiber<void> | undefined = undefined

      const markLost = Effect.suspend(() => {
        lostSeen = true
        return Deferred.fail(lostSignal, new LockLost({ method: "lock", name }))
      })

      // Registered before the first attempt: an interruption right after the table answered still releases.
      yield* Scope.addFinalizer(
        scope,
        Effect.suspend(() => {
          released = true
          const stop = heartbeat === undefined ? Effect.void : Fiber.interrupt(heartbeat)
          if (unsettled === 0) return Effect.asVoid(stop)
          const release = table.release(name, owner).pipe(
            Effect.timeout(Duration.millis(ttl)),
            Effect.ignore,
            Effect.ensuring(Effect.sync(() => wakeAll(name)))
          )
          // Not acquired: a slot an abandoned attempt may still take is released once that attempt has ended, in the
          // background (the lock's timeout bounds the call).
          if (!held) {
            return Effect.zipRight(
              stop,
              Effect.asVoid(Effect.forkDaemon(Effect.zipRight(Fiber.awaitAll(abandoned), release)))
            )
          }
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
        unsettled++
        attempting = true
        return Effect.map(table.acquire(name, owner, holders, now, now + ttl), (token) => {
          if (token !== undefined) expiresAt = now + ttl
          else unsettled--
          return token
        }).pipe(Effect.ensuring(Effect.sync(() => {
          attempting = false
        })))
      })
      // `effect` for at most `millis` (None past it), in a fiber of its own that is then interrupted in the background
      // rather than awaited: an attempt whose answer does not come ends only at the engine's command timeout.
      const within = <A>(effect: Effect.Effect<A, KeyValueStoreError>, millis: number) =>
        Effect.flatMap(
          Effect.forkDaemon(Effect.interruptible(effect)),
          (fiber) =>
            Effect.interruptible(Fiber.join(fiber)).pipe(
              Effect.timeoutOption(Duration.millis(millis)),
              Effect.tap((result) =>
                result._tag === "Some" ? Effect.void : Effect.suspend(() => {
                  abandoned.push(fiber)
                  return Fiber.interruptFork(fiber)
                })
              ),
              Effect.onInterrupt(() => Fiber.interruptFork(fiber))
            )
        )
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
      // then a last attempt at the deadline, unless one was still in flight then (it was the last), itself given at
      // most `LAST_TRY` (`timeout` 0: a single attempt, as long as the engine takes).
      const fencingToken = timeout === Infinity
        ? yield* waiting
        : timeout === 0
        ? yield* lastTry
        : Option.getOrUndefined(yield* within(waiting, timeout)) ??
          (attempting ? undefined : Option.getOrUndefined(yield* within(lastTry, LAST_TRY)))
      if (fencingToken === undefined) return yield* new LockTimeout({ method: "lock", name })
      held = true
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

      const handle: Lock = { name, fencingToken, verify, lost: Deferred.await(lostSignal) }
      issued.set(handle, {
        origin: table.origin,
        fence: { name: table.prefix + name, owner },
        ended: () => released || lostSeen
      })
      return handle
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

// What the fence of a lock handed out by `lock` needs: the engine's table it lives in, its slot there, and whether
// its holder already knows it is gone (its scope closed, or the heartbeat found it lost).
interface Issued {
  readonly origin: object
  readonly fence: Fence
  readonly ended: () => boolean
}

const issued = new WeakMap<object, Issued>()

/**
 * The fence of `lock` for a write through a store whose lease table is `table`: its slot in the engine's table.
 * `InvalidArgument` when `lock` is not a lock handed out by `lock` over the same engine's table (another store's,
 * or not a lock at all); `LockLost` at once when its holder already knows the lease is gone (released or lost), even
 * if a failed release left the slot in the table until it expires.
 *
 * @internal
 */
export const fenceOf = (
  table: LeaseTable,
  lock: unknown,
  method: string,
  key: string | undefined
): Fence | InvalidArgument | LockLost => {
  const held = typeof lock === "object" && lock !== null ? issued.get(lock) : undefined
  if (held === undefined) {
    return new InvalidArgument({ method, key, argument: "fence", reason: "expected a Lock held from a store's lock" })
  }
  if (held.origin !== table.origin) {
    return new InvalidArgument({
      method,
      key,
      argument: "fence",
      reason: "a lock of another store: a fence is checked in the lease table of the store that issued it"
    })
  }
  if (held.ended()) return new LockLost({ method, key, name: (lock as Lock).name })
  return held.fence
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
