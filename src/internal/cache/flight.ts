/**
 * Single flight in the process: concurrent callers of `getOrSet` on the same store, key and representation share one
 * computation. The computation runs in a daemon fiber of its own, forked from the first caller (so it keeps that
 * caller's context: services, clock, fiber refs); each caller waits for its result. A caller that is interrupted only
 * stops waiting; once every waiter is gone the computation is interrupted, unless it was `pin`ned (a background
 * refresh, or one a caller stopped waiting for at its soft timeout: those run to their end). The result, a failure
 * included, reaches every waiter and is then forgotten: the next caller after it starts a new computation.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"

/** One computation in flight. */
export interface Flight<A, E> {
  readonly representation: unknown
  readonly result: Deferred.Deferred<A, E>
  fiber: Fiber.RuntimeFiber<void> | undefined
  waiters: number
  /** Runs to its end even without waiters. */
  pinned: boolean
  done: boolean
}

// Flights by store object, then by key. A store no longer referenced takes its flights with it.
const flights = new WeakMap<object, Map<string, Flight<unknown, unknown>>>()

const byKeyOf = (store: object): Map<string, Flight<unknown, unknown>> => {
  let byKey = flights.get(store)
  if (byKey === undefined) {
    byKey = new Map()
    flights.set(store, byKey)
  }
  return byKey
}

/** The flight of `key` in `store` running now, if any (whatever its representation). */
export const current = (store: object, key: string): Flight<unknown, unknown> | undefined =>
  flights.get(store)?.get(key)

// A new flight of `key`, registered synchronously (unless `shared` is false: a flight of its own), so a caller
// right after this joins it.
const register = <A, E>(
  store: object,
  key: string,
  representation: unknown,
  pinned: boolean,
  shared: boolean
): Flight<A, E> => {
  const flight: Flight<A, E> = {
    representation,
    result: Deferred.unsafeMake<A, E>(FiberId.none),
    fiber: undefined,
    waiters: 0,
    pinned,
    done: false
  }
  if (shared) byKeyOf(store).set(key, flight as Flight<unknown, unknown>)
  return flight
}

// Runs `work` for `flight` in a daemon fiber; its end forgets the flight and hands the result to the waiters.
const launch = <A, E, R>(
  store: object,
  key: string,
  flight: Flight<A, E>,
  work: Effect.Effect<A, E, R>
): Effect.Effect<void, never, R> => {
  const finish = (exit: Exit.Exit<A, E>) =>
    Effect.sync(() => {
      flight.done = true
      const byKey = flights.get(store)
      if (byKey?.get(key) === flight) byKey.delete(key)
      Deferred.unsafeDone(flight.result, exit)
    })
  return Effect.map(
    Effect.forkDaemon(Effect.asVoid(Effect.exit(Effect.onExit(Effect.interruptible(work), finish)))),
    (fiber) => {
      flight.fiber = fiber
    }
  )
}

// One waiter leaves: the last one interrupts an unpinned computation (and forgets it at once, so that a caller
// arriving now starts a new one instead of joining one that is being interrupted).
const leave = <A, E>(store: object, key: string, flight: Flight<A, E>): Effect.Effect<void> =>
  Effect.suspend(() => {
    flight.waiters--
    if (flight.waiters > 0 || flight.pinned || flight.done) return Effect.void
    const byKey = flights.get(store)
    if (byKey?.get(key) === flight) byKey.delete(key)
    return flight.fiber === undefined ? Effect.void : Fiber.interruptFork(flight.fiber)
  })

/**
 * `work`'s result, shared with every concurrent caller of the same store, key and representation. A caller whose
 * representation differs from the running flight's runs `work` on its own. `wait` turns the waiting into what the
 * caller returns (a soft timeout, a fallback); it gets the flight so that it can `pin` it before it stops waiting.
 */
export const run = <A, E, R, B = A, E2 = E>(
  store: object,
  key: string,
  representation: unknown,
  work: Effect.Effect<A, E, R>,
  wait: (flight: Flight<A, E>, result: Effect.Effect<A, E>) => Effect.Effect<B, E2> = (_, result) =>
    result as unknown as Effect.Effect<B, E2>
): Effect.Effect<B, E2, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.suspend(() => {
      const running = flights.get(store)?.get(key) as Flight<A, E> | undefined
      const joins = running !== undefined && running.representation === representation && !running.done
      const flight = joins ? running : register<A, E>(store, key, representation, false, running === undefined)
      flight.waiters++
      const waiting = restore(wait(flight, Deferred.await(flight.result))).pipe(
        Effect.ensuring(leave(store, key, flight))
      )
      return joins ? waiting : Effect.zipRight(launch(store, key, flight, work), waiting)
    })
  )

/** Keeps a flight running to its end even once every waiter is gone. */
export const pin = <A, E>(flight: Flight<A, E>): Effect.Effect<void> =>
  Effect.sync(() => {
    flight.pinned = true
  })

/**
 * Starts `work` in the background as the flight of `key`, unless one is running already; it runs to its end (it is
 * pinned) and its result is dropped (`work` is expected to have written it).
 */
export const background = <A, E, R>(
  store: object,
  key: string,
  representation: unknown,
  work: Effect.Effect<A, E, R>
): Effect.Effect<void, never, R> =>
  Effect.suspend(() =>
    current(store, key) !== undefined
      ? Effect.void
      : launch(store, key, register<A, E>(store, key, representation, true, true), work)
  )
