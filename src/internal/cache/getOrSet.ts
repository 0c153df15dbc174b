/**
 * The read-through engine behind `getOrSet` and `Memoize`: read the key, and on a miss run the computation, write its
 * result and return it. Values are held as bytes through a `Representation` (raw bytes for the store, a Schema and
 * codec for a typed store, a success-or-failure envelope for memoized functions). The engine is derived from a
 * finished store's own operations (`attach`), never from a backend's primitives, so it sees every wrapper.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { GetOrSetOptions, Service, Value } from "../../KeyValueStore.js"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import { named } from "../service/arguments.js"

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

/** Raw values: strings as their UTF-8 bytes. */
export const bytes: Representation<Value> = {
  encode: (_method, _key, value) => Effect.succeed(typeof value === "string" ? encoder.encode(value) : value),
  decode: (_method, _key, value) => Effect.succeed(Option.some(value))
}

/** Extra controls of the engine that the public options do not carry. */
export interface Controls<A> {
  /** Whether a computed value is written (`false`: returned but not cached). */
  readonly shouldStore?: ((value: A) => boolean) | undefined
}

/**
 * The value under `key` in `store` as `representation` reads it, or else `compute`'s result, written with `options`.
 */
export const getOrSetWith = <A, E, R>(
  store: Service,
  key: string,
  compute: Effect.Effect<A, E, R>,
  representation: Representation<A>,
  options?: GetOrSetOptions,
  controls?: Controls<A>
): Effect.Effect<A, E | KeyValueStoreError, R> => {
  const method = "getOrSet"
  const computeAndStore = Effect.flatMap(
    compute,
    (value) =>
      controls?.shouldStore !== undefined && !controls.shouldStore(value) ? Effect.succeed(value) : Effect.as(
        Effect.flatMap(representation.encode(method, key, value), (encoded) =>
          named(
            store.set(key, encoded, {
              ttl: options?.ttl,
              tags: options?.tags,
              metadata: options?.metadata,
              fence: options?.fence
            }),
            method
          )),
        value
      )
  )
  const read = Effect.flatMap(
    named(store.get(key), method),
    (found) => Option.isSome(found) ? representation.decode(method, key, found.value) : Effect.succeed(Option.none())
  )
  const readOrMiss = options?.onReadFailure === "compute" ?
    Effect.catchAll(read, () => Effect.succeed(Option.none<A>())) :
    read
  return Effect.flatMap(readOrMiss, (found) => Option.isSome(found) ? Effect.succeed(found.value) : computeAndStore)
}

/** The store with its derived members (`getOrSet`) built over its own operations. */
export const attach = (service: Omit<Service, "getOrSet">): Service => {
  const out = service as Service
  ;(out as { getOrSet: Service["getOrSet"] }).getOrSet = (key, compute, options) =>
    Effect.flatMap(getOrSetWith(out, key, compute, bytes, options), (value) => bytes.encode("getOrSet", key, value))
  return out
}
