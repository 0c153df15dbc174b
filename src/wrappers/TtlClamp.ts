/**
 * The `TtlClamp` wrapper: bounds on the time to live of every write. A ttl a write gives is clamped into
 * `[min, max]`; a write without one gets `default` (or `max` when only `max` is given). It maps the store's primitives
 * (`set`, `setMany`, the `Write` mutations of `modify`, `touch`, the synchronous `set` fast path) and derives the whole
 * service from them, so every operation that writes an expiry is covered, and a namespace built over the clamped
 * store is clamped too.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as validate from "../internal/validate.js"
import * as Wrapper from "../internal/wrapper.js"
import type { Mutation, Service, Write } from "../KeyValueStore.js"
import type { KeyValueStore } from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"

/**
 * Options of the clamp. Each is a positive, finite duration of at most `KeyValueStore.limits.maxDurationMillis`, with
 * `min <= default <= max` for those given.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The shortest ttl a write may give: a shorter one is raised to it. */
  readonly min?: Duration.DurationInput | undefined
  /** The longest ttl a write may give: a longer one is lowered to it, and a write without a ttl gets it (no `default`). */
  readonly max?: Duration.DurationInput | undefined
  /** The ttl of a write that gives none. */
  readonly default?: Duration.DurationInput | undefined
}

interface Bounds {
  readonly min: number | undefined
  readonly max: number | undefined
  readonly fallback: number | undefined
}

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "TtlClamp", argument, reason })

const boundsOf = (options: unknown, store: Service): Bounds | InvalidArgument => {
  if (options === undefined) return { min: undefined, max: undefined, fallback: undefined }
  if (typeof options !== "object" || options === null) return invalid("options", "expected an object")
  const read = (name: "min" | "max" | "default"): number | undefined | InvalidArgument => {
    const input = (options as Options)[name]
    if (input === undefined) return undefined
    const millis = validate.durationOf(input, { zero: false, infinite: false })
    return typeof millis === "string" ? invalid(name, millis) : Math.max(1, Math.ceil(millis))
  }
  const min = read("min")
  if (min instanceof InvalidArgument) return min
  const max = read("max")
  if (max instanceof InvalidArgument) return max
  const fallback = read("default")
  if (fallback instanceof InvalidArgument) return fallback
  if (min !== undefined && max !== undefined && min > max) {
    return invalid("min", `min (${min} ms) exceeds max (${max} ms)`)
  }
  if (fallback !== undefined && min !== undefined && fallback < min) {
    return invalid("default", `default (${fallback} ms) is below min (${min} ms)`)
  }
  if (fallback !== undefined && max !== undefined && fallback > max) {
    return invalid("default", `default (${fallback} ms) exceeds max (${max} ms)`)
  }
  if ((max !== undefined || fallback !== undefined) && !store.capabilities.expiry) {
    return invalid("options", `the ${store.backend} store has no expiry: it cannot give writes a max or default ttl`)
  }
  return { min, max, fallback: fallback ?? max }
}

const build = (store: Service, { fallback, max, min }: Bounds): Service => {
  // The expiry of a write giving `expiresAt` (null: no ttl) at `now`.
  const given = (expiresAt: number | null, now: number): number | null => {
    if (expiresAt === null) return fallback === undefined ? null : now + fallback
    const ttl = expiresAt - now
    if (min !== undefined && ttl < min) return now + min
    if (max !== undefined && ttl > max) return now + max
    return expiresAt
  }
  // The expiry of a write keeping the entry's current one: only lowered to `max`, never raised to `min` (it is not a
  // ttl given now). A kept "never expires" cannot be told from a write without a ttl: it gets `default` too.
  const kept = (expiresAt: number | null, now: number): number | null => {
    if (expiresAt === null) return given(null, now)
    return max !== undefined && expiresAt - now > max ? now + max : expiresAt
  }
  const clamped = (write: Write, expiresAt: number | null): Write =>
    expiresAt === write.expiresAt ? write : { ...write, expiresAt }
  const p = store.primitives
  const unsafe = p.unsafe
  const setMany = p.setMany
  const touch = p.touch
  return Wrapper.rebuild(store, {
    backend: Wrapper.inherit,
    capabilities: Wrapper.inherit,
    separator: Wrapper.inherit,
    maxKeyBytes: Wrapper.inherit,
    maxValueBytes: Wrapper.inherit,
    get: Wrapper.inherit,
    getEntry: Wrapper.inherit,
    set: (key, value, write, now, fence) => p.set(key, value, clamped(write, given(write.expiresAt, now)), now, fence),
    remove: Wrapper.inherit,
    // A write keeping the entry's expiry (`append`, `setMetadata`, a counter on an existing entry: `entryWrite`) is
    // told by its expiry being the entry's own.
    modify: (key, now, f, fence) =>
      p.modify(key, now, (current) => {
        const [result, mutation] = f(current)
        if (mutation._tag !== "Write") return [result, mutation]
        const expiresAt = mutation.write.expiresAt
        const keeps = current._tag === "Some" && expiresAt !== null &&
          expiresAt === Option.getOrNull(current.value.expiresAt)
        const next = keeps ? kept(expiresAt, now) : given(expiresAt, now)
        const write: Mutation = { ...mutation, write: clamped(mutation.write, next) }
        return [result, write]
      }, fence),
    expire: Wrapper.inherit,
    clear: Wrapper.inherit,
    size: Wrapper.inherit,
    has: Wrapper.inherit,
    unsafe: unsafe && {
      ...unsafe,
      set: (key, value, write, now) => unsafe.set(key, value, clamped(write, given(write.expiresAt, now)), now)
    },
    getMany: Wrapper.inherit,
    setMany: setMany &&
      ((entries, now, fence) =>
        setMany(
          entries.map((entry) => {
            const write = clamped(entry.write, given(entry.write.expiresAt, now))
            return write === entry.write ? entry : { ...entry, write }
          }),
          now,
          fence
        )),
    removeMany: Wrapper.inherit,
    expiresAt: Wrapper.inherit,
    touch: touch && ((key, expiresAt, now, fence) => touch(key, given(expiresAt, now), now, fence)),
    volume: Wrapper.inherit,
    counters: Wrapper.inherit,
    resetCounters: Wrapper.inherit,
    scanKeys: Wrapper.inherit,
    scanEntries: Wrapper.inherit,
    countRange: Wrapper.inherit,
    removeRange: Wrapper.inherit,
    removeTag: Wrapper.inherit,
    gate: Wrapper.inherit,
    withTransaction: Wrapper.inherit,
    transaction: Wrapper.inherit,
    leases: Wrapper.inherit,
    check: Wrapper.inherit
  })
}

/**
 * The store over `store` whose writes have their ttl clamped into `[min, max]`, and `default` (or `max`) when they
 * give none: `set`, `add`, `setMany` entries, `touch` (`undefined`: no ttl), `increment`/`decrement` creating an
 * entry, `compareAndSwap`, `update` (a write without `options` replaces like `set`: no ttl, so `default`).
 *
 * Writes that keep an entry's current expiry (`append`, `setMetadata`, a counter on an existing entry) keep it, only
 * lowered to `max` when it is further away (an entry written around the clamp); the clamp cannot tell a kept
 * "never expires" from a write without a ttl, so both get `default`. Likewise `ttl: Duration.infinity` reaches the
 * clamp as "no ttl" and gets `default` (or `max`); with neither, it never expires. A write whose computed expiry
 * happens to equal the entry's current one counts as keeping it. Bad options fail with `InvalidArgument`, and so do
 * `max` or `default` over a store without expiry.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore, TtlClamp } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TtlClamp.make(yield* KeyValueStore.KeyValueStore, { min: "1 second", max: "1 day" })
 *   yield* store.set("a", "1", { ttl: "1 year" }) // lives one day
 *   yield* store.set("b", "2") // no ttl given: max, one day
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: Service, options?: Options): Effect.Effect<Service, InvalidArgument> =>
  Effect.suspend(() => {
    const bounds = boundsOf(options, store)
    return bounds instanceof InvalidArgument ? Effect.fail(bounds) : Effect.succeed(build(store, bounds))
  })

/**
 * The clamp as a layer over the `KeyValueStore` in context.
 *
 * @example
 * ```ts
 * import { KeyValueStore, MemoryStore, TtlClamp } from "effect-kv"
 *
 * const CacheLive = MemoryStore.layer().pipe(
 *   KeyValueStore.wrap(TtlClamp.layer({ min: "1 second", max: "1 hour", default: "5 minutes" }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<KeyValueStore, InvalidArgument, KeyValueStore> =>
  Wrapper.layer(make, options)

/**
 * `layer` with its options read from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { TtlClamp } from "effect-kv"
 *
 * TtlClamp.layerConfig({ max: Config.duration("KV_MAX_TTL") })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<KeyValueStore, InvalidArgument | ConfigError.ConfigError, KeyValueStore> =>
  Wrapper.layerConfig(config, layer)
