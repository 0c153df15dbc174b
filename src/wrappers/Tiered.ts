/**
 * `Tiered`: a two-level cache, a private in-memory L1 (a `MemoryStore`, bounded by `maxEntries`/`maxSize` with LRU
 * eviction, and by its own ttl cap) in front of any store (the L2, the authority).
 *
 * - **Reads** (`get`, `getString`, `getOrFail`, `has`) try the L1, then the L2; a value read from the L2 fills the L1
 *   with the smaller of the L1's ttl cap and the entry's remaining ttl (the L2 entry is read with its expiry). `getEntry`
 *   always reads the L2 (the bookkeeping lives there) and fills the L1. `getMany` answers the keys the L1 holds and
 *   reads the others from the L2 in one batch, without filling the L1 (a batch read carries no expiries). There is
 *   no negative cache: a miss reads the L2 every time. `ttl` and enumeration (`keys`, `entries`, patterns, `size`)
 *   are the L2's.
 * - **Writes** go to the L2 first; then `set` and `setMany` put the new value in the L1 (with the same ttl rule), and
 *   every other write drops its keys from the L1: `remove`, `pop`, `add`, `touch`, `setMetadata`, and the atomic
 *   operations (`increment`, `decrement`, `compareAndSwap`, `append`, `update`), which run on the L2 alone. A write
 *   that fails (on the L2) drops its keys too: its outcome is unknown. `removePattern` drops the matching key range
 *   from the L1; `removeTag`, `clear` and `check({ fix: true })` empty the whole L1 (it does not know the L2's tags or
 *   repairs); `expire` also removes the L1's expired entries (an L1 entry never outlives its L2 entry).
 * - **Transactions** are the L2's. Inside a region of this store, reads and writes bypass the L1 (no read from it, no
 *   fill: nothing uncommitted reaches it), writes drop their keys from it at once, and when the outermost region ends
 *   (commit, rollback or interruption) the keys it wrote are dropped again and announced on the bus. **Locks**,
 *   `volume` and `check` are the L2's.
 * - **Statistics**: `stats` is the store's own count of its operations (an L1 hit is a hit) plus the L2's evictions
 *   and expirations; `Tiered.info(store)` gives the L1's own figures (hits, misses, fills, entries) and the bus's state.
 * - **A value read before a concurrent write never lands in the L1 after it**: every fill checks that nothing
 *   invalidated its key since its read of the L2 began.
 *
 * **Cross-instance invalidation** (`invalidation: Tiered.redisBus(...)` or `Tiered.postgresBus(...)`): every write
 * publishes the keys it changed (a key range for `removePattern`, "everything" for `clear` and `removeTag`), and every
 * other instance on the channel drops them from its L1 (an instance ignores its own messages: it dropped its keys
 * already). The write returns once its message was handed to the server; if the bus cannot take it, the message is
 * queued (bounded: beyond 10 000 keys it becomes "everything") and sent as soon as the bus is back, and a warning is
 * logged. While the bus is disconnected the instance neither reads nor fills its L1 (every read goes to the L2), and
 * it empties its L1 when it loses the bus and again when it is back, since messages may have been missed. A loss is
 * seen when a connection closes, and, for a link that stops carrying anything without closing (a partition), by a
 * heartbeat: the instance pings itself through the server every `heartbeat` (default 1 s), and a ping not back by the
 * next one (or a publish failing after the command timeout) ends the connection. So an L1 hit is served of a value
 * that another instance changed only during that detection window (at most about a heartbeat plus the command
 * timeout after the link went silent). `make` waits for the first connection and fails with `BackendError` if it
 * cannot be opened; later losses reconnect with a backoff (50 ms doubling to 2 s). Every instance on a channel must
 * see the same keys (the same L2 store, with the same prefix): a message names keys as this store sees them.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import type { RedisOptions } from "ioredis"
import * as crypto from "node:crypto"
import * as MemoryStore from "../backends/MemoryStore.js"
import * as busCodec from "../internal/tiered/bus.js"
import { L1 } from "../internal/tiered/l1.js"
import * as postgres from "../internal/tiered/postgresBus.js"
import * as redis from "../internal/tiered/redisBus.js"
import * as Wrapper from "../internal/wrapper.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { BackendError, KeyValueStoreError } from "../KeyValueStoreError.js"
import { InvalidArgument } from "../KeyValueStoreError.js"

/**
 * The L1's bounds: at most `maxEntries` entries and `maxSize` bytes of values (default 10 000 entries when neither is
 * given; `eviction` says which go first), each kept at most `ttl` (default: the entry's own remaining ttl).
 *
 * @since 0.1.0
 * @category models
 */
export interface L1Options {
  readonly maxEntries?: number | undefined
  readonly maxSize?: number | undefined
  readonly ttl?: Duration.DurationInput | undefined
  /**
   * Which entries leave a full L1 first: the least recently used (`"lru"`, default), the least frequently used
   * (`"lfu"`), or the least recently stored (`"lrs"`: reads do not count, which makes an L1 hit cheaper).
   */
  readonly eviction?: "lru" | "lfu" | "lrs" | undefined
}

/**
 * An invalidation bus (`redisBus`, `postgresBus`): how instances sharing an L2 tell each other what to drop from
 * their L1.
 *
 * @since 0.1.0
 * @category models
 */
export type Bus = busCodec.Bus

/**
 * Options of a tiered store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly l1?: L1Options | undefined
  /** The bus of cross-instance invalidation; without it, writes of other instances are seen once the L1 ttl passes. */
  readonly invalidation?: Bus | undefined
}

/**
 * Options of the Redis bus: the server (`url`, or ioredis options in `redis`), the pub/sub `channel` (every instance
 * sharing the L2 uses the same one), and the timeouts of connecting and of a publish, in milliseconds (default 2000).
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisBusOptions {
  readonly url?: string | Redacted.Redacted<string> | undefined
  readonly channel: string
  readonly redis?: RedisOptions | undefined
  readonly commandTimeout?: number | undefined
  readonly connectTimeout?: number | undefined
  /**
   * How often (milliseconds, default 1000) the instance sends itself a ping through the server: a ping not back by
   * the next one means the bus is lost (a silent partition included), so a loss is noticed within two heartbeats.
   */
  readonly heartbeat?: number | undefined
}

/**
 * Options of the PostgreSQL bus: the server's `url`, the LISTEN/NOTIFY `channel` (at most 63 bytes), and the
 * timeouts of connecting and of a notification, in milliseconds (default 2000).
 *
 * @since 0.1.0
 * @category models
 */
export interface PostgresBusOptions {
  readonly url: string | Redacted.Redacted<string>
  readonly channel: string
  readonly commandTimeout?: number | undefined
  readonly connectTimeout?: number | undefined
  /**
   * How often (milliseconds, default 1000) the instance sends itself a ping through the server: a ping not back by
   * the next one means the bus is lost (a silent partition included), so a loss is noticed within two heartbeats.
   */
  readonly heartbeat?: number | undefined
}

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "tiered", argument, reason })

// A bus whose options are wrong: `make` reports the error.
const invalidBuses = new WeakMap<Bus, InvalidArgument>()

const checkChannel = (channel: unknown, maxBytes: number): InvalidArgument | undefined =>
  typeof channel !== "string" || channel.length === 0
    ? invalid("channel", "expected a non-empty string")
    : Buffer.byteLength(channel, "utf8") > maxBytes
    ? invalid("channel", `longer than ${maxBytes} bytes`)
    : undefined

const checkTimeouts = (options: { commandTimeout?: unknown; connectTimeout?: unknown; heartbeat?: unknown }) => {
  for (const name of ["commandTimeout", "connectTimeout", "heartbeat"] as const) {
    const value = options[name]
    if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value) || value <= 0)) {
      return invalid(name, "expected a positive number of milliseconds")
    }
  }
  return undefined
}

const withCheck = (bus: Bus, error: InvalidArgument | undefined): Bus => {
  if (error !== undefined) invalidBuses.set(bus, error)
  return bus
}

/**
 * The Redis pub/sub bus: a dedicated subscriber connection and a publisher connection (ioredis) per instance. A bad
 * option is reported by `make` as `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { KeyValueStore, RedisStore, Tiered } from "effect-kv"
 *
 * const store = RedisStore.layer({ url: "redis://127.0.0.1:6379" }).pipe(
 *   KeyValueStore.wrap(Tiered.layer({
 *     l1: { maxEntries: 10_000, ttl: "1 minute" },
 *     invalidation: Tiered.redisBus({ url: "redis://127.0.0.1:6379", channel: "app:l1" })
 *   }))
 * )
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const redisBus = (options: RedisBusOptions): Bus => {
  if (typeof options !== "object" || options === null) {
    return withCheck(redis.make({ channel: "" }), invalid("invalidation", "expected an object"))
  }
  return withCheck(redis.make(options), checkChannel(options.channel, 1024) ?? checkTimeouts(options))
}

/**
 * The PostgreSQL LISTEN/NOTIFY bus: a dedicated `pg` client per instance. A bad option is reported by `make` as
 * `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { KeyValueStore, PostgresStore, Tiered } from "effect-kv"
 *
 * const tiered = Tiered.layer({
 *   l1: { maxEntries: 10_000, ttl: "1 minute" },
 *   invalidation: Tiered.postgresBus({ url: "postgres://postgres@127.0.0.1:5432/app", channel: "app_l1" })
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const postgresBus = (options: PostgresBusOptions): Bus => {
  if (typeof options !== "object" || options === null) {
    return withCheck(postgres.make({ url: "", channel: "" }), invalid("invalidation", "expected an object"))
  }
  const error = checkChannel(options.channel, 63) ?? checkTimeouts(options) ??
    (options.url === undefined ? invalid("url", "expected a PostgreSQL URL") : undefined)
  return withCheck(postgres.make(options), error)
}

/**
 * The L1's own figures and the bus's state: `hits`/`misses` of the L1 (a miss then reads the L2), `fills` (values put
 * in the L1), `entries` (live L1 entries now), `connected` (whether the L1 is in use: true without a bus),
 * `received` (messages of other instances applied) and `publishFailures` (messages queued because the bus could not
 * take them).
 *
 * @since 0.1.0
 * @category models
 */
export interface Info {
  readonly hits: number
  readonly misses: number
  readonly fills: number
  readonly entries: number
  readonly connected: boolean
  readonly received: number
  readonly publishFailures: number
}

const registry = new WeakMap<object, () => Effect.Effect<Info>>()

/**
 * The figures of a tiered store's L1 (`none` for a store `make` did not build).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, Tiered } from "effect-kv"
 *
 * const hits = Effect.flatMap(KeyValueStore.KeyValueStore, (store) => Tiered.info(store))
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const info = (store: KeyValueStore.Service): Effect.Effect<Option.Option<Info>> =>
  Effect.suspend(() => {
    const read = registry.get(store)
    return read === undefined ? Effect.succeed(Option.none()) : Effect.map(read(), Option.some)
  })

interface Touched {
  readonly keys: Set<string>
  all: boolean
}

// The regions of tiered stores the fiber is in, by store, with the keys each region wrote.
const regions = FiberRef.unsafeMake<ReadonlyMap<object, Touched>>(new Map())

const defaultTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

const maxPending = 10_000

const checkOptions = (options: unknown): InvalidArgument | { cap: number | undefined; l1: L1Options } => {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    return invalid("options", "expected an object")
  }
  const { invalidation, l1 = {} } = (options ?? {}) as Options
  if (typeof l1 !== "object" || l1 === null) return invalid("l1", "expected an object")
  let cap: number | undefined
  if (l1.ttl !== undefined) {
    const decoded = Duration.decodeUnknown(l1.ttl)
    if (Option.isNone(decoded)) return invalid("l1.ttl", "expected a duration")
    const millis = Duration.toMillis(decoded.value)
    if (!(millis > 0)) return invalid("l1.ttl", "expected a positive duration")
    cap = Number.isFinite(millis) ? Math.max(1, Math.ceil(millis)) : undefined
  }
  if (invalidation !== undefined) {
    if (typeof invalidation !== "object" || invalidation === null || !(busCodec.BusTypeId in invalidation)) {
      return invalid("invalidation", "expected a bus (Tiered.redisBus or Tiered.postgresBus)")
    }
    const error = invalidBuses.get(invalidation)
    if (error !== undefined) return error
  }
  return { cap, l1 }
}

/**
 * A tiered store over `store` (the L2), see the module comment. The L1 lives as long as the scope, and so does the
 * bus connection. Fails with `InvalidArgument` for invalid options, and with `BackendError` when the bus cannot be
 * reached.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqliteStore, Tiered } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const l2 = yield* SqliteStore.make({ filename: "data/kv.db" })
 *   const store = yield* Tiered.make(l2, { l1: { maxEntries: 1000, ttl: "30 seconds" } })
 *   yield* store.set("a", "1") // on the L2, then in the L1
 *   yield* store.get("a") // from the L1
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  store: KeyValueStore.Service,
  options?: Options
): Effect.Effect<KeyValueStore.Service, InvalidArgument | BackendError, Scope.Scope> =>
  Effect.gen(function*() {
    if (!KeyValueStore.isKeyValueStore(store)) return yield* invalid("store", "expected a KeyValueStore")
    const checked = checkOptions(options)
    if (checked instanceof InvalidArgument) return yield* checked
    const { cap, l1: l1Options } = checked
    const bounded = l1Options.maxEntries !== undefined || l1Options.maxSize !== undefined
    const memory = yield* MemoryStore.make({
      maxEntries: bounded ? l1Options.maxEntries : 10_000,
      maxSize: l1Options.maxSize,
      eviction: l1Options.eviction ?? "lru",
      separator: store.separator
    }).pipe(Effect.mapError((error) => invalid(`l1.${error.argument}`, error.reason)))
    const fast = memory.primitives.unsafe!
    const l1 = new L1(memory.primitives, fast, cap)
    const clock = yield* Effect.clock
    const bus = options?.invalidation
    const id = crypto.randomUUID()
    const token = {}
    let regionsOpen = 0
    let connection: busCodec.Connection | undefined
    let received = 0
    let publishFailures = 0
    const pending = { all: false, keys: new Set<string>() }

    const enqueue = (drop: busCodec.Drop): void => {
      if (drop._tag !== "Keys" || pending.all) {
        pending.all = true
        pending.keys.clear()
        return
      }
      for (const key of drop.keys) pending.keys.add(key)
      if (pending.keys.size > maxPending) {
        pending.all = true
        pending.keys.clear()
      }
    }

    const publish = (drop: busCodec.Drop): Effect.Effect<void> => {
      if (bus === undefined) return Effect.void
      if (drop._tag === "Keys" && drop.keys.length === 0) return Effect.void
      const open = connection
      if (open === undefined) {
        enqueue(drop)
        return Effect.void
      }
      return Effect.forEach(busCodec.encode(id, drop, bus.maxPayloadBytes), open.publish, { discard: true }).pipe(
        Effect.catchAll((error) =>
          Effect.zipRight(
            Effect.sync(() => {
              publishFailures++
              enqueue(drop)
            }),
            Effect.logWarning("effect-kv Tiered: the invalidation bus could not take a message; it is queued", error)
          )
        )
      )
    }

    const flush: Effect.Effect<void> = Effect.suspend(() => {
      if (!pending.all && pending.keys.size === 0) return Effect.void
      const drop: busCodec.Drop = pending.all ? { _tag: "All" } : { _tag: "Keys", keys: Array.from(pending.keys) }
      pending.all = false
      pending.keys.clear()
      return publish(drop)
    })

    const within = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Touched | undefined =>
      regionsOpen > 0 ? fiber.getFiberRef(regions).get(token) : undefined

    const record = (touched: Touched, drop: busCodec.Drop): void => {
      if (touched.all) return
      if (drop._tag !== "Keys") {
        touched.all = true
        touched.keys.clear()
        return
      }
      for (const key of drop.keys) touched.keys.add(key)
      if (touched.keys.size > maxPending) {
        touched.all = true
        touched.keys.clear()
      }
    }

    // The end of an outermost region: its keys dropped again (a reader outside it may have filled the L1 with the
    // committed value of the time) and announced.
    const settle = (touched: Touched): Effect.Effect<void> =>
      Effect.suspend(() => {
        regionsOpen--
        if (!touched.all && touched.keys.size === 0) return Effect.void
        const drop: busCodec.Drop = touched.all ? { _tag: "All" } : { _tag: "Keys", keys: Array.from(touched.keys) }
        l1.drop(drop, clock.unsafeCurrentTimeMillis())
        return publish(drop)
      })

    // A write on the L2, then (whatever its outcome) its keys dropped from the L1 (or, on success, `put` puts the new
    // values) and announced: at once, or at the end of the region the fiber is in.
    const written = <A>(
      self: Effect.Effect<A, KeyValueStoreError>,
      drop: busCodec.Drop,
      now: number,
      put?: (a: A, since: number) => void
    ): Effect.Effect<A, KeyValueStoreError> =>
      Effect.withFiberRuntime((fiber) => {
        const touched = within(fiber)
        const since = l1.begin()
        return Effect.onExit(self, (exit) => {
          if (put !== undefined && touched === undefined && Exit.isSuccess(exit)) put(exit.value, since)
          else l1.drop(drop, now)
          l1.end()
          if (touched === undefined) return publish(drop)
          record(touched, drop)
          return Effect.void
        })
      })

    const keys = (...list: Array<string>): busCodec.Drop => ({ _tag: "Keys", keys: list })
    const all: busCodec.Drop = { _tag: "All" }
    const p = store.primitives

    // A read of the L2 entry that fills the L1 (unless a write intervened).
    const readThrough = (
      key: string,
      now: number
    ): Effect.Effect<Option.Option<KeyValueStore.Entry>, KeyValueStoreError> =>
      Effect.suspend(() => {
        const since = l1.begin()
        return p.getEntry(key, now).pipe(
          Effect.tap((found) => {
            if (found._tag === "Some") {
              const entry = found.value
              l1.fill(key, entry.value.slice(), Option.getOrNull(entry.expiresAt), now, since)
            }
          }),
          Effect.ensuring(Effect.sync(() => l1.end()))
        )
      })
    const valueOf = (entry: KeyValueStore.Entry) => entry.value

    const decisions: Wrapper.PrimitiveDecisions = {
      backend: Wrapper.inherit,
      capabilities: Wrapper.inherit,
      separator: Wrapper.inherit,
      maxKeyBytes: Wrapper.inherit,
      maxValueBytes: Wrapper.inherit,
      get: (key, now) =>
        Effect.withFiberRuntime((fiber) => {
          if (!l1.usable || within(fiber) !== undefined) return p.get(key, now)
          const hit = l1.get(key, now)
          if (hit._tag === "Some") return Effect.succeed(hit)
          return Effect.map(readThrough(key, now), Option.map(valueOf))
        }),
      getEntry: (key, now) =>
        Effect.withFiberRuntime((fiber) =>
          !l1.usable || within(fiber) !== undefined ? p.getEntry(key, now) : readThrough(key, now)
        ),
      has: (key, now) =>
        Effect.withFiberRuntime((fiber) => {
          if (l1.usable && within(fiber) === undefined && l1.has(key, now)) return Effect.succeed(true)
          return p.has ? p.has(key, now) : Effect.map(p.get(key, now), Option.isSome)
        }),
      set: (key, value, write, now, fence) =>
        written(
          p.set(key, value, write, now, fence),
          keys(key),
          now,
          (_, since) => l1.replace(key, value, write.expiresAt, now, since)
        ),
      remove: (key, now, fence) => written(p.remove(key, now, fence), keys(key), now),
      modify: (key, now, f, fence) => written(p.modify(key, now, f, fence), keys(key), now),
      expire: (now) => Effect.tap(p.expire(now), () => Effect.ignore(memory.primitives.expire(now))),
      clear: Effect.suspend(() => written(p.clear, all, clock.unsafeCurrentTimeMillis())),
      size: Wrapper.inherit,
      unsafe: undefined,
      getMany: (list, now) =>
        Effect.withFiberRuntime((fiber) => {
          const l2Many = (missing: ReadonlyArray<string>) =>
            p.getMany ? p.getMany(missing, now) : Effect.forEach(missing, (key) => p.get(key, now))
          if (!l1.usable || within(fiber) !== undefined) return l2Many(list)
          const results = list.map((key) => l1.get(key, now))
          const missing: Array<string> = []
          const at: Array<number> = []
          for (let i = 0; i < results.length; i++) {
            if (results[i]!._tag === "None") {
              missing.push(list[i]!)
              at.push(i)
            }
          }
          if (missing.length === 0) return Effect.succeed(results)
          return Effect.map(l2Many(missing), (found) => {
            for (let i = 0; i < at.length; i++) results[at[i]!] = found[i]!
            return results
          })
        }),
      setMany: p.setMany &&
        ((entries, now, fence) =>
          written(
            p.setMany!(entries, now, fence),
            keys(...entries.map((entry) => entry.key)),
            now,
            (_, since) => {
              for (const entry of entries) l1.replace(entry.key, entry.value, entry.write.expiresAt, now, since)
            }
          )),
      removeMany: p.removeMany &&
        ((list, now, fence) => written(p.removeMany!(list, now, fence), keys(...list), now)),
      expiresAt: Wrapper.inherit,
      touch: p.touch && ((key, expiresAt, now, fence) => written(p.touch!(key, expiresAt, now, fence), keys(key), now)),
      volume: Wrapper.inherit,
      counters: Wrapper.inherit,
      resetCounters: Wrapper.inherit,
      scanKeys: Wrapper.inherit,
      scanEntries: Wrapper.inherit,
      countRange: Wrapper.inherit,
      removeRange: p.removeRange &&
        ((range, now) =>
          written(p.removeRange!(range, now), { _tag: "Range", prefix: range.prefix, after: range.after }, now)),
      removeTag: p.removeTag && ((tag, now, range) => written(p.removeTag!(tag, now, range), all, now)),
      gate: Wrapper.inherit,
      withTransaction: p.withTransaction &&
        ((effect) =>
          Effect.withFiberRuntime((fiber) => {
            if (within(fiber) !== undefined) return p.withTransaction!(effect)
            const touched: Touched = { keys: new Set(), all: false }
            regionsOpen++
            return p.withTransaction!(
              Effect.locallyWith(effect, regions, (open) => new Map(open).set(token, touched))
            ).pipe(Effect.ensuring(settle(touched)))
          })),
      transaction: p.transaction &&
        Effect.gen(function*() {
          const open = yield* FiberRef.get(regions)
          if (open.has(token)) return yield* p.transaction!
          const touched: Touched = { keys: new Set(), all: false }
          regionsOpen++
          // Registered before the L2's transaction, so it runs after its commit or rollback.
          yield* Effect.addFinalizer(() => settle(touched))
          yield* p.transaction!
          yield* Effect.locallyScopedWith(regions, (inside) => new Map(inside).set(token, touched))
        }),
      leases: Wrapper.inherit,
      check: p.check &&
        ((checkOptions) =>
          checkOptions?.fix === true
            ? Effect.suspend(() => written(p.check!(checkOptions), all, clock.unsafeCurrentTimeMillis()))
            : p.check!(checkOptions))
    }
    const derived = Wrapper.rebuild(store, decisions)

    // The hot path: an L1 hit answered in one step, as `make` answers from a synchronous engine; anything else (a miss,
    // a traced fiber, a region, a disconnected bus) takes the store's own `get`.
    let lastServices: Context.Context<never> | undefined
    let now: Clock.Clock = clock
    let untraced = true
    let fastHits = 0
    const get: KeyValueStore.Service["get"] = (key) =>
      Effect.withFiberRuntime((fiber) => {
        const services = fiber.getFiberRef(DefaultServices.currentServices)
        if (services !== lastServices) {
          lastServices = services
          now = Context.get(services, Clock.Clock)
          untraced = Context.get(services, Tracer.Tracer) === defaultTracer
        }
        if (!untraced || !l1.usable || typeof key !== "string" || within(fiber) !== undefined) return derived.get(key)
        const hit = fast.get(key, now.unsafeCurrentTimeMillis())
        if (hit._tag === "None") return derived.get(key)
        fastHits++
        return Effect.succeed(hit)
      })

    const tiered = Wrapper.service(derived, {
      backend: Wrapper.inherit,
      capabilities: Wrapper.inherit,
      separator: Wrapper.inherit,
      primitives: Wrapper.inherit,
      get,
      getString: Wrapper.inherit,
      getOrFail: Wrapper.inherit,
      getEntry: Wrapper.inherit,
      set: Wrapper.inherit,
      has: Wrapper.inherit,
      remove: Wrapper.inherit,
      pop: Wrapper.inherit,
      add: Wrapper.inherit,
      touch: Wrapper.inherit,
      ttl: Wrapper.inherit,
      setMetadata: Wrapper.inherit,
      increment: Wrapper.inherit,
      decrement: Wrapper.inherit,
      compareAndSwap: Wrapper.inherit,
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
      stats: Effect.map(derived.stats, (stats) => ({ ...stats, hits: stats.hits + fastHits })),
      resetStats: Effect.zipRight(
        derived.resetStats,
        Effect.sync(() => {
          fastHits = 0
        })
      ),
      withTransaction: Wrapper.inherit,
      transaction: Wrapper.inherit,
      lock: Wrapper.inherit,
      withLock: Wrapper.inherit,
      check: Wrapper.inherit
    })
    registry.set(tiered, () =>
      Effect.sync(() => ({
        hits: l1.hits + fastHits,
        misses: l1.misses,
        fills: l1.fills,
        entries: l1.size(clock.unsafeCurrentTimeMillis()),
        connected: l1.usable,
        received,
        publishFailures
      })))

    if (bus !== undefined) {
      l1.usable = false
      let pongs = 0
      const onMessage = (payload: string): void => {
        const message = busCodec.decode(payload)
        if (message === undefined) return
        if (message.ping !== undefined) {
          if (message.from === id) pongs = Math.max(pongs, message.ping)
          return
        }
        if (message.from === id) return
        received++
        l1.drop(message.drop, clock.unsafeCurrentTimeMillis())
      }
      // Pings itself through the server: a ping not back by the next one ends the session (a silent partition).
      const heartbeat = (open: busCodec.Connection) =>
        Effect.gen(function*() {
          let sent = pongs
          for (;;) {
            sent++
            yield* open.publish(busCodec.ping(id, sent))
            yield* Effect.sleep(Duration.millis(bus.heartbeatMillis))
            if (pongs < sent) return
          }
        })
      const lost = Effect.sync(() => {
        connection = undefined
        l1.usable = false
        l1.dropAll()
      })
      const first = yield* Deferred.make<void, BackendError>()
      const session = Effect.scoped(Effect.gen(function*() {
        const open = yield* bus.connect(onMessage)
        l1.dropAll()
        connection = open
        l1.usable = true
        yield* Deferred.succeed(first, undefined)
        yield* flush
        yield* Effect.raceFirst(open.closed, Effect.ignore(heartbeat(open)))
        yield* lost
      }))
      const loop = Effect.gen(function*() {
        let failures = 0
        for (;;) {
          const exit = yield* Effect.exit(session)
          yield* lost
          if (Exit.isFailure(exit)) {
            if (!(yield* Deferred.isDone(first))) {
              yield* Deferred.failCause(first, exit.cause)
              return
            }
            failures++
          } else {
            failures = 0
          }
          yield* Effect.sleep(Duration.millis(Math.min(2000, 50 * 2 ** Math.min(failures, 6))))
        }
      })
      const fiber = yield* Effect.forkScoped(Effect.interruptible(loop))
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          connection = undefined
          l1.usable = false
        })
      )
      yield* Deferred.await(first).pipe(Effect.onError(() => Fiber.interrupt(fiber)))
    }
    return tiered
  })

/**
 * The layer form: needs the L2 store and gives the tiered store over it; the L1 and the bus connection live as long
 * as the layer.
 *
 * @example
 * ```ts
 * import { KeyValueStore, SqliteStore, Tiered } from "effect-kv"
 *
 * const store = SqliteStore.layer({ filename: "data/kv.db" }).pipe(
 *   KeyValueStore.wrap(Tiered.layer({ l1: { maxEntries: 10_000, ttl: "1 minute" } }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<KeyValueStore.KeyValueStore, InvalidArgument | BackendError, KeyValueStore.KeyValueStore> =>
  Layer.scoped(
    KeyValueStore.KeyValueStore,
    Effect.flatMap(KeyValueStore.KeyValueStore, (store) => make(store, options))
  )
