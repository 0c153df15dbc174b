/**
 * The `ReadOnly` wrapper: a store that answers reads and refuses every write. Each operation of the service is
 * classified once in `access` (a table that must grow with the service: adding an operation breaks this module until
 * it is classified), writing operations fail with `ReadOnlyViolation` (or, with `onWrite: "ignore"`, succeed without
 * effect), and the store's primitives refuse writes too, so a store built over them (a namespace) is read-only as well.
 * `view` gives the same store under a type that has no writing member at all.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Wrapper from "../internal/wrapper.js"
import type { CheckOptions, Primitives, Service, TypeId } from "../KeyValueStore.js"
import type { KeyValueStore } from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import { InvalidArgument, ReadOnlyViolation } from "../KeyValueStoreError.js"

/**
 * What a read-only store does with an operation:
 *
 * - `"read"`: passes (reads, enumeration, `size`, `volume`, `stats`);
 * - `"write"`: refused (it changes entries: every write, removal, `expire` and `clear`);
 * - `"coordination"`: passes (transactions and locks change no entry: a reader may need a consistent view or to wait
 *   for a writer; nothing written through a read-only store can use them to write);
 * - `"check"`: passes without `fix`, refused with `fix: true` (a repair writes);
 * - `"bookkeeping"`: passes (`resetStats` resets counters, not entries, and its type has no failure), but is not part
 *   of the `ReadOnlyStore` type.
 *
 * @since 0.1.0
 * @category models
 */
export type Access = "read" | "write" | "coordination" | "check" | "bookkeeping"

/**
 * The operations of the service.
 *
 * @since 0.1.0
 * @category models
 */
export type Operation = Exclude<keyof Service, TypeId | NonOperation>

type NonOperation = "backend" | "capabilities" | "separator" | "primitives"

/**
 * How a read-only store treats each operation of the service (see `Access`).
 *
 * @example
 * ```ts
 * import { ReadOnly } from "effect-kv"
 * ReadOnly.access.set // "write"
 * ```
 * @since 0.1.0
 * @category models
 */
export const access = {
  get: "read",
  getString: "read",
  getOrFail: "read",
  getEntry: "read",
  set: "write",
  has: "read",
  remove: "write",
  pop: "write",
  add: "write",
  touch: "write",
  ttl: "read",
  setMetadata: "write",
  increment: "write",
  decrement: "write",
  compareAndSwap: "write",
  append: "write",
  update: "write",
  getMany: "read",
  setMany: "write",
  removeMany: "write",
  keys: "read",
  entries: "read",
  getPattern: "read",
  countPattern: "read",
  removePattern: "write",
  removeTag: "write",
  expire: "write",
  clear: "write",
  size: "read",
  volume: "read",
  stats: "read",
  resetStats: "bookkeeping",
  withTransaction: "coordination",
  transaction: "coordination",
  lock: "coordination",
  withLock: "coordination",
  check: "check",
  // derived: reads, then writes on a miss
  getOrSet: "write"
} as const satisfies { readonly [K in Operation]-?: Access }

type Of<A extends Access> = { readonly [K in Operation]: (typeof access)[K] extends A ? K : never }[Operation]

/**
 * The writing operations: refused by a read-only store, absent from `ReadOnlyStore`.
 *
 * @since 0.1.0
 * @category models
 */
export type Writer = Of<"write">

/**
 * The options of `check` on a read-only store: no `fix`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadOnlyCheckOptions extends Omit<CheckOptions, "fix"> {
  readonly fix?: false | undefined
}

/**
 * A store as a read-only consumer sees it: the reads, the coordination operations and `check` without `fix`; no
 * writing member at all (`view.set` does not compile).
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadOnlyStore
  extends Pick<Service, "backend" | "capabilities" | "separator" | Of<"read"> | Of<"coordination">>
{
  /** Verifies structure (never repairs: `fix` is not an option here). */
  readonly check: (options?: ReadOnlyCheckOptions) => ReturnType<Service["check"]>
}

/**
 * Options of the read-only store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * `"fail"` (default): a write fails with `ReadOnlyViolation` (its `method`, and its `key` when it has one).
   * `"ignore"`: a write succeeds without effect, answering "nothing was changed": `set`, `setMany` and `clear` give
   * `void`; `remove`, `add`, `touch`, `setMetadata` and `compareAndSwap` give `false`; `pop` gives `none`;
   * `removeMany`, `removePattern`, `removeTag` and `expire` give `0`; `check({ fix: true })` checks without fixing.
   * `increment`, `decrement`, `append` and `update` answer with the value they wrote, which an ignored write does not
   * have: they fail with `ReadOnlyViolation` in both modes.
   */
  readonly onWrite?: "fail" | "ignore" | undefined
}

const refusal = (method: string, key: unknown): ReadOnlyViolation =>
  new ReadOnlyViolation(typeof key === "string" ? { method, key } : { method })

const refuse = (method: string, key?: unknown): Effect.Effect<never, KeyValueStoreError> =>
  Effect.fail(refusal(method, key))

const fixes = (options: unknown): boolean =>
  typeof options === "object" && options !== null && (options as CheckOptions).fix === true

const withoutFix = (options: CheckOptions | undefined): CheckOptions => ({ ...options, fix: false })

// Primitives that refuse writes: a store built over them (a namespace) refuses them too. `modify` refuses in both modes
// (a primitive cannot tell what "nothing changed" would answer for the operation calling it), and `removeRange` is
// given even when the engine has none, so that a namespace's `clear` is refused even on an empty namespace.
const primitivesOf = (p: Primitives, ignore: boolean): Primitives => {
  const unsafe = p.unsafe
  return Wrapper.mapPrimitives(p, {
    backend: Wrapper.inherit,
    capabilities: Wrapper.inherit,
    separator: Wrapper.inherit,
    maxKeyBytes: Wrapper.inherit,
    maxValueBytes: Wrapper.inherit,
    get: Wrapper.inherit,
    getEntry: Wrapper.inherit,
    set: (key) => ignore ? Effect.void : refuse("set", key),
    remove: (key) => ignore ? Effect.succeed(false) : refuse("remove", key),
    modify: (key) => refuse("modify", key),
    expire: () => ignore ? Effect.succeed(0) : refuse("expire"),
    clear: ignore ? Effect.void : refuse("clear"),
    size: Wrapper.inherit,
    has: Wrapper.inherit,
    unsafe: unsafe && {
      get: unsafe.get,
      has: unsafe.has,
      set: (key) => {
        if (!ignore) throw refusal("set", key)
      },
      remove: (key) => {
        if (!ignore) throw refusal("remove", key)
        return false
      }
    },
    getMany: Wrapper.inherit,
    setMany: () => ignore ? Effect.void : refuse("setMany"),
    removeMany: () => ignore ? Effect.succeed(0) : refuse("removeMany"),
    expiresAt: Wrapper.inherit,
    touch: (key) => ignore ? Effect.succeed(false) : refuse("touch", key),
    volume: Wrapper.inherit,
    counters: Wrapper.inherit,
    resetCounters: Wrapper.inherit,
    scanKeys: Wrapper.inherit,
    scanEntries: Wrapper.inherit,
    countRange: Wrapper.inherit,
    removeRange: () => ignore ? Effect.succeed(0) : refuse("removeRange"),
    removeTag: p.removeTag && (() => ignore ? Effect.succeed(0) : refuse("removeTag")),
    gate: Wrapper.inherit,
    withTransaction: Wrapper.inherit,
    transaction: Wrapper.inherit,
    leases: Wrapper.inherit,
    check: p.check &&
      ((options) => fixes(options) ? (ignore ? p.check!(withoutFix(options)) : refuse("check")) : p.check!(options))
  })
}

const build = (store: Service, ignore: boolean): Service => {
  const skip = <A>(method: string, key: unknown, nothing: A): Effect.Effect<A, KeyValueStoreError> =>
    ignore ? Effect.succeed(nothing) : refuse(method, key)
  return Wrapper.service(store, {
    backend: Wrapper.inherit,
    capabilities: Wrapper.inherit,
    separator: Wrapper.inherit,
    primitives: primitivesOf(store.primitives, ignore),
    get: Wrapper.inherit,
    getString: Wrapper.inherit,
    getOrFail: Wrapper.inherit,
    getEntry: Wrapper.inherit,
    set: (key) => skip("set", key, undefined),
    has: Wrapper.inherit,
    remove: (key) => skip("remove", key, false),
    pop: (key) => skip("pop", key, Option.none()),
    add: (key) => skip("add", key, false),
    touch: (key) => skip("touch", key, false),
    ttl: Wrapper.inherit,
    setMetadata: (key) => skip("setMetadata", key, false),
    increment: (key) => refuse("increment", key),
    decrement: (key) => refuse("decrement", key),
    compareAndSwap: (key) => skip("compareAndSwap", key, false),
    append: (key) => refuse("append", key),
    update: (key) => refuse("update", key),
    getMany: Wrapper.inherit,
    setMany: () => skip("setMany", undefined, undefined),
    removeMany: () => skip("removeMany", undefined, 0),
    keys: Wrapper.inherit,
    entries: Wrapper.inherit,
    getPattern: Wrapper.inherit,
    countPattern: Wrapper.inherit,
    removePattern: () => skip("removePattern", undefined, 0),
    removeTag: () => skip("removeTag", undefined, 0),
    expire: skip("expire", undefined, 0),
    clear: skip("clear", undefined, undefined),
    size: Wrapper.inherit,
    volume: Wrapper.inherit,
    stats: Wrapper.inherit,
    resetStats: Wrapper.inherit,
    withTransaction: Wrapper.inherit,
    transaction: Wrapper.inherit,
    lock: Wrapper.inherit,
    withLock: Wrapper.inherit,
    check: (options) =>
      Effect.suspend(() =>
        !fixes(options)
          ? store.check(options)
          : ignore
          ? store.check(withoutFix(options))
          : refuse("check")
      )
  })
}

const checkOptions = (options: unknown): "fail" | "ignore" | InvalidArgument => {
  const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "ReadOnly", argument, reason })
  if (options === undefined) return "fail"
  if (typeof options !== "object" || options === null) return invalid("options", "expected an object")
  const onWrite = (options as Options).onWrite
  if (onWrite === undefined || onWrite === "fail" || onWrite === "ignore") return onWrite ?? "fail"
  return invalid("onWrite", `expected "fail" or "ignore", got ${JSON.stringify(String(onWrite))}`)
}

/**
 * The read-only store over `store`: reads pass, writes fail with `ReadOnlyViolation` (or succeed without effect with
 * `onWrite: "ignore"`; see `Options`). A write is refused before its arguments are looked at, and the store is left
 * exactly as it was. Through a store built over this one's primitives (a namespace), writes are refused as well, by
 * the primitive they reach (the error then names the namespace's full key); there, under `"ignore"`, the
 * read-modify-write operations (`pop`, `add`, `setMetadata`, counters, `compareAndSwap`, `append`, `update`) fail with
 * `ReadOnlyViolation` too.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore, ReadOnly } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* ReadOnly.make(yield* KeyValueStore.KeyValueStore)
 *   yield* store.get("a") // passes
 *   yield* store.set("a", "1") // fails with ReadOnlyViolation
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: Service, options?: Options): Effect.Effect<Service, InvalidArgument> =>
  Effect.suspend(() => {
    const mode = checkOptions(options)
    return typeof mode === "string" ? Effect.succeed(build(store, mode === "ignore")) : Effect.fail(mode)
  })

/**
 * `store` under a type with no writing member (`ReadOnlyStore`): what to hand to code that must only read. At runtime
 * it is the read-only store with `onWrite: "fail"`, so a cast back to `Service` cannot write either.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore, ReadOnly } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const reader = ReadOnly.view(yield* KeyValueStore.KeyValueStore)
 *   return yield* reader.get("a") // reader.set does not exist
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const view = (store: Service): ReadOnlyStore => build(store, false)

/**
 * The read-only store as a layer over the `KeyValueStore` in context.
 *
 * @example
 * ```ts
 * import { KeyValueStore, MemoryStore, ReadOnly } from "effect-kv"
 *
 * const ReplicaLive = MemoryStore.layer().pipe(KeyValueStore.wrap(ReadOnly.layer({ onWrite: "fail" })))
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
 * import { ReadOnly } from "effect-kv"
 *
 * ReadOnly.layerConfig({ onWrite: Config.literal("fail", "ignore")("KV_ON_WRITE") })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<KeyValueStore, InvalidArgument | ConfigError.ConfigError, KeyValueStore> =>
  Wrapper.layerConfig(config, layer)
