/**
 * The background sweeper every store with expiry runs: its options (interval, slice size), their validation, and the
 * scoped fiber that removes expired entries. One sweep (`drain`) removes them in slices of at most `batch` entries,
 * giving the event loop a turn between slices, and goes on until a slice comes back short: it clears the whole backlog
 * in bounded steps instead of one batch per interval. Sweeps come every `interval`, and sooner once the store has
 * recorded `batch` writes that set an expiry since the last one began (the `Pacer`): then the next sweep starts
 * `PAUSE` after the previous one, so that a stream of short-lived entries is reclaimed about as fast as it is written,
 * while a quiet store is swept once an interval. A store that can reclaim synchronously also does it on the write
 * side (`reclaim`: `RECLAIM_PER_WRITE` expired entries per expiring write), which holds whatever the write rate, even
 * for a writer that never lets the sweeper's fiber run. The waits are `Clock` sleeps, so `TestClock` drives the
 * sweeper as well as real time.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as KeyValueStore from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"

/** @internal */
export type Options = KeyValueStore.SweepOptions

/** @internal */
export interface Settings {
  readonly interval: Duration.Duration
  readonly batch: number
}

/**
 * Most entries one slice removes, unless `sweepBatch` says otherwise.
 *
 * @internal
 */
export const DEFAULT_BATCH = 1000

/**
 * The shortest time between two sweeps (or `interval`, if shorter): how long a backlog builds up at most while
 * writes of expiring entries keep waking the sweeper.
 *
 * @internal
 */
export const PAUSE = Duration.seconds(1)

/** @internal */
export const settings = (options: Options): Settings | InvalidArgument => {
  const batch = options.sweepBatch ?? DEFAULT_BATCH
  if (!Number.isSafeInteger(batch) || batch < 1) {
    return new InvalidArgument({ method: "open", argument: "sweepBatch", reason: "expected a positive integer" })
  }
  const interval = Duration.decodeUnknown(options.sweepInterval ?? Duration.minutes(1))
  if (Option.isNone(interval) || !Duration.isFinite(interval.value) || Duration.toMillis(interval.value) <= 0) {
    return new InvalidArgument({
      method: "open",
      argument: "sweepInterval",
      reason: "expected a positive finite duration"
    })
  }
  return { interval: interval.value, batch }
}

/**
 * What one slice of a sweep did: the entries it removed, and whether it was full (it met its bound, so more expired
 * entries may be waiting).
 *
 * @internal
 */
export interface Slice {
  readonly removed: number
  readonly full: boolean
}

// The next turn of the event loop: every fiber, timer and I/O callback waiting to run goes first. `Effect.yieldNow`
// alone lets other fibers run, but I/O callbacks (a request arriving) would wait for the whole backlog.
const nextTurn: Effect.Effect<void> = Effect.async((resume) => {
  if (typeof setImmediate === "function") {
    const handle = setImmediate(() => resume(Effect.void))
    return Effect.sync(() => clearImmediate(handle))
  }
  const timer = setTimeout(() => resume(Effect.void), 0)
  return Effect.sync(() => clearTimeout(timer))
})

/**
 * Runs `slice` until one is not full, giving the event loop a turn between slices (other fibers, timers and I/O run
 * in between); returns the entries removed.
 *
 * @internal
 */
export const drain = <E, R>(slice: Effect.Effect<Slice, E, R>): Effect.Effect<number, E, R> => {
  const loop = (total: number): Effect.Effect<number, E, R> =>
    Effect.flatMap(
      slice,
      ({ full, removed }) => full ? Effect.zipRight(nextTurn, loop(total + removed)) : Effect.succeed(total + removed)
    )
  return loop(0)
}

/**
 * Expired entries reclaimed on the write side per write that sets an expiry: more than the one entry such a write may
 * later leave expired, so that expired entries never pile up faster than they are reclaimed, whatever the write rate
 * and whether the sweeper gets to run or not (a writer that never yields to the event loop).
 *
 * @internal
 */
export const RECLAIM_PER_WRITE = 2

/**
 * Expiring writes between two reclamations on the write side (`start`'s `reclaim`): one statement reclaims for many
 * writes.
 *
 * @internal
 */
export const RECLAIM_EVERY = 32

/**
 * How a store tells its sweeper about writes that set an expiry (`n` of them, done at `now`): after `batch` of them,
 * the next sweep comes early; with a `reclaim`, every `RECLAIM_EVERY` of them reclaim `RECLAIM_PER_WRITE` expired
 * entries each, there and then.
 *
 * @internal
 */
export interface Pacer {
  readonly expiring: (n: number, now: number) => void
}

/**
 * Runs `sweep` (usually a `drain`) for the lifetime of the scope: `interval` after the previous sweep, or `PAUSE`
 * after it once the returned `Pacer` has counted `batch` expiring writes since it began. A failed sweep is logged and
 * tried again next time: the entries it missed stay invisible to reads anyway. `reclaim`, when given, removes at most
 * `most` entries expired at `now`, synchronously and best effort (a failure is for the sweeper to meet again).
 *
 * @internal
 */
export const start = <E>(
  settings: Settings,
  sweep: Effect.Effect<unknown, E>,
  label: string,
  reclaim?: (now: number, most: number) => void
): Effect.Effect<Pacer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pause = Duration.min(settings.interval, PAUSE)
    const rest = Duration.subtract(settings.interval, pause)
    let expiring = 0
    let credit = 0
    let wake: Deferred.Deferred<void> | undefined
    const pacer: Pacer = {
      expiring: (n, now) => {
        expiring += n
        if (wake !== undefined && expiring >= settings.batch) {
          Deferred.unsafeDone(wake, Effect.void)
          wake = undefined
        }
        if (reclaim === undefined) return
        credit += n
        if (credit >= RECLAIM_EVERY) {
          const most = credit * RECLAIM_PER_WRITE
          credit = 0
          reclaim(now, most)
        }
      }
    }
    // The rest of the interval, cut short by the pacer.
    const waitForWork = Effect.suspend(() => {
      if (expiring >= settings.batch || Duration.toMillis(rest) === 0) return Effect.void
      return Effect.flatMap(Deferred.make<void>(), (woken) => {
        wake = woken
        return Effect.raceFirst(Deferred.await(woken), Effect.sleep(rest)).pipe(
          Effect.ensuring(Effect.sync(() => {
            wake = undefined
          }))
        )
      })
    })
    const once = Effect.suspend(() => {
      expiring = 0
      return sweep
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`effect-kv: ${label} sweep failed`, error)))
    yield* Effect.forkScoped(
      Effect.forever(Effect.sleep(pause).pipe(Effect.zipRight(waitForWork), Effect.zipRight(once)))
    )
    return pacer
  })

/**
 * The primitives of a store, telling `pacer` of every write that set an expiry once it is done: `set`, `setMany`,
 * `touch` and the writes of `modify` (the atomic operations).
 *
 * @internal
 */
export const paced = (pacer: Pacer, p: KeyValueStore.Primitives): KeyValueStore.Primitives => {
  const { setMany, touch, unsafe } = p
  const done = (n: number, now: number) => () => pacer.expiring(n, now)
  return {
    ...p,
    set: (key, value, write, now, fence) =>
      write.expiresAt === null
        ? p.set(key, value, write, now, fence)
        : Effect.tap(p.set(key, value, write, now, fence), done(1, now)),
    modify: (key, now, f, fence) => {
      let expiring = false
      return Effect.tap(
        p.modify(key, now, (entry) => {
          const result = f(entry)
          expiring = result[1]._tag === "Write" && result[1].write.expiresAt !== null
          return result
        }, fence),
        () => {
          if (expiring) pacer.expiring(1, now)
        }
      )
    },
    setMany: setMany && ((entries, now, fence) => {
      let n = 0
      for (const entry of entries) if (entry.write.expiresAt !== null) n++
      return n === 0 ? setMany(entries, now, fence) : Effect.tap(setMany(entries, now, fence), done(n, now))
    }),
    touch: touch && ((key, expiresAt, now, fence) =>
      expiresAt === null
        ? touch(key, expiresAt, now, fence)
        : Effect.tap(touch(key, expiresAt, now, fence), (touched) => {
          if (touched) pacer.expiring(1, now)
        })),
    unsafe: unsafe && {
      ...unsafe,
      set: (key, value, write, now) => {
        unsafe.set(key, value, write, now)
        if (write.expiresAt !== null) pacer.expiring(1, now)
      }
    }
  }
}
