/**
 * The per-store context `make` builds once and every operation module uses: the primitives (behind their gate), the
 * store's limits, the statistics counters, and the hot path of every operation: one fiber-runtime step that reads the
 * `Clock` (and, for spans, the `Tracer`) of the running fiber, cached per store so that a fiber with the same services
 * as the last one pays one identity check instead of two context lookups. Spans (`effect-kv.<method>`) are created
 * only when a tracer other than Effect's default is installed.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import type { Primitives } from "../../KeyValueStore.js"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import { isKeyValueStoreError, Unsupported } from "../../KeyValueStoreError.js"
import type * as regions from "../regions.js"
import * as validate from "../validate.js"
import { renamed } from "./arguments.js"

/** The counters of `stats` kept by `make` (backends add their own through `Primitives.counters`). */
export interface Counters {
  hits: number
  misses: number
  writes: number
  removes: number
}

/** What every operation module of `make` builds on. */
export interface Core {
  /** The primitives, behind the store's transaction gate. */
  readonly p: Primitives
  readonly gate: regions.Gate | undefined
  readonly backend: string
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  readonly separator: string
  readonly counters: Counters
  /** Counts a read as a hit or a miss. */
  readonly countRead: <A>(found: Option.Option<A>) => Option.Option<A>
  /** Counts a removal that removed something. */
  readonly countRemoved: (removed: boolean) => boolean
  readonly unsupported: (method: string) => Effect.Effect<never, Unsupported>
  /** `self` in a span `effect-kv.<method>` (only when a tracer is installed). */
  readonly traced: <A, E, R>(self: Effect.Effect<A, E, R>, method: string) => Effect.Effect<A, E, R>
  /** `f` at the store's `Clock` reading, in a span when a tracer is installed. */
  readonly withNow: <A>(
    method: string,
    key: string | undefined,
    f: (now: number) => Effect.Effect<A, KeyValueStoreError>
  ) => Effect.Effect<A, KeyValueStoreError>
  /**
   * The synchronous variant: `f` runs in the same step, its thrown KeyValueStoreError becomes the failure. `slow`
   * replaces it for a fiber the gate does not admit yet.
   */
  readonly withNowSync: <A>(
    method: string,
    key: string | undefined,
    f: (now: number) => A,
    slow?: () => Effect.Effect<A, KeyValueStoreError>
  ) => Effect.Effect<A, KeyValueStoreError>
  /**
   * `withNowSync` for a fast path taking the key and up to two more arguments (`set`'s value and options), so that no
   * closure is built per call: `f(key, b, c, now)`, its thrown error renamed after `method`; `slow(key, b, c)` for a
   * fiber the gate does not admit yet. The key is not checked here.
   */
  readonly withNowKeyed: <B, C, A>(
    method: string,
    key: string,
    b: B,
    c: C,
    f: (key: string, b: B, c: C, now: number) => A,
    slow: (key: string, b: B, c: C) => Effect.Effect<A, KeyValueStoreError>
  ) => Effect.Effect<A, KeyValueStoreError>
  /** `withNow` after the key's check. */
  readonly keyed: <A>(
    method: string,
    key: string,
    f: (now: number) => Effect.Effect<A, KeyValueStoreError>
  ) => Effect.Effect<A, KeyValueStoreError>
  /** `withNowSync` after the key's check, with `slow` for a fiber the gate does not admit yet. */
  readonly keyedSync: <A>(
    method: string,
    key: string,
    f: (now: number) => A,
    slow: (now: number) => Effect.Effect<A, KeyValueStoreError>
  ) => Effect.Effect<A, KeyValueStoreError>
}

const defaultTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

// Runs a synchronous fast path, `f(key, b, c, now)`: a thrown KeyValueStoreError becomes the failure (named after
// `method` when given), anything else is a defect. The arguments are passed through, so a caller builds no closure.
const attempt = <K, B, C, A>(
  f: (key: K, b: B, c: C, now: number) => A,
  key: K,
  b: B,
  c: C,
  now: number,
  method?: string
): Effect.Effect<A, KeyValueStoreError> => {
  try {
    return Effect.succeed(f(key, b, c, now))
  } catch (error) {
    if (!isKeyValueStoreError(error)) return Effect.die(error)
    return Effect.fail(method === undefined ? error : renamed(error, method))
  }
}

// `withNowSync`'s function, in `attempt`'s shape.
const nowOnly = <A>(f: (now: number) => A, _b: undefined, _c: undefined, now: number): A => f(now)

/** The context of a store over `p` (already behind its gate). */
export const make = (p: Primitives): Core => {
  const gate = p.gate
  const backend = p.backend
  const maxKeyBytes = p.maxKeyBytes ?? 1024
  const counters: Counters = { hits: 0, misses: 0, writes: 0, removes: 0 }

  const span = <A, E, R>(self: Effect.Effect<A, E, R>, method: string, key: string | undefined) =>
    Effect.withSpan(self, `effect-kv.${method}`, {
      attributes: key === undefined ? { "kv.backend": backend } : { "kv.backend": backend, "kv.key": key },
      captureStackTrace: false
    })

  const traced = <A, E, R>(self: Effect.Effect<A, E, R>, method: string): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime((fiber) => {
      useServices(fiber)
      return untraced ? self : span(self, method, undefined)
    })

  // One fiber-runtime step reads both the Clock and the Tracer: this is the hot path of every operation.
  const withNow = <A>(
    method: string,
    key: string | undefined,
    f: (now: number) => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) => {
      useServices(fiber)
      const self = f(clock.unsafeCurrentTimeMillis())
      return untraced ? self : span(self, method, key)
    })

  // The services of the running fiber change rarely (a test clock, a tracer): remember the last ones seen, so the
  // hot path pays one identity check instead of two context lookups.
  let lastServices: Context.Context<never> | undefined
  let clock: Clock.Clock = undefined as never
  let untraced = true
  // `currentDefaultServices` is the fiber's own cached copy of that FiberRef (no lookup).
  const useServices = (fiber: Fiber.RuntimeFiber<unknown, unknown>): void => {
    const services = fiber.currentDefaultServices
    if (services !== lastServices) {
      lastServices = services
      clock = Context.get(services, Clock.Clock)
      untraced = Context.get(services, Tracer.Tracer) === defaultTracer
    }
  }

  // A fast path runs only for a fiber the store's gate admits (no transaction region of other fibers is open).
  const admitted = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => gate === undefined || gate.admits(fiber)

  const withNowSync = <A>(
    method: string,
    key: string | undefined,
    f: (now: number) => A,
    slow?: () => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) => {
      if (slow !== undefined && !admitted(fiber)) return slow()
      useServices(fiber)
      if (untraced) return attempt(nowOnly, f, undefined, undefined, clock.unsafeCurrentTimeMillis())
      const now = clock.unsafeCurrentTimeMillis()
      return span(Effect.suspend(() => attempt(nowOnly, f, undefined, undefined, now)), method, key)
    })

  const withNowKeyed = <B, C, A>(
    method: string,
    key: string,
    b: B,
    c: C,
    f: (key: string, b: B, c: C, now: number) => A,
    slow: (key: string, b: B, c: C) => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) => {
      if (!admitted(fiber)) return slow(key, b, c)
      useServices(fiber)
      const now = clock.unsafeCurrentTimeMillis()
      if (!untraced) return span(Effect.suspend(() => attempt(f, key, b, c, now, method)), method, key)
      return attempt(f, key, b, c, now, method)
    })

  const checkedKey = <A>(method: string, key: string, self: () => Effect.Effect<A, KeyValueStoreError>) => {
    const error = validate.checkKey(method, key, maxKeyBytes)
    return error ? Effect.fail(error) : self()
  }

  return {
    p,
    gate,
    backend,
    maxKeyBytes,
    maxValueBytes: p.maxValueBytes ?? 512 * 1024 * 1024,
    separator: p.separator ?? ".",
    counters,
    countRead: <A>(found: Option.Option<A>): Option.Option<A> => {
      if (found._tag === "Some") counters.hits++
      else counters.misses++
      return found
    },
    countRemoved: (removed: boolean): boolean => {
      if (removed) counters.removes++
      return removed
    },
    unsupported: (method: string) => Effect.fail(new Unsupported({ method, backend })),
    traced,
    withNow,
    withNowSync,
    withNowKeyed,
    keyed: (method, key, f) => checkedKey(method, key, () => withNow(method, key, f)),
    keyedSync: (method, key, f, slow) =>
      checkedKey(method, key, () => withNowSync(method, key, f, () => withNow(method, key, slow)))
  }
}
