/**
 * The read-through engine behind `getOrSet` and `Memoize`: read the key, and on a miss run the computation, write its
 * result and return it. Values are held as bytes through a `Representation` (raw bytes for the store, a Schema and
 * codec for a typed store, a success-or-failure envelope for memoized functions). The engine is derived from a
 * finished store's own operations (`attach`), never from a backend's primitives, so it sees every wrapper.
 *
 * - A miss is computed once per process: concurrent callers share one computation (`flight.ts`), and with `lock` once
 *   across processes (`stampede.ts`).
 * - Without `staleWhileRevalidate`/`grace` the hit path is the store's `get`. With them, the entry is written with a
 *   physical ttl of `ttl + max(staleWhileRevalidate, grace)` and read with `getEntry`: it is fresh until
 *   `expiresAt - max(staleWhileRevalidate, grace)`, stale after that (nothing is added to the value or its
 *   metadata, so other readers' `get` sees the value as it is).
 * - Background refreshes (stale-while-revalidate, and a refresh that outlives its caller's `softTimeout`) run in
 *   daemon fibers forked from the caller that starts them (its services and clock), not tied to its lifetime; they end
 *   with the computation, which `hardTimeout` bounds.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { GetOrSetOptions, Service, Value } from "../../KeyValueStore.js"
import { InvalidArgument, type KeyValueStoreError, Timeout, Unsupported } from "../../KeyValueStoreError.js"
import { named } from "../service/arguments.js"
import * as validate from "../validate.js"
import * as Flight from "./flight.js"
import * as Settings from "./settings.js"
import * as Stampede from "./stampede.js"

/** How a cached value of type `A` is held in the store as bytes. */
export interface Representation<A> {
  readonly encode: (method: string, key: string, value: A) => Effect.Effect<Uint8Array, KeyValueStoreError>
  /** `none`: the stored bytes do not hold a value this reader takes (a mismatch read as a miss). */
  readonly decode: (
    method: string,
    key: string,
    bytes: Uint8Array
  ) => Effect.Effect<Option.Option<A>, KeyValueStoreError>
}

const encoder = new TextEncoder()

const toBytes = (value: Value): Uint8Array => typeof value === "string" ? encoder.encode(value) : value

/** Raw values: strings as their UTF-8 bytes. */
export const bytes: Representation<Value> = {
  encode: (_method, _key, value) => Effect.succeed(toBytes(value)),
  decode: (_method, _key, value) => Effect.succeed(Option.some(value))
}

/** Extra controls of the engine that the public options do not carry. */
export interface Controls<A> {
  /** Whether a computed value is written (`false`: returned but not cached). */
  readonly shouldStore?: ((value: A) => boolean) | undefined
}

const method = "getOrSet"

// Raw values: a stored value is returned as it is, and a computed one as the bytes written.
const isRaw = (representation: unknown): boolean => representation === bytes

// The errors of a read that `onReadFailure: "compute"` turns into a miss: the store's failures, not the caller's
// mistakes.
const isReadFailure = (error: KeyValueStoreError): boolean =>
  error._tag !== "InvalidKey" && error._tag !== "InvalidArgument" && error._tag !== "Unsupported"

/** A value found in the store, and until when it is fresh (epoch ms). */
interface Found<A> {
  readonly value: A
  readonly freshUntil: number
}

/**
 * The value under `key` in `store` as `representation` reads it, or else `compute`'s result, written with `options`.
 * Every option is checked before anything runs (`InvalidArgument`); `lock` on a store without locks is `Unsupported`.
 */
export const getOrSetWith = <A, E, R>(
  store: Service,
  key: string,
  compute: Effect.Effect<A, E, R>,
  representation: Representation<A>,
  options?: GetOrSetOptions,
  controls?: Controls<A>
): Effect.Effect<A, E | KeyValueStoreError, R> => {
  const settings = Settings.of(typeof key === "string" ? key : "", options)
  // A tag check: `instanceof` on an error class of Schema costs more than the rest of a hit.
  if ("_tag" in settings) return Effect.fail(settings)
  if (!Effect.isEffect(compute)) {
    return Effect.fail(
      new InvalidArgument({
        method,
        key,
        argument: "compute",
        reason: `expected an Effect, got ${validate.show(compute)}`
      })
    )
  }
  if (settings.lock !== undefined && !store.capabilities.locks) {
    return Effect.fail(new Unsupported({ method, key, backend: store.backend }))
  }
  return settings.window === 0
    ? plain(store, key, compute, representation, settings, controls)
    : windowed(store, key, compute, representation, settings, controls)
}

// The computation, bounded by `hardTimeout`, and the write of its result.
const computeAndWrite = <A, E, R>(
  store: Service,
  key: string,
  compute: Effect.Effect<A, E, R>,
  representation: Representation<A>,
  settings: Settings.Settings,
  controls: Controls<A> | undefined
): Effect.Effect<A, E | KeyValueStoreError, R> => {
  const { hardTimeout } = settings
  const timed = hardTimeout === undefined ? compute : Effect.timeoutFail(compute, {
    duration: hardTimeout,
    onTimeout: () => new Timeout({ method, key, millis: hardTimeout })
  })
  const setOptions = {
    ttl: settings.ttl === undefined ? undefined : settings.ttl + settings.window,
    tags: settings.tags,
    metadata: settings.metadata,
    fence: settings.fence
  }
  return Effect.flatMap(timed, (value) =>
    controls?.shouldStore !== undefined && !controls.shouldStore(value)
      ? Effect.succeed(value)
      : Effect.flatMap(
        representation.encode(method, key, value),
        // Raw values are returned as the bytes written (the store's `getOrSet` returns bytes).
        (encoded) =>
          Effect.as(named(store.set(key, encoded, setOptions), method), isRaw(representation) ? encoded as A : value)
      ))
}

// The miss: one computation per process (and with `lock` one across processes), whose result every caller gets.
// `leased` is what runs under the lease: a read that takes the value another process may have written while this one
// waited, else `work`.
const produce = <A, E, R>(
  store: Service,
  key: string,
  leased: Effect.Effect<A, E | KeyValueStoreError, R>,
  work: Effect.Effect<A, E | KeyValueStoreError, R>,
  settings: Settings.Settings
): Effect.Effect<A, E | KeyValueStoreError, R> =>
  settings.lock === undefined ? work : Stampede.guarded(store, key, settings.lock, leased, work)

// A read of the store, whose failures are a miss under `onReadFailure: "compute"`.
const readOf = <B>(
  settings: Settings.Settings,
  read: Effect.Effect<Option.Option<B>, KeyValueStoreError>
): Effect.Effect<Option.Option<B>, KeyValueStoreError> =>
  settings.onReadFailure === "compute" ? Effect.catchIf(read, isReadFailure, () => Effect.succeedNone) : read

// The read of the plain path: the store's `get`, decoded; `onNone` on a miss. Module-level functions rather than
// closures: the hit path allocates as little as possible.
const lookupPlain = <A, E, R>(
  store: Service,
  key: string,
  representation: Representation<A>,
  settings: Settings.Settings,
  onNone: () => Effect.Effect<A, E | KeyValueStoreError, R>
): Effect.Effect<A, E | KeyValueStoreError, R> =>
  Effect.flatMap(
    readOf(settings, store.get(key)),
    (found) => {
      if (Option.isNone(found)) return onNone()
      if (isRaw(representation)) {
        return Effect.succeed(found.value as A)
      }
      return Effect.flatMap(
        representation.decode(method, key, found.value),
        (decoded) => Option.isSome(decoded) ? Effect.succeed(decoded.value) : onNone()
      )
    }
  )

// A miss of the plain path: one flight, under the lease with `lock` (re-reading under it).
const missPlain = <A, E, R>(
  store: Service,
  key: string,
  compute: Effect.Effect<A, E, R>,
  representation: Representation<A>,
  settings: Settings.Settings,
  controls: Controls<A> | undefined
): Effect.Effect<A, E | KeyValueStoreError, R> => {
  const work = computeAndWrite(store, key, compute, representation, settings, controls)
  return Flight.run(
    store,
    key,
    representation,
    produce(store, key, lookupPlain(store, key, representation, settings, () => work), work, settings)
  )
}

// The hit path is one `get` and, for typed values, one decode: everything else is built on a miss. A failed read
// keeps the error of the store's `get` as it is (renaming it would cost every hit a frame).
const plain = <A, E, R>(
  store: Service,
  key: string,
  compute: Effect.Effect<A, E, R>,
  representation: Representation<A>,
  settings: Settings.Settings,
  controls: Controls<A> | undefined
): Effect.Effect<A, E | KeyValueStoreError, R> =>
  lookupPlain(
    store,
    key,
    representation,
    settings,
    () => missPlain(store, key, compute, representation, settings, controls)
  )

const windowed = <A, E, R>(
  store: Service,
  key: string,
  compute: Effect.Effect<A, E, R>,
  representation: Representation<A>,
  settings: Settings.Settings,
  controls: Controls<A> | undefined
): Effect.Effect<A, E | KeyValueStoreError, R> => {
  const { grace, softTimeout, swr, window } = settings
  const read = readOf(settings, store.getEntry(key))
  const lookup: Effect.Effect<Option.Option<Found<A>>, KeyValueStoreError> = Effect.flatMap(read, (found) => {
    if (Option.isNone(found)) return Effect.succeedNone
    const entry = found.value
    const freshUntil = Option.isSome(entry.expiresAt) ? entry.expiresAt.value - window : Infinity
    return Effect.map(
      representation.decode(method, key, entry.value),
      Option.map((value): Found<A> => ({ value, freshUntil }))
    )
  })
  // Under the lease, only a fresh value counts: the stale one is what this caller is refreshing.
  const reread = Effect.flatMap(
    lookup,
    (found) =>
      Effect.map(
        Clock.currentTimeMillis,
        (now) => Option.isSome(found) && now < found.value.freshUntil ? Option.some(found.value.value) : Option.none()
      )
  )
  const work = computeAndWrite(store, key, compute, representation, settings, controls)
  const refresh = produce(
    store,
    key,
    Effect.flatMap(reread, (found) => Option.isSome(found) ? Effect.succeed(found.value) : work),
    work,
    settings
  )
  const miss = Flight.run(store, key, representation, refresh)

  return Effect.flatMap(lookup, (found) => {
    if (Option.isNone(found)) return miss
    const { freshUntil, value } = found.value
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (now < freshUntil) return Effect.succeed(value)
      // Within staleWhileRevalidate: the stale value now, one refresh in the background.
      if (now - freshUntil < swr) return Effect.as(Flight.background(store, key, representation, refresh), value)
      // Past it (so within grace): a refresh whose failure serves the stale value while grace lasts, and which a soft
      // timeout leaves running in the background.
      return Flight.run(store, key, representation, refresh, (flight, result) => {
        const fallback = Effect.catchAll(result, (error) =>
          Effect.flatMap(
            Clock.currentTimeMillis,
            (at) => at - freshUntil < grace ? Effect.succeed(value) : Effect.fail(error)
          ))
        return softTimeout === undefined ? fallback : Effect.flatten(
          Effect.timeoutTo(fallback, {
            duration: softTimeout,
            onSuccess: Effect.succeed,
            onTimeout: () => Effect.as(Flight.pin(flight), value)
          })
        )
      })
    })
  })
}

/** The store with its derived members (`getOrSet`) built over its own operations. */
export const attach = (service: Omit<Service, "getOrSet">): Service => {
  const out = service as Service
  const getOrSet = <E, R>(key: string, compute: Effect.Effect<Value, E, R>, options?: GetOrSetOptions) =>
    // With the raw representation the engine returns bytes (see `isRaw`).
    getOrSetWith(out, key, compute, bytes, options) as Effect.Effect<Uint8Array, E | KeyValueStoreError, R>
  ;(out as { getOrSet: Service["getOrSet"] }).getOrSet = getOrSet
  return out
}
