/**
 * A `KeyValueStore` that keeps nothing: every write is accepted and forgotten, every read misses. It is built with
 * `KeyValueStore.make` like every backend, so arguments are checked the same way (an invalid key, ttl, value or
 * option is the same typed error as anywhere else) and `stats` counts what was asked of it. What it answers:
 *
 * - `get`, `getEntry`, `pop`, `ttl` and `getMany`: none; `has`: false; `size`, `countPattern`, `removePattern`,
 *   `removeTag`, `expire` and `removeMany`: 0; `keys`, `entries` and `getPattern`: empty streams.
 * - `remove`, `touch`, `setMetadata`: false (there was no entry); `add`: true (it wrote, then forgot);
 *   `compareAndSwap`: compares with an absent entry, so it swaps exactly when `expected` is none.
 * - `increment`/`decrement` start from an absent counter every time: they return `initial ± delta` (`initial`
 *   defaults to 0) whatever was incremented before. `append` returns the length of the bytes given; `update` gives
 *   its function none and returns what the function returned (as bytes).
 *
 * Useful to switch caching off without changing the program, and as the secondary of a `Fallback` whose outage
 * should look like an empty cache. No transactions, locks, `check` or fences (`Unsupported`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as validate from "../internal/validate.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { InvalidArgument } from "../KeyValueStoreError.js"

/**
 * Options of a null store: the same limits as every store, so that it refuses what the store it stands in for would.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = KeyValueStore.StoreOptions

/**
 * What a null store can do: it accepts ttls, tags and metadata (and forgets them), enumerates nothing in order, and
 * keeps nothing across processes or restarts.
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: KeyValueStore.Capabilities = {
  persistent: false,
  expiry: true,
  eviction: false,
  crossProcess: false,
  orderedKeys: true,
  enumeration: true,
  tags: true,
  metadata: true,
  transactions: false,
  locks: false,
  check: false,
  volume: false,
  fencedWrites: false
}

const none = Effect.succeed(Option.none())
const zero = Effect.succeed(0)
const no = Effect.succeed(false)
const nothing = Effect.succeed([] as ReadonlyArray<never>)

/**
 * The primitives of a null store: nothing is kept, and a read-modify-write sees an absent entry.
 */
const primitives = (options: Options): KeyValueStore.Primitives => ({
  backend: "null",
  capabilities,
  separator: options.separator,
  maxKeyBytes: options.maxKeyBytes,
  maxValueBytes: options.maxValueBytes,
  get: () => none,
  getEntry: () => none,
  set: () => Effect.void,
  remove: () => no,
  modify: (_key, _now, f) => Effect.sync(() => f(Option.none())[0]),
  expire: () => zero,
  clear: Effect.void,
  size: () => zero,
  has: () => no,
  getMany: (keys) => Effect.succeed(keys.map(() => Option.none())),
  setMany: () => Effect.void,
  removeMany: () => zero,
  expiresAt: () => none,
  touch: () => no,
  scanKeys: () => nothing,
  scanEntries: () => nothing,
  countRange: () => zero,
  removeRange: () => zero,
  removeTag: () => zero
})

/**
 * Builds a null store. Fails with `InvalidArgument` for invalid options.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { NullStore } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* NullStore.make()
 *   yield* store.set("a", "1")
 *   return yield* store.get("a") // Option.none()
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<KeyValueStore.Service, InvalidArgument> =>
  Effect.suspend(() => {
    const invalid = validate.checkStoreOptions(options)
    return invalid !== undefined ? Effect.fail(invalid) : Effect.succeed(KeyValueStore.make(primitives(options)))
  })

/**
 * A layer providing a null store.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, NullStore } from "effect-kv"
 *
 * Effect.flatMap(KeyValueStore.KeyValueStore, (store) => store.get("k")).pipe(Effect.provide(NullStore.layer()))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<KeyValueStore.KeyValueStore, InvalidArgument> =>
  Layer.effect(KeyValueStore.KeyValueStore, make(options))
