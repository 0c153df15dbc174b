/**
 * `Fallback`: a store that answers from a secondary store while its primary is unavailable. An operation runs on the
 * primary; when the primary fails with an availability failure (`BackendError`, `Busy`, `Timeout`), the same
 * operation runs on the secondary and its answer (value, miss or error) is the result. Everything else the primary
 * answers stands: a miss is an answer and never falls through, and a bad argument or a contract error (`InvalidKey`,
 * `InvalidArgument`, `NotANumber`, `LockLost`, ...) never falls through either.
 *
 * - Writes: with `writes: "primary"` (the default) a write goes to the primary only, and to the secondary only when
 *   the primary is unavailable for it (nothing reconciles the two afterwards: a write served by the secondary during
 *   an outage is not copied to the primary once it is back). With `writes: "both"`, every write that succeeded on the
 *   primary is then applied to the secondary too, so the secondary is a warm copy to read from during an outage.
 *   The caller waits for both. The primary's success stands whatever happens on the secondary: a failed copy is
 *   logged (warning) and counted (`servedBy(store).mirrorFailures`), and the secondary may then hold an older value
 *   until the next write of that key. Read-modify-write operations copy their outcome, not the call: `add`,
 *   `compareAndSwap`, `update` and `pop` write or remove the result, `increment`, `decrement`, `append`, `touch` and
 *   `setMetadata` copy the primary's entry (one more read on the primary).
 * - Streams (`keys`, `entries`, `getPattern`): a stream that fails on the primary continues on the secondary after
 *   the last key it delivered (in UTF-8 byte order when both stores order their keys; otherwise by remembering the
 *   keys delivered, which then costs memory proportional to them), so no key is delivered twice.
 * - Transactions and locks are the primary's (`withTransaction`, `transaction`, `lock`, `withLock`), as are
 *   `check` and `volume`. Inside a transaction region of this store nothing falls through (a write outside the
 *   region would survive its rollback); nor does a fenced write (`fence`): its lock lives on the primary.
 * - Who served: each operation annotates the current span with `kv.served_by` (`"primary"` or `"secondary"`),
 *   counts in the `effect_kv_fallback_served` counter (tags `store` and `operation`), and in the store's own
 *   snapshot, `servedBy(store)`. `stats` is the field-wise sum of both stores' statistics (with `writes: "both"`, a
 *   write counts once per store that applied it); `resetStats` resets both and the snapshot.
 * - Capabilities: the primary's, except `persistent`, `crossProcess` and `orderedKeys`, which hold only when both
 *   stores have them, and `eviction`, when either evicts. The secondary must offer the data features the primary
 *   offers (`expiry`, `tags`, `metadata`, `enumeration`) and the same key separator, otherwise building fails with
 *   `InvalidArgument`: an operation accepted by the primary could not fall through.
 *
 * The store's primitives carry the same fallback, so a namespace built over this store keeps it.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Wrapper from "../internal/wrapper.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import { InvalidArgument } from "../KeyValueStoreError.js"

/**
 * Options of a fallback store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * `"primary"` (default): writes go to the primary, and to the secondary only while the primary is unavailable.
   * `"both"`: every write that succeeded on the primary is also applied to the secondary.
   */
  readonly writes?: "primary" | "both" | undefined
}

/**
 * Which store answered an operation.
 *
 * @since 0.1.0
 * @category models
 */
export type Server = "primary" | "secondary"

/**
 * How many operations each store of a fallback store answered since it was built (or `resetStats`), and how many
 * copies of a write to the secondary (`writes: "both"`) failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServedBy {
  readonly primary: number
  readonly secondary: number
  readonly mirrorFailures: number
}

/**
 * The counter of operations by the store that answered them, tagged `store` (`primary` or `secondary`) and
 * `operation` (the method, or the primitive for a store built over this one's primitives).
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Fallback } from "effect-kv"
 *
 * const secondaryReads = Metric.value(Fallback.served.pipe(Metric.tagged("store", "secondary"), Metric.tagged("operation", "get")))
 * ```
 * @since 0.1.0
 * @category models
 */
export const served: Metric.Metric.Counter<number> = Metric.counter("effect_kv_fallback_served", {
  description: "operations of a Fallback store by the store that answered them",
  incremental: true
})

/**
 * Whether a failure means the store is unavailable (`BackendError`, `Busy`, `Timeout`): the failures that fall
 * through to the secondary.
 *
 * @example
 * ```ts
 * import { Fallback, KeyValueStoreError } from "effect-kv"
 *
 * Fallback.isUnavailable(new KeyValueStoreError.Timeout({ method: "get", millis: 10 })) // true
 * ```
 * @since 0.1.0
 * @category refinements
 */
export const isUnavailable = (error: KeyValueStoreError): boolean =>
  error._tag === "BackendError" || error._tag === "Busy" || error._tag === "Timeout"

interface Counts {
  primary: number
  secondary: number
  mirrorFailures: number
}

const registry = new WeakMap<object, Counts>()

/**
 * The snapshot of who served the operations of a fallback store: `none` for a store `make` did not build (a
 * namespace over a fallback store counts in the snapshot of the store it was built over).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fallback, KeyValueStore } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* KeyValueStore.KeyValueStore
 *   yield* store.get("k")
 *   return yield* Fallback.servedBy(store) // Option.some({ primary: 1, secondary: 0, mirrorFailures: 0 })
 * })
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const servedBy = (store: KeyValueStore.Service): Effect.Effect<Option.Option<ServedBy>> =>
  Effect.sync(() => Option.map(Option.fromNullable(registry.get(store)), (counts) => ({ ...counts })))

// The span `Effect.annotateCurrentSpan` annotates: the current one, skipping those that disable propagation.
const spanOf = (context: Context.Context<never>): Tracer.Span | undefined => {
  let span = context.unsafeMap.get(Tracer.ParentSpan.key) as Tracer.AnySpan | undefined
  while (span !== undefined && Context.get(span.context, Tracer.DisablePropagation)) {
    span = span._tag === "Span" ? Option.getOrUndefined(span.parent) : undefined
  }
  return span !== undefined && span._tag === "Span" ? span : undefined
}

// Both handlers of a match, given as arguments: no object literal of functions built (and named) per call.
const match = <A, E, R, A2, E2, R2, A3, E3, R3>(
  self: Effect.Effect<A, E, R>,
  onFailure: (error: E) => Effect.Effect<A2, E2, R2>,
  onSuccess: (a: A) => Effect.Effect<A3, E3, R3>
): Effect.Effect<A2 | A3, E2 | E3, R | R2 | R3> => Effect.matchEffect(self, { onFailure, onSuccess })

// The fallback stores whose transaction region the fiber is in: nothing of theirs falls through there.
const regions = FiberRef.unsafeMake<ReadonlySet<object>>(new Set())

const enter = (token: object) => (set: ReadonlySet<object>): ReadonlySet<object> => new Set(set).add(token)

// UTF-8 byte order: code point order, which UTF-16 comparison breaks for characters above U+FFFF.
const afterKey = (key: string, last: string): boolean => Buffer.compare(Buffer.from(key), Buffer.from(last)) > 0

// A batch argument that a one-shot iterator could not give twice: every iteration replays what earlier ones pulled
// from the source, then pulls on. Arrays and non-iterables are passed as they are (the store checks them).
const replayable = <A>(source: Iterable<A>): Iterable<A> => {
  if (Array.isArray(source) || typeof source !== "object" || source === null) return source
  if (typeof (source as Partial<Iterable<A>>)[Symbol.iterator] !== "function") return source
  const pulled: Array<A> = []
  let iterator: Iterator<A> | undefined
  let done = false
  return {
    *[Symbol.iterator]() {
      let i = 0
      for (;;) {
        if (i < pulled.length) {
          yield pulled[i++]!
          continue
        }
        if (done) return
        iterator ??= source[Symbol.iterator]()
        const next = iterator.next()
        if (next.done) {
          done = true
          return
        }
        pulled.push(next.value)
      }
    }
  }
}

// Reads a call's fence only on the fall-through path (the primary already failed): a fenced write stays on the
// primary. An options argument that cannot be read counts as fenced (the primary's error stands).
const isFenced = (options: unknown): boolean => {
  try {
    return typeof options === "object" && options !== null && (options as { fence?: unknown }).fence !== undefined
  } catch {
    return true
  }
}

const withoutFence = <O extends KeyValueStore.FenceOptions>(options: O | undefined): O | undefined =>
  options === undefined || typeof options !== "object" || options === null || options.fence === undefined
    ? options
    : { ...options, fence: undefined }

const checkPair = (primary: KeyValueStore.Service, secondary: KeyValueStore.Service, options: unknown) => {
  const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "fallback", argument, reason })
  if (!KeyValueStore.isKeyValueStore(primary)) return invalid("primary", "expected a KeyValueStore")
  if (!KeyValueStore.isKeyValueStore(secondary)) return invalid("secondary", "expected a KeyValueStore")
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    return invalid("options", "expected an object")
  }
  const writes = (options as Options | undefined)?.writes
  if (writes !== undefined && writes !== "primary" && writes !== "both") {
    return invalid("writes", `expected "primary" or "both", got ${String(writes)}`)
  }
  if (primary.separator !== secondary.separator) {
    return invalid(
      "secondary",
      `its key separator ${JSON.stringify(secondary.separator)} is not the primary's ${
        JSON.stringify(primary.separator)
      }`
    )
  }
  for (const feature of ["expiry", "tags", "metadata", "enumeration"] as const) {
    if (primary.capabilities[feature] && !secondary.capabilities[feature]) {
      return invalid("secondary", `it lacks ${feature}, which the primary offers`)
    }
  }
  return undefined
}

/**
 * What a fallback store over `primary` and `secondary` can do (see the module comment).
 *
 * @example
 * ```ts
 * import { Fallback, MemoryStore, SqliteStore } from "effect-kv"
 *
 * Fallback.capabilities(SqliteStore.capabilities, MemoryStore.capabilities).persistent // false
 * ```
 * @since 0.1.0
 * @category models
 */
export const capabilities = (
  primary: KeyValueStore.Capabilities,
  secondary: KeyValueStore.Capabilities
): KeyValueStore.Capabilities => ({
  ...primary,
  persistent: primary.persistent && secondary.persistent,
  crossProcess: primary.crossProcess && secondary.crossProcess,
  orderedKeys: primary.orderedKeys && secondary.orderedKeys,
  eviction: primary.eviction || secondary.eviction
})

const build = (
  primary: KeyValueStore.Service,
  secondary: KeyValueStore.Service,
  options: Options | undefined
): KeyValueStore.Service => {
  const both = options?.writes === "both"
  const token = {}
  const counts: Counts = { primary: 0, secondary: 0, mirrorFailures: 0 }
  const ordered = primary.capabilities.orderedKeys && secondary.capabilities.orderedKeys

  // The tags of each server × operation, one array each, so the counter's hook is found by identity (no hashing).
  const labels = { primary: new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>(), secondary: new Map() }
  const labelsOf = (server: Server, method: string): ReadonlyArray<MetricLabel.MetricLabel> => {
    let list = labels[server].get(method)
    if (list === undefined) {
      list = [MetricLabel.make("store", server), MetricLabel.make("operation", method)]
      labels[server].set(method, list)
    }
    return list
  }
  // What `Effect.annotateCurrentSpan` and `Metric.increment` on the tagged counter do, without their effects: the span
  // (if any) is read from the fiber's context, and the fiber's metric tags are added only when it has some.
  const noted = (fiber: Fiber.RuntimeFiber<unknown, unknown>, server: Server, method: string): void => {
    counts[server]++
    const span = spanOf(fiber.getFiberRef(FiberRef.currentContext))
    if (span !== undefined) span.attribute("kv.served_by", server)
    const tags = fiber.getFiberRef(FiberRef.currentMetricLabels)
    const own = labelsOf(server, method)
    served.unsafeUpdate(1, tags.length === 0 ? own : Arr.union(tags, own))
  }
  const note = (server: Server, method: string): Effect.Effect<void> =>
    Effect.withFiberRuntime((fiber) => {
      noted(fiber, server, method)
      return Effect.void
    })

  // Whether a failure of the primary falls through: an availability failure, outside this store's transactions.
  const fallsThrough = (error: KeyValueStoreError): Effect.Effect<boolean> =>
    isUnavailable(error)
      ? Effect.map(FiberRef.get(regions), (inside) => !inside.has(token))
      : Effect.succeed(false)

  const serve = <A>(
    method: string,
    first: Effect.Effect<A, KeyValueStoreError>,
    second: () => Effect.Effect<A, KeyValueStoreError>,
    fenced: () => boolean = () => false
  ): Effect.Effect<A, KeyValueStoreError> =>
    match(first, (error) =>
      Effect.flatMap(fallsThrough(error), (falls) =>
        falls && !fenced()
          ? Effect.zipRight(note("secondary", method), Effect.suspend(second))
          : Effect.zipRight(note("primary", method), Effect.fail(error))), (a) =>
      Effect.withFiberRuntime((fiber) => {
        noted(fiber, "primary", method)
        return Effect.succeed(a)
      }))

  // A write: served as above, then (with `writes: "both"`, when the primary served it) copied to the secondary.
  const write = <A>(
    method: string,
    first: Effect.Effect<A, KeyValueStoreError>,
    second: () => Effect.Effect<A, KeyValueStoreError>,
    mirror: (a: A) => Effect.Effect<unknown, KeyValueStoreError>,
    fenced: () => boolean = () => false
  ): Effect.Effect<A, KeyValueStoreError> => {
    if (!both) return serve(method, first, second, fenced)
    let servedByPrimary = false
    return serve(
      method,
      Effect.tap(first, () => {
        servedByPrimary = true
      }),
      second,
      fenced
    ).pipe(
      Effect.tap((a) => servedByPrimary ? copy(method, mirror(a)) : Effect.void)
    )
  }
  const copy = (method: string, self: Effect.Effect<unknown, KeyValueStoreError>): Effect.Effect<void> =>
    Effect.catchAll(Effect.asVoid(self), (error) =>
      Effect.zipRight(
        Effect.sync(() => {
          counts.mirrorFailures++
        }),
        Effect.logWarning(`effect-kv Fallback: copying ${method} to the secondary store failed`, error)
      ))

  // Copies the primary's entry (or its absence) to the secondary.
  const copyEntry = (key: string): Effect.Effect<unknown, KeyValueStoreError> =>
    Effect.flatMap(primary.getEntry(key), (found) => {
      if (found._tag === "None") return secondary.remove(key)
      const entry = found.value
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const expiresAt = Option.getOrUndefined(entry.expiresAt)
        if (expiresAt !== undefined && expiresAt <= now) return secondary.remove(key)
        const metadata = Option.getOrUndefined(entry.metadata)
        return secondary.set(key, entry.value, {
          ttl: expiresAt === undefined ? undefined : Duration.millis(expiresAt - now),
          ...(entry.tags.length > 0 ? { tags: entry.tags } : {}),
          ...(metadata !== undefined ? { metadata } : {})
        })
      })
    })

  const stream = <A>(
    method: string,
    first: Stream.Stream<A, KeyValueStoreError>,
    second: () => Stream.Stream<A, KeyValueStoreError>,
    keyOf: (a: A) => string
  ): Stream.Stream<A, KeyValueStoreError> =>
    Stream.suspend(() => {
      let last: string | undefined
      const seen = ordered ? undefined : new Set<string>()
      const tracked = Stream.map(first, (a) => {
        const key = keyOf(a)
        last = key
        seen?.add(key)
        return a
      })
      const rest = () => {
        const after = last
        const all = second()
        if (seen !== undefined) return Stream.filter(all, (a) => !seen.has(keyOf(a)))
        return after === undefined ? all : Stream.filter(all, (a) => afterKey(keyOf(a), after))
      }
      return Stream.catchAll(
        Stream.concat(tracked, Stream.execute(note("primary", method))),
        (error) =>
          Stream.unwrap(Effect.map(fallsThrough(error), (falls) =>
            falls
              ? Stream.concat(Stream.execute(note("secondary", method)), Stream.suspend(rest))
              : Stream.concat(Stream.execute(note("primary", method)), Stream.fail(error))))
      )
    })

  const entryKey = (entry: readonly [string, Uint8Array]) => entry[0]
  const markRegion = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.isEffect(effect) ? Effect.locallyWith(effect, regions, enter(token)) : effect
  const markScope = Effect.locallyScopedWith(regions, enter(token))

  const p = primary.primitives
  const s = secondary.primitives
  const primitives = Wrapper.mapPrimitives(p, fallbackPrimitives(p, s, { serve, write, markRegion, markScope }))

  const store = Wrapper.service(primary, {
    backend: Wrapper.inherit,
    capabilities: capabilities(primary.capabilities, secondary.capabilities),
    separator: Wrapper.inherit,
    primitives,
    get: (key) => serve("get", primary.get(key), () => secondary.get(key)),
    getString: (key) => serve("getString", primary.getString(key), () => secondary.getString(key)),
    getOrFail: (key) => serve("getOrFail", primary.getOrFail(key), () => secondary.getOrFail(key)),
    getEntry: (key) => serve("getEntry", primary.getEntry(key), () => secondary.getEntry(key)),
    has: (key) => serve("has", primary.has(key), () => secondary.has(key)),
    ttl: (key) => serve("ttl", primary.ttl(key), () => secondary.ttl(key)),
    set: (key, value, options) =>
      write(
        "set",
        primary.set(key, value, options),
        () => secondary.set(key, value, options),
        () => secondary.set(key, value, withoutFence(options)),
        () => isFenced(options)
      ),
    remove: (key, options) =>
      write(
        "remove",
        primary.remove(key, options),
        () => secondary.remove(key, options),
        () => secondary.remove(key),
        () => isFenced(options)
      ),
    pop: (key, options) =>
      write(
        "pop",
        primary.pop(key, options),
        () => secondary.pop(key, options),
        () => secondary.remove(key),
        () => isFenced(options)
      ),
    add: (key, value, options) =>
      write(
        "add",
        primary.add(key, value, options),
        () => secondary.add(key, value, options),
        (wrote) => wrote ? secondary.set(key, value, withoutFence(options)) : Effect.void,
        () => isFenced(options)
      ),
    touch: (key, ttl, options) =>
      write(
        "touch",
        primary.touch(key, ttl, options),
        () => secondary.touch(key, ttl, options),
        () => copyEntry(key),
        () => isFenced(options)
      ),
    setMetadata: (key, metadata, options) =>
      write(
        "setMetadata",
        primary.setMetadata(key, metadata, options),
        () => secondary.setMetadata(key, metadata, options),
        () => copyEntry(key),
        () => isFenced(options)
      ),
    increment: (key, delta, options) =>
      write(
        "increment",
        primary.increment(key, delta, options),
        () => secondary.increment(key, delta, options),
        () => copyEntry(key),
        () => isFenced(options)
      ),
    decrement: (key, delta, options) =>
      write(
        "decrement",
        primary.decrement(key, delta, options),
        () => secondary.decrement(key, delta, options),
        () => copyEntry(key),
        () => isFenced(options)
      ),
    compareAndSwap: (key, expected, next, options) =>
      write(
        "compareAndSwap",
        primary.compareAndSwap(key, expected, next, options),
        () => secondary.compareAndSwap(key, expected, next, options),
        (swapped) =>
          !swapped
            ? Effect.void
            : next._tag === "None"
            ? secondary.remove(key)
            : secondary.set(key, next.value, withoutFence(options)),
        () => isFenced(options)
      ),
    append: (key, value, options) =>
      write(
        "append",
        primary.append(key, value, options),
        () => secondary.append(key, value, options),
        () => copyEntry(key),
        () => isFenced(options)
      ),
    update: (key, f, options) =>
      write(
        "update",
        primary.update(key, f, options),
        () => secondary.update(key, f, options),
        (result) =>
          result._tag === "None"
            ? secondary.remove(key)
            : secondary.set(key, result.value, withoutFence(options)),
        () => isFenced(options)
      ),
    getMany: (keys) =>
      Effect.suspend(() => {
        const again = replayable(keys)
        return serve("getMany", primary.getMany(again), () => secondary.getMany(again))
      }),
    setMany: (entries, options) =>
      Effect.suspend(() => {
        const again = replayable(entries)
        return write(
          "setMany",
          primary.setMany(again, options),
          () => secondary.setMany(again, options),
          () => secondary.setMany(again, withoutFence(options)),
          () => isFenced(options)
        )
      }),
    removeMany: (keys, options) =>
      Effect.suspend(() => {
        const again = replayable(keys)
        return write(
          "removeMany",
          primary.removeMany(again, options),
          () => secondary.removeMany(again, options),
          () => secondary.removeMany(again),
          () => isFenced(options)
        )
      }),
    keys: (pattern) => stream("keys", primary.keys(pattern), () => secondary.keys(pattern), (key) => key),
    entries: (pattern) => stream("entries", primary.entries(pattern), () => secondary.entries(pattern), entryKey),
    getPattern: (pattern) =>
      stream("getPattern", primary.getPattern(pattern), () => secondary.getPattern(pattern), entryKey),
    countPattern: (pattern) =>
      serve("countPattern", primary.countPattern(pattern), () => secondary.countPattern(pattern)),
    removePattern: (pattern) =>
      write(
        "removePattern",
        primary.removePattern(pattern),
        () => secondary.removePattern(pattern),
        () => secondary.removePattern(pattern)
      ),
    removeTag: (tag) =>
      write("removeTag", primary.removeTag(tag), () => secondary.removeTag(tag), () => secondary.removeTag(tag)),
    expire: write("expire", primary.expire, () => secondary.expire, () => secondary.expire),
    clear: write("clear", primary.clear, () => secondary.clear, () => secondary.clear),
    size: serve("size", primary.size, () => secondary.size),
    volume: Wrapper.inherit,
    stats: Effect.zipWith(primary.stats, secondary.stats, (a, b) => ({
      hits: a.hits + b.hits,
      misses: a.misses + b.misses,
      writes: a.writes + b.writes,
      removes: a.removes + b.removes,
      evictions: a.evictions + b.evictions,
      expirations: a.expirations + b.expirations
    })),
    resetStats: Effect.zipRight(
      Effect.zipRight(primary.resetStats, secondary.resetStats),
      Effect.sync(() => {
        counts.primary = counts.secondary = counts.mirrorFailures = 0
      })
    ),
    withTransaction: (effect) => primary.withTransaction(markRegion(effect)),
    transaction: Effect.zipRight(primary.transaction, markScope),
    lock: Wrapper.inherit,
    withLock: Wrapper.inherit,
    check: Wrapper.inherit
  })
  registry.set(store, counts)
  return store
}

interface Serving {
  readonly serve: <A>(
    method: string,
    first: Effect.Effect<A, KeyValueStoreError>,
    second: () => Effect.Effect<A, KeyValueStoreError>,
    fenced?: () => boolean
  ) => Effect.Effect<A, KeyValueStoreError>
  readonly write: <A>(
    method: string,
    first: Effect.Effect<A, KeyValueStoreError>,
    second: () => Effect.Effect<A, KeyValueStoreError>,
    mirror: (a: A) => Effect.Effect<unknown, KeyValueStoreError>,
    fenced?: () => boolean
  ) => Effect.Effect<A, KeyValueStoreError>
  readonly markRegion: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly markScope: Effect.Effect<void, never, Scope.Scope>
}

// The primitives of a fallback store: every effectful primitive of the primary falls through to the secondary's (or
// to the secondary's required primitives where it lacks an optional one), and writes are copied with `writes:
// "both"`. A fenced primitive write stays on the primary. The synchronous fast paths are left out (they cannot fall
// through); transactions, locks, `volume`, `check` and the counters are the primary's.
const fallbackPrimitives = (
  p: KeyValueStore.Primitives,
  s: KeyValueStore.Primitives,
  { markRegion, markScope, serve, write }: Serving
): Wrapper.PrimitiveDecisions => {
  const sGetMany = (keys: ReadonlyArray<string>, now: number) =>
    s.getMany ? s.getMany(keys, now) : Effect.forEach(keys, (key) => s.get(key, now))
  const sSetMany = (entries: ReadonlyArray<KeyValueStore.WriteEntry>, now: number) =>
    s.setMany
      ? s.setMany(entries, now)
      : Effect.forEach(entries, (entry) => s.set(entry.key, entry.value, entry.write, now), { discard: true })
  const sRemoveMany = (keys: ReadonlyArray<string>, now: number) =>
    s.removeMany
      ? s.removeMany(keys, now)
      : Effect.reduce(keys, 0, (n, key) => Effect.map(s.remove(key, now), (removed) => removed ? n + 1 : n))
  const sHas = (key: string, now: number) => s.has ? s.has(key, now) : Effect.map(s.get(key, now), Option.isSome)
  const sExpiresAt = (key: string, now: number) =>
    s.expiresAt
      ? s.expiresAt(key, now)
      : Effect.map(s.getEntry(key, now), Option.map((entry) => Option.getOrNull(entry.expiresAt)))
  const sTouch = (key: string, expiresAt: number | null, now: number) =>
    s.touch ?
      s.touch(key, expiresAt, now) :
      s.modify(key, now, (current): readonly [boolean, KeyValueStore.Mutation] =>
        current._tag === "None"
          ? [false, { _tag: "Keep" }]
          : [true, {
            _tag: "Write",
            value: current.value.value,
            write: { ...KeyValueStore.entryWrite(current.value), expiresAt }
          }])
  // An optional primitive the secondary lacks: the primary's failure stands.
  const orPrimary = <Args extends Array<any>, A>(
    method: string,
    first: ((...args: Args) => Effect.Effect<A, KeyValueStoreError>) | undefined,
    second: ((...args: Args) => Effect.Effect<A, KeyValueStoreError>) | undefined,
    copy: boolean
  ): ((...args: Args) => Effect.Effect<A, KeyValueStoreError>) | undefined =>
    first === undefined ? undefined : (...args: Args) => {
      const primaryCall = first(...args)
      if (second === undefined) return primaryCall
      return copy
        ? write(method, primaryCall, () => second(...args), () => second(...args))
        : serve(method, primaryCall, () => second(...args))
    }
  const modify: KeyValueStore.Primitives["modify"] = (key, now, f, fence) => {
    let decided: KeyValueStore.Mutation = { _tag: "Keep" }
    const recorded: typeof f = (current) => {
      const result = f(current)
      decided = result[1]
      return result
    }
    return write(
      "modify",
      p.modify(key, now, recorded, fence),
      () => s.modify(key, now, f),
      () =>
        decided._tag === "Write"
          ? s.set(key, decided.value, decided.write, now)
          : decided._tag === "Remove"
          ? s.remove(key, now)
          : Effect.void,
      () => fence !== undefined
    )
  }
  return {
    backend: Wrapper.inherit,
    capabilities: capabilitiesOf(p, s),
    separator: Wrapper.inherit,
    maxKeyBytes: Wrapper.inherit,
    maxValueBytes: Wrapper.inherit,
    get: (key, now) => serve("get", p.get(key, now), () => s.get(key, now)),
    getEntry: (key, now) => serve("getEntry", p.getEntry(key, now), () => s.getEntry(key, now)),
    set: (key, value, w, now, fence) =>
      write(
        "set",
        p.set(key, value, w, now, fence),
        () => s.set(key, value, w, now),
        () => s.set(key, value, w, now),
        () => fence !== undefined
      ),
    remove: (key, now, fence) =>
      write(
        "remove",
        p.remove(key, now, fence),
        () => s.remove(key, now),
        () => s.remove(key, now),
        () => fence !== undefined
      ),
    modify,
    expire: (now) => write("expire", p.expire(now), () => s.expire(now), () => s.expire(now)),
    clear: write("clear", p.clear, () => s.clear, () => s.clear),
    size: (now) => serve("size", p.size(now), () => s.size(now)),
    has: p.has && ((key, now) => serve("has", p.has!(key, now), () => sHas(key, now))),
    unsafe: undefined,
    getMany: p.getMany && ((keys, now) => serve("getMany", p.getMany!(keys, now), () => sGetMany(keys, now))),
    setMany: p.setMany &&
      ((entries, now, fence) =>
        write(
          "setMany",
          p.setMany!(entries, now, fence),
          () => sSetMany(entries, now),
          () => sSetMany(entries, now),
          () => fence !== undefined
        )),
    removeMany: p.removeMany &&
      ((keys, now, fence) =>
        write(
          "removeMany",
          p.removeMany!(keys, now, fence),
          () => sRemoveMany(keys, now),
          () => sRemoveMany(keys, now),
          () => fence !== undefined
        )),
    expiresAt: p.expiresAt && ((key, now) => serve("expiresAt", p.expiresAt!(key, now), () => sExpiresAt(key, now))),
    touch: p.touch &&
      ((key, expiresAt, now, fence) =>
        write(
          "touch",
          p.touch!(key, expiresAt, now, fence),
          () => sTouch(key, expiresAt, now),
          () => sTouch(key, expiresAt, now),
          () => fence !== undefined
        )),
    volume: Wrapper.inherit,
    counters: Wrapper.inherit,
    resetCounters: Wrapper.inherit,
    scanKeys: orPrimary("scanKeys", p.scanKeys, s.scanKeys, false),
    scanEntries: orPrimary("scanEntries", p.scanEntries, s.scanEntries, false),
    countRange: orPrimary("countRange", p.countRange, s.countRange, false),
    removeRange: orPrimary("removeRange", p.removeRange, s.removeRange, true),
    removeTag: orPrimary("removeTag", p.removeTag, s.removeTag, true),
    gate: Wrapper.inherit,
    withTransaction: p.withTransaction && ((effect) => p.withTransaction!(markRegion(effect))),
    transaction: p.transaction && Effect.zipRight(p.transaction, markScope),
    leases: Wrapper.inherit,
    check: Wrapper.inherit
  }
}

const capabilitiesOf = (p: KeyValueStore.Primitives, s: KeyValueStore.Primitives): KeyValueStore.Capabilities =>
  capabilities(p.capabilities, s.capabilities)

/**
 * A fallback store over `primary` and `secondary` (see the module comment). Fails with `InvalidArgument` when the
 * secondary cannot stand in for the primary (another key separator, a data feature it lacks) or for invalid options.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Fallback, MemoryStore, SqliteStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const primary = yield* SqliteStore.make({ filename: "data/kv.db" })
 *   const secondary = yield* MemoryStore.make()
 *   const store = yield* Fallback.make(primary, secondary, { writes: "both" })
 *   yield* store.set("a", "1") // on both
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  primary: KeyValueStore.Service,
  secondary: KeyValueStore.Service,
  options?: Options
): Effect.Effect<KeyValueStore.Service, InvalidArgument> =>
  Effect.suspend(() => {
    const invalid = checkPair(primary, secondary, options)
    return invalid !== undefined ? Effect.fail(invalid) : Effect.succeed(build(primary, secondary, options))
  })

/**
 * The layer form: needs the primary store and gives the fallback store over it. The secondary store is built from
 * `secondary` privately, in the layer's scope (it is not taken from the context, and nothing else sees it).
 *
 * @example
 * ```ts
 * import { Fallback, KeyValueStore, MemoryStore, RedisStore } from "effect-kv"
 *
 * const store = RedisStore.layer({ url: "redis://127.0.0.1:6379", commandTimeout: "500 millis" }).pipe(
 *   KeyValueStore.wrap(Fallback.layer(MemoryStore.layer(), { writes: "both" }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  secondary: Layer.Layer<KeyValueStore.KeyValueStore, E, R>,
  options?: Options
): Layer.Layer<KeyValueStore.KeyValueStore, E | InvalidArgument, R | KeyValueStore.KeyValueStore> =>
  Layer.scoped(
    KeyValueStore.KeyValueStore,
    Effect.gen(function*() {
      const primary = yield* KeyValueStore.KeyValueStore
      const scope: Scope.Scope = yield* Effect.scope
      const context = yield* Layer.buildWithScope(secondary, scope)
      const second = Context.get(context, KeyValueStore.KeyValueStore)
      const invalid = checkPair(primary, second, options)
      if (invalid !== undefined) return yield* invalid
      return build(primary, second, options)
    })
  )
