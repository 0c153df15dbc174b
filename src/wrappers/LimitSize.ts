/**
 * The `LimitSize` wrapper: bounds on the size of every value written (`maxBytes`, and optionally `minBytes`), checked
 * before the backend sees the write. A write out of bounds fails (`ValueTooLarge` above, `InvalidArgument` below) or,
 * with `onViolation: "skip"`, is left out and counted in the `effect_kv_limit_size_skipped` counter. It maps the
 * store's primitives (`set`, `setMany`, the `Write` mutations of `modify`, the synchronous `set` fast path) and derives
 * the whole service from them, so a namespace built over the limited store is limited too.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Wrapper from "../internal/wrapper.js"
import type { KeyValueStore, Mutation, Service, Value, WriteEntry } from "../KeyValueStore.js"
import { validateKey } from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import { InvalidArgument, Unsupported, ValueTooLarge } from "../KeyValueStoreError.js"

/**
 * Options of the size limit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The largest value, in bytes, a write may store (a positive integer). */
  readonly maxBytes: number
  /** The smallest value, in bytes, a write may store (a non-negative integer, at most `maxBytes`; default 0). */
  readonly minBytes?: number | undefined
  /**
   * `"fail"` (default): a write of a value out of bounds fails, `ValueTooLarge` (`size`, `limit`) above `maxBytes`,
   * `InvalidArgument` (argument `value`) below `minBytes`, and nothing is written (a `setMany` batch not at all).
   * `"skip"`: such a write is left out, the store unchanged, and counted in `skipped`: `set` succeeds, `setMany`
   * writes its other entries, `add` and `compareAndSwap` answer `false`. `append`, `update`, `increment` and
   * `decrement` answer with the value written, which a skipped write does not have: they fail in both modes.
   */
  readonly onViolation?: "fail" | "skip" | undefined
}

/**
 * The writes a `"skip"` limit left out, tagged `operation` (`set`, `setMany`, per entry, `add`, `compareAndSwap`).
 * A counter of the default metric registry: read it with `Metric.value`, or from a metrics exporter.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { LimitSize } from "effect-kv"
 *
 * const skippedSets = Metric.value(LimitSize.skipped.pipe(Metric.tagged("operation", "set")))
 * ```
 * @since 0.1.0
 * @category metrics
 */
export const skipped: Metric.Metric.Counter<number> = Metric.counter("effect_kv_limit_size_skipped", {
  description: "Writes a LimitSize wrapper left out because their value was out of bounds",
  incremental: true
})

const count = (operation: string): void => skipped.unsafeUpdate(1, [MetricLabel.make("operation", operation)])

interface Limits {
  readonly max: number
  readonly min: number
  readonly skip: boolean
}

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "LimitSize", argument, reason })

const limitsOf = (options: unknown): Limits | InvalidArgument => {
  if (typeof options !== "object" || options === null) return invalid("options", "expected an object")
  const { maxBytes, minBytes, onViolation } = options as Options
  if (!(Number.isSafeInteger(maxBytes) && maxBytes > 0)) {
    return invalid("maxBytes", `expected a positive integer, got ${String(maxBytes)}`)
  }
  if (minBytes !== undefined && !(Number.isSafeInteger(minBytes) && minBytes >= 0)) {
    return invalid("minBytes", `expected a non-negative integer, got ${String(minBytes)}`)
  }
  if (minBytes !== undefined && minBytes > maxBytes) {
    return invalid("minBytes", `minBytes (${minBytes}) exceeds maxBytes (${maxBytes})`)
  }
  if (onViolation !== undefined && onViolation !== "fail" && onViolation !== "skip") {
    return invalid("onViolation", `expected "fail" or "skip", got ${JSON.stringify(String(onViolation))}`)
  }
  return { max: maxBytes, min: minBytes ?? 0, skip: onViolation === "skip" }
}

const build = (store: Service, { max, min, skip }: Limits): Service => {
  const violation = (method: string, key: string, size: number): KeyValueStoreError | undefined =>
    size > max
      ? new ValueTooLarge({ method, key, size, limit: max })
      : size < min
      ? new InvalidArgument({
        method,
        key,
        argument: "value",
        reason: `value of ${size} bytes is below the minimum of ${min} bytes`
      })
      : undefined
  const p = store.primitives
  const unsafe = p.unsafe
  const setMany = p.setMany
  const limited = Wrapper.rebuild(store, {
    backend: Wrapper.inherit,
    capabilities: Wrapper.inherit,
    separator: Wrapper.inherit,
    maxKeyBytes: Wrapper.inherit,
    maxValueBytes: Wrapper.inherit,
    get: Wrapper.inherit,
    getEntry: Wrapper.inherit,
    set: (key, value, write, now, fence) => {
      const error = violation("set", key, value.byteLength)
      if (error === undefined) return p.set(key, value, write, now, fence)
      if (!skip) return Effect.fail(error)
      count("set")
      return Effect.void
    },
    remove: Wrapper.inherit,
    // A write keeping the entry's value as it is (`setMetadata`, `touch` without a native one) is not checked: the
    // value was stored before (possibly around this wrapper), and refusing it would block its metadata and expiry.
    modify: (key, now, f, fence) => {
      let refused: KeyValueStoreError | undefined
      return Effect.flatMap(
        p.modify(key, now, (current) => {
          refused = undefined
          const [result, mutation] = f(current)
          if (mutation._tag !== "Write") return [result, mutation]
          if (current._tag === "Some" && mutation.value === current.value.value) return [result, mutation]
          refused = violation("modify", key, mutation.value.byteLength)
          const keep: Mutation = { _tag: "Keep" }
          return refused === undefined ? [result, mutation] : [result, keep]
        }, fence),
        (result) => refused === undefined ? Effect.succeed(result) : Effect.fail(refused)
      )
    },
    expire: Wrapper.inherit,
    clear: Wrapper.inherit,
    size: Wrapper.inherit,
    has: Wrapper.inherit,
    unsafe: unsafe && {
      ...unsafe,
      set: (key, value, write, now) => {
        const error = violation("set", key, value.byteLength)
        if (error === undefined) return unsafe.set(key, value, write, now)
        if (!skip) throw error
        count("set")
      }
    },
    getMany: Wrapper.inherit,
    // Always given: without it `make` would write a batch entry by entry, and a refused entry would come after the
    // ones before it were written.
    setMany: (entries, now, fence) => {
      const kept: Array<WriteEntry> = []
      for (const entry of entries) {
        const error = violation("setMany", entry.key, entry.value.byteLength)
        if (error === undefined) kept.push(entry)
        else if (!skip) return Effect.fail(error)
        else count("setMany")
      }
      if (setMany !== undefined) return setMany(kept, now, fence)
      if (fence !== undefined) return Effect.fail(new Unsupported({ method: "setMany", backend: p.backend }))
      return Effect.forEach(kept, (entry) => p.set(entry.key, entry.value, entry.write, now), { discard: true })
    },
    removeMany: Wrapper.inherit,
    expiresAt: Wrapper.inherit,
    touch: Wrapper.inherit,
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
  if (!skip) return limited

  // `add` and `compareAndSwap` skipped answer `false` ("did not write"): a value whose size is known from the
  // arguments (a valid key and a well-formed string or bytes) is looked at before the store is; anything else goes to
  // the store, which reports its argument errors (and refuses an out-of-bounds value it computes).
  const sizeOf = (key: unknown, value: unknown): number | undefined => {
    if (typeof key !== "string" || validateKey(key, p.maxKeyBytes) !== undefined) return undefined
    if (typeof value === "string") return value.isWellFormed() ? Buffer.byteLength(value, "utf8") : undefined
    return value instanceof Uint8Array ? value.byteLength : undefined
  }
  const outOfBounds = (key: unknown, value: unknown): boolean => {
    const size = sizeOf(key, value)
    return size !== undefined && (size > max || size < min)
  }
  return Wrapper.service(limited, {
    backend: Wrapper.inherit,
    capabilities: Wrapper.inherit,
    separator: Wrapper.inherit,
    primitives: Wrapper.inherit,
    get: Wrapper.inherit,
    getString: Wrapper.inherit,
    getOrFail: Wrapper.inherit,
    getEntry: Wrapper.inherit,
    set: Wrapper.inherit,
    has: Wrapper.inherit,
    remove: Wrapper.inherit,
    pop: Wrapper.inherit,
    add: (key, value, options) =>
      Effect.suspend(() => {
        if (!outOfBounds(key, value)) return limited.add(key, value, options)
        count("add")
        return Effect.succeed(false)
      }),
    touch: Wrapper.inherit,
    ttl: Wrapper.inherit,
    setMetadata: Wrapper.inherit,
    increment: Wrapper.inherit,
    decrement: Wrapper.inherit,
    compareAndSwap: (key, expected, next, options) =>
      Effect.suspend(() => {
        if (!(Option.isOption(next) && Option.isSome(next) && outOfBounds(key, next.value as Value))) {
          return limited.compareAndSwap(key, expected, next, options)
        }
        count("compareAndSwap")
        return Effect.succeed(false)
      }),
    append: Wrapper.inherit,
    update: Wrapper.inherit,
    getMany: Wrapper.inherit,
    setMany: Wrapper.inherit,
    removeMany: Wrapper.inherit,
    keys: Wrapper.inherit,
    entries: Wrapper.inherit,
    getPattern: Wrapper.inherit,
    countPattern: Wrapper.inherit,
    removePattern: Wrapper.inherit,
    removeTag: Wrapper.inherit,
    expire: Wrapper.inherit,
    clear: Wrapper.inherit,
    size: Wrapper.inherit,
    volume: Wrapper.inherit,
    stats: Wrapper.inherit,
    resetStats: Wrapper.inherit,
    withTransaction: Wrapper.inherit,
    transaction: Wrapper.inherit,
    lock: Wrapper.inherit,
    withLock: Wrapper.inherit,
    check: Wrapper.inherit
  })
}

/**
 * The store over `store` that bounds the size of every value written: `set`, `add`, `setMany` (each entry),
 * `compareAndSwap` and `update` (the next value), `append` (the resulting value), `increment`/`decrement` (the
 * counter's digits). Writes keeping an entry's value (`setMetadata`, `touch`) are not checked. The store's own
 * argument checks come first; a refused write changes nothing. Under `"skip"`, `stats` still count a skipped `set`
 * as a write (the store above the limit made it), and through a store built over this one's primitives (a namespace)
 * an out-of-bounds `add` or `compareAndSwap` fails instead of answering `false`. Bad options fail with
 * `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, LimitSize, MemoryStore } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* LimitSize.make(yield* KeyValueStore.KeyValueStore, { maxBytes: 1024 })
 *   yield* store.set("small", "ok")
 *   yield* store.set("big", "x".repeat(2048)) // fails with ValueTooLarge
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: Service, options: Options): Effect.Effect<Service, InvalidArgument> =>
  Effect.suspend(() => {
    const limits = limitsOf(options)
    return limits instanceof InvalidArgument ? Effect.fail(limits) : Effect.succeed(build(store, limits))
  })

/**
 * The size limit as a layer over the `KeyValueStore` in context.
 *
 * @example
 * ```ts
 * import { KeyValueStore, LimitSize, MemoryStore } from "effect-kv"
 *
 * const CacheLive = MemoryStore.layer().pipe(
 *   KeyValueStore.wrap(LimitSize.layer({ maxBytes: 64 * 1024, onViolation: "skip" }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<KeyValueStore, InvalidArgument, KeyValueStore> =>
  Wrapper.layer(make, options)

/**
 * `layer` with its options read from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { LimitSize } from "effect-kv"
 *
 * LimitSize.layerConfig({ maxBytes: Config.integer("KV_MAX_VALUE_BYTES") })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<KeyValueStore, InvalidArgument | ConfigError.ConfigError, KeyValueStore> =>
  Wrapper.layerConfig(config, layer)
