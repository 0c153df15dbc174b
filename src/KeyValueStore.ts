/**
 * The `KeyValueStore` service: one shape every backend provides and every policy wraps. It speaks raw bytes (strings
 * are stored as UTF-8) plus entry metadata, reads time only from Effect's `Clock`, and fails only with the typed
 * errors of `KeyValueStoreError`. Backends implement a small set of primitives and `make` derives the rest: argument
 * checks, ttl arithmetic, statistics, tracing spans and the read-modify-write operations, so every backend rejects the
 * same input the same way and shows the same behaviour. Every operation returns an Effect that fails with a typed
 * error on a bad argument (never a throw, never a defect), before the engine is touched: `limits` states the one rule
 * of each class of argument (durations, values, tags and names, metadata, counters, batches, options).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as Cache from "./internal/cache/getOrSet.js"
import type * as leases from "./internal/leases.js"
import type * as regions from "./internal/regions.js"
import * as args from "./internal/service/arguments.js"
import * as Batch from "./internal/service/batch.js"
import * as Core from "./internal/service/core.js"
import * as Enumeration from "./internal/service/enumeration.js"
import * as gate from "./internal/service/gate.js"
import * as Modify from "./internal/service/modify.js"
import * as Point from "./internal/service/point.js"
import * as StoreWide from "./internal/service/storeWide.js"
import * as validate from "./internal/validate.js"
import type { InvalidArgument, InvalidKey, KeyValueStoreError } from "./KeyValueStoreError.js"
import type * as Pattern from "./Pattern.js"
import * as Batched from "./wrappers/Batched.js"
import * as Prefix from "./wrappers/Prefix.js"
import * as ReadOnly from "./wrappers/ReadOnly.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: "~effect-kv/KeyValueStore" = "~effect-kv/KeyValueStore" as const

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A value as written: bytes, or a string stored as its UTF-8 bytes.
 *
 * @since 0.1.0
 * @category models
 */
export type Value = Uint8Array | string

/**
 * User metadata attached to an entry: a plain JSON object.
 *
 * @since 0.1.0
 * @category models
 */
export interface Metadata {
  readonly [key: string]: unknown
}

/**
 * Options every backend accepts.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  /** Segment separator of hierarchical keys (default `.`). */
  readonly separator?: string | undefined
  /** Longest key in UTF-8 bytes (default 1024). */
  readonly maxKeyBytes?: number | undefined
  /** Largest value in bytes (default 512 MiB). */
  readonly maxValueBytes?: number | undefined
}

/**
 * Which entries go first when a size limit is reached: the least recently used (`"lru"`, reads and writes count as
 * uses), the least frequently used (`"lfu"`), the least recently stored (`"lrs"`, only writes count), or none at all
 * (`"none"`: a write that would exceed the limit fails with `StoreFull`).
 *
 * @since 0.1.0
 * @category models
 */
export type EvictionPolicy = "lru" | "lfu" | "lrs" | "none"

/**
 * Size limits of backends that evict. No limit is set by default.
 *
 * @since 0.1.0
 * @category models
 */
export interface LimitOptions {
  /** Most entries kept; beyond it `eviction` decides. */
  readonly maxEntries?: number | undefined
  /** Most bytes of values kept; beyond it `eviction` decides. A single larger value fails with `ValueTooLarge`. */
  readonly maxSize?: number | undefined
  /** Default `"lru"`. */
  readonly eviction?: EvictionPolicy | undefined
}

/**
 * Options of the background sweeper of backends that remove expired entries themselves. A sweep removes every
 * expired entry, in slices of at most `sweepBatch` entries (one transaction or script call each) with a turn of the
 * event loop between slices, so other fibers and I/O never wait for more than one slice. Sweeps come every
 * `sweepInterval`, and one second after the previous one (or `sweepInterval`, if shorter) once `sweepBatch` writes
 * that set an expiry were made since it began: a steady stream of short-lived entries is reclaimed as fast as it is
 * written, and the backlog stays about one second (or `sweepBatch` entries) of that stream. MemoryStore and
 * SqliteStore also reclaim on the write side, two expired entries per write that sets an expiry (SqliteStore: one
 * statement every 32 such writes, outside transaction regions), so their backlog stays bounded whatever the write rate,
 * even when a writer never lets the sweeper run.
 *
 * @since 0.1.0
 * @category models
 */
export interface SweepOptions {
  /** Longest time between two sweeps (default 1 minute). */
  readonly sweepInterval?: Duration.DurationInput | undefined
  /** Most entries one slice of a sweep removes (default 1000); also the expiring writes that bring a sweep early. */
  readonly sweepBatch?: number | undefined
}

/**
 * The fence of a write: a lock of this store (or of a namespace of it) that must still be held for the write to
 * happen. The store checks the lock's lease in the same step as the write (the same SQLite or SQL transaction, the
 * same Lua script on Redis, the same synchronous step in memory): the write happens only while the holder's slot is
 * still in the lease table, unexpired by the writer's `Clock`, and has not been released. Otherwise it fails with
 * `LockLost` and changes nothing. A lock of one holder loses its slot before anyone else can take the lock, so a
 * fenced write of a holder paused past its lease (a GC pause, SIGSTOP, a slow network) cannot land while another
 * holder has the lock: its fencing token is no longer the newest. (With `holders: n`, each holder's writes are fenced
 * by its own slot.) A fenced operation checks the lease whether or not it ends up writing (an `add` over an existing
 * entry, a `compareAndSwap` that does not match). `withLock` does not hand out its lock: take it with `lock` in a
 * scope to fence writes.
 *
 * Fenced: `set`, `add`, `setMany` and `removeMany` (one fence per batch, in their own options), `remove`, `pop`,
 * `touch`, `setMetadata`, `increment`, `decrement`, `compareAndSwap`, `append` and `update`. Not fenced: the
 * store-wide operations (`removePattern`, `removeTag`, `expire`, `clear`). A lock of another store is
 * `InvalidArgument`; a store without `capabilities.fencedWrites` fails with `Unsupported`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FenceOptions {
  /** A lock held from this store (`lock`): the write happens only while its lease is still held. */
  readonly fence?: Lock | undefined
}

/**
 * Options of a write. `set` replaces the whole entry: a write without `tags` or `metadata` clears them, while the
 * entry's `createdAt` survives. An entry of `setMany` takes no `fence`: a batch has one, in `setMany`'s own options.
 *
 * @since 0.1.0
 * @category models
 */
export interface SetOptions extends FenceOptions {
  /** Time to live; absent or `Duration.infinity` means no expiry. Positive, at most 100 years (`limits`). */
  readonly ttl?: Duration.DurationInput | undefined
  /** Tags to attach (at most 1000, of at most 1024 UTF-8 bytes each); `removeTag(tag)` removes their entries. */
  readonly tags?: Iterable<string> | undefined
  /** A JSON object stored beside the value. */
  readonly metadata?: Metadata | undefined
}

/**
 * A live entry with its bookkeeping. Times are epoch milliseconds from the store's `Clock`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly key: string
  readonly value: Uint8Array
  /** Absolute expiry; `none` when the entry never expires. */
  readonly expiresAt: Option.Option<number>
  readonly tags: ReadonlyArray<string>
  readonly metadata: Option.Option<Metadata>
  readonly createdAt: number
  readonly updatedAt: number
  /** Size of the value in bytes. */
  readonly size: number
}

/**
 * Counters kept by a store instance since it was built (or last reset).
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly hits: number
  readonly misses: number
  readonly writes: number
  readonly removes: number
  /** Entries removed to respect a size limit. */
  readonly evictions: number
  /** Expired entries physically removed by the sweeper or `expire`. */
  readonly expirations: number
}

/**
 * What a backend can do. An operation a backend cannot do fails with `Unsupported`; it never silently does
 * something else.
 *
 * @since 0.1.0
 * @category models
 */
export interface Capabilities {
  /** Entries survive the process. */
  readonly persistent: boolean
  /** Entries may carry a ttl (`set(..., { ttl })`, `touch`). */
  readonly expiry: boolean
  /** `maxEntries`/`maxSize` with an eviction policy. */
  readonly eviction: boolean
  /** Several processes may share the store; atomic operations are atomic across them. */
  readonly crossProcess: boolean
  /** `keys`/`entries` yield ascending UTF-8 byte order. */
  readonly orderedKeys: boolean
  /** `keys`, `entries` and pattern operations. */
  readonly enumeration: boolean
  /** `set(..., { tags })` and `removeTag`. */
  readonly tags: boolean
  /** `set(..., { metadata })` and `setMetadata`. */
  readonly metadata: boolean
  /** `withTransaction` and `transaction`. */
  readonly transactions: boolean
  /** `lock` and `withLock`. */
  readonly locks: boolean
  /** `check`. */
  readonly check: boolean
  /** `volume` reports bytes on disk. */
  readonly volume: boolean
  /** Writes take a `fence` (a lock checked atomically with the write, see `FenceOptions`). */
  readonly fencedWrites: boolean
}

/**
 * Options of `increment`/`decrement`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CounterOptions extends FenceOptions {
  /** The value an absent counter starts from before the delta is applied (default 0); at most 1000 digits. */
  readonly initial?: number | bigint | undefined
  /** Time to live given to a counter this call creates; an existing counter keeps its expiry. */
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * Options of a lock (a lease kept alive by a heartbeat while held). Lock names containing `"\u0000effect-kv:"` are
 * reserved for the library's own leases (`getOrSet` with `lock`) and refused with `InvalidArgument`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  /** Lease length (finite, at most 100 years): the lease expires by itself this long after its last renewal. */
  readonly ttl?: Duration.DurationInput | undefined
  /** How long to wait for the lock before failing with `LockTimeout` (at most 100 years, or infinite). */
  readonly timeout?: Duration.DurationInput | undefined
  /** How to poll while waiting. */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** Number of concurrent holders (a semaphore); default 1. */
  readonly holders?: number | undefined
}

/**
 * How `getOrSet` (and `Memoize`) guard a miss across processes: the caller takes the store's lease for the key,
 * re-reads, computes once, writes and releases; others wait on the lease and read the fresh value. Only one fiber per
 * process waits on the lease (the others share its flight). The lease is a lock of the store named after the key with
 * a mark reserved for the library (a user's `lock` refuses names containing `"\u0000effect-kv:"`), so no user lock
 * can take it; a key too long for a lock name is named by its SHA-256. A store without locks (`capabilities.locks`)
 * fails such a call with `Unsupported` before reading.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore } from "effect-kv"
 *
 * declare const render: Effect.Effect<string>
 *
 * const page = Effect.flatMap(KeyValueStore.KeyValueStore, (store) =>
 *   store.getOrSet("page.home", render, {
 *     ttl: "1 minute",
 *     lock: { ttl: "30 seconds", timeout: "5 seconds", onTimeout: "fail" }
 *   }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StampedeOptions {
  /**
   * Lease length while computing (default 30 seconds; positive, finite). The holder's heartbeat renews it while the
   * computation runs; if the computing process dies, another takes over once it expires.
   */
  readonly ttl?: Duration.DurationInput | undefined
  /** How long a caller waits for another process's computation (default 10 seconds; 0 tries once; may be infinite). */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * What a caller does when `timeout` passes: compute itself without the lease (`"compute"`, default) or fail with
   * `LockTimeout` (its `key` is the cache key). Only the wait's own timeout counts: a `LockTimeout` raised by the
   * computation is its failure.
   */
  readonly onTimeout?: "compute" | "fail" | undefined
}

/**
 * Options of `getOrSet`: how a computed value is written (as `set`: `ttl`, `tags`, `metadata`, `fence`), how a miss
 * is guarded across processes (`lock`), and the freshness controls of a cache. Every option is checked before
 * anything runs: a bad one fails with `InvalidArgument` (without reading or computing).
 *
 * What happens:
 * - a live value is returned as it is (for a `TypedStore`, decoded; one that does not decode follows its
 *   `onMismatch`: a `DecodeError`, or a miss);
 * - a miss runs the computation once per process: concurrent callers of the same store, key and representation share
 *   it (it runs in a fiber of its own, forked from the first caller with that caller's context; interrupting a
 *   caller only stops its wait, and the computation is interrupted once every caller is gone). The first caller's
 *   computation and options are the ones used;
 * - the computation's failure reaches every caller waiting for it and is not cached;
 * - its value is written, then returned; a failed write fails the call with the store's error (the caller asked for
 *   caching: a value that could not be stored is not silently handed out);
 * - a failed read fails with the error of the store's read (`get`, or `getEntry` with a stale window), unless
 *   `onReadFailure: "compute"`.
 *
 * Freshness (the stale window is `max(staleWhileRevalidate, grace)`; both need a finite `ttl`):
 * - `staleWhileRevalidate`: once `ttl` has passed, the old value is served for this long while one background
 *   refresh runs (one per process; with `lock`, one across processes);
 * - `grace`: when a refresh fails (an error, a `Timeout`, a failed write), the old value is served for this long
 *   after `ttl` instead of the error;
 * - `softTimeout`: a refresh slower than this, with an old value at hand (within `grace`), returns the old value and
 *   finishes in the background, where it writes the new one; on a miss there is no old value, and it does nothing;
 * - `hardTimeout`: a computation slower than this is interrupted and fails with `Timeout` (or serves the old value
 *   within `grace`). It also bounds background refreshes: without it, a refresh that never ends keeps its key's
 *   flight busy in that process.
 *
 * With a stale window, the entry is written with a ttl of `ttl + max(staleWhileRevalidate, grace)` and read with
 * `getEntry`: it is fresh until `expiresAt - max(staleWhileRevalidate, grace)`. Nothing is added to the value or its
 * metadata, so other readers' `get` sees the value (until the end of the window) and `ttl(key)` reports the longer
 * ttl. An entry written by someone else with a shorter ttl is stale sooner. Without a window, a hit is one `get`.
 *
 * Background refreshes run in daemon fibers forked from the caller that starts them (its services, clock and fiber
 * refs), not tied to that caller's lifetime or scope; they end when the computation and its write end.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore } from "effect-kv"
 *
 * declare const fetchRates: Effect.Effect<string, Error>
 *
 * const rates = Effect.flatMap(KeyValueStore.KeyValueStore, (store) =>
 *   store.getOrSet("rates", fetchRates, {
 *     ttl: "1 minute",
 *     staleWhileRevalidate: "5 minutes",
 *     grace: "1 hour",
 *     softTimeout: "200 millis",
 *     hardTimeout: "10 seconds",
 *     lock: true
 *   }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface GetOrSetOptions extends SetOptions {
  /** Guard a miss across processes with the store's lease for the key (`true`: default lease options). */
  readonly lock?: boolean | StampedeOptions | undefined
  /** How long past `ttl` the old value is served while one background refresh runs (finite; needs a finite ttl). */
  readonly staleWhileRevalidate?: Duration.DurationInput | undefined
  /** How long past `ttl` the old value is served when a refresh fails (finite; needs a finite ttl). */
  readonly grace?: Duration.DurationInput | undefined
  /** How long a refresh with an old value at hand may take before the old value is returned (positive, finite). */
  readonly softTimeout?: Duration.DurationInput | undefined
  /** How long a computation may take before it fails with `Timeout` (positive, finite). */
  readonly hardTimeout?: Duration.DurationInput | undefined
  /**
   * What a failed read of the cached value does: fail with the store's typed error (`"fail"`, default) or compute
   * the value as on a miss (`"compute"`; the write is still attempted). Argument errors (`InvalidKey`) always fail.
   */
  readonly onReadFailure?: "fail" | "compute" | undefined
}

/**
 * A held lock. Pass it as the `fence` of writes (see `FenceOptions`) that must not land once the lease is lost.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lock {
  readonly name: string
  /** Strictly increasing per lock name across all holders; a fenced write checks it is still the newest. */
  readonly fencingToken: bigint
  /** Fails with `LockLost` if the lease was lost while held. */
  readonly verify: Effect.Effect<void, KeyValueStoreError>
  /** Never succeeds; fails with `LockLost` once the heartbeat finds the lease lost. Race work against it. */
  readonly lost: Effect.Effect<never, KeyValueStoreError>
}

/**
 * The result of `check`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckReport {
  /** No defect found: the engine reports "ok", and there are no orphaned files, dangling rows or counter drift. */
  readonly ok: boolean
  /** The engine's own integrity report (`["ok"]` when sound). */
  readonly engine: ReadonlyArray<string>
  /** Large-value files that no row names (older than `minOrphanAge`), as paths. */
  readonly orphanedFiles: ReadonlyArray<string>
  /** Keys whose row names a value file that is missing, of the wrong size or whose content fails its checksum. */
  readonly danglingRows: ReadonlyArray<string>
  /** How far the stored counters (entries, bytes of values) are from a recount; undefined when they agree. */
  readonly counterDrift: { readonly entries: number; readonly bytes: number } | undefined
  /** Expired rows not removed yet (the sweeper's backlog; not a defect). */
  readonly expiredPending: number
  /** What `fix` repaired, one line per repair. */
  readonly fixed: ReadonlyArray<string>
  /**
   * Damage `fix` cannot repair in place, one line each, with what to do instead (a SQLite file whose pages the engine
   * reports damaged: `SqliteStore.recover` copies what can still be read into a new file). Absent when there is none.
   */
  readonly unrepairable?: ReadonlyArray<string> | undefined
}

/**
 * Options of `check`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckOptions {
  /** Repair what can be repaired: delete orphaned files and dangling rows, recount, remove expired rows. */
  readonly fix?: boolean | undefined
  /**
   * A file no row names is an orphan only once it is this old (default 1 minute): a write in progress in another
   * process has written its file before its row.
   */
  readonly minOrphanAge?: Duration.DurationInput | undefined
}

/**
 * The service shape. Every operation validates its arguments the same way on every backend.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly [TypeId]: TypeId
  /** Name of the backend, e.g. `"sqlite"`. */
  readonly backend: string
  readonly capabilities: Capabilities
  /** Segment separator of hierarchical keys (default `.`). */
  readonly separator: string

  /** The value of a live entry. */
  readonly get: (key: string) => Effect.Effect<Option.Option<Uint8Array>, KeyValueStoreError>
  /** The value of a live entry decoded as UTF-8. */
  readonly getString: (key: string) => Effect.Effect<Option.Option<string>, KeyValueStoreError>
  /** The value of a live entry, or `KeyNotFound` (with the key) when there is none. */
  readonly getOrFail: (key: string) => Effect.Effect<Uint8Array, KeyValueStoreError>
  /** A live entry with its bookkeeping. */
  readonly getEntry: (key: string) => Effect.Effect<Option.Option<Entry>, KeyValueStoreError>
  /** Writes (replaces) an entry. */
  readonly set: (key: string, value: Value, options?: SetOptions) => Effect.Effect<void, KeyValueStoreError>
  readonly has: (key: string) => Effect.Effect<boolean, KeyValueStoreError>
  /** Removes an entry; tells whether a live one existed. */
  readonly remove: (key: string, options?: FenceOptions) => Effect.Effect<boolean, KeyValueStoreError>
  /** Reads and removes an entry atomically. */
  readonly pop: (key: string, options?: FenceOptions) => Effect.Effect<Option.Option<Uint8Array>, KeyValueStoreError>
  /** Writes only if no live entry exists; tells whether it wrote. */
  readonly add: (key: string, value: Value, options?: SetOptions) => Effect.Effect<boolean, KeyValueStoreError>
  /** Gives a live entry a new ttl (`undefined`: no expiry); tells whether the entry existed. */
  readonly touch: (
    key: string,
    ttl: Duration.DurationInput | undefined,
    options?: FenceOptions
  ) => Effect.Effect<boolean, KeyValueStoreError>
  /** Remaining time to live: `none` when absent, `Duration.infinity` when the entry never expires. */
  readonly ttl: (key: string) => Effect.Effect<Option.Option<Duration.Duration>, KeyValueStoreError>
  /** Replaces the metadata of a live entry; tells whether the entry existed. */
  readonly setMetadata: (
    key: string,
    metadata: Metadata,
    options?: FenceOptions
  ) => Effect.Effect<boolean, KeyValueStoreError>

  /**
   * Adds `delta` to a decimal integer value atomically and returns the result. A counter has at most 1000 digits
   * (`limits.maxCounterDigits`): a longer stored value, or a result that would be longer, fails with `NotANumber`.
   */
  readonly increment: (
    key: string,
    delta?: number | bigint,
    options?: CounterOptions
  ) => Effect.Effect<bigint, KeyValueStoreError>
  readonly decrement: (
    key: string,
    delta?: number | bigint,
    options?: CounterOptions
  ) => Effect.Effect<bigint, KeyValueStoreError>
  /** Replaces `expected` (none: absent) by `next` (none: delete) atomically; tells whether it swapped. */
  readonly compareAndSwap: (
    key: string,
    expected: Option.Option<Value>,
    next: Option.Option<Value>,
    options?: SetOptions
  ) => Effect.Effect<boolean, KeyValueStoreError>
  /** Appends bytes atomically (creating the entry when absent) and returns the new length. */
  readonly append: (key: string, value: Value, options?: FenceOptions) => Effect.Effect<number, KeyValueStoreError>
  /**
   * Atomic read-modify-write with a pure function; returns the new value (none: the entry was removed). The write
   * replaces the entry like `set`: give `options` (ttl, tags, metadata) to keep them, as with `compareAndSwap`.
   */
  readonly update: (
    key: string,
    f: (current: Option.Option<Uint8Array>) => Option.Option<Value>,
    options?: SetOptions
  ) => Effect.Effect<Option.Option<Uint8Array>, KeyValueStoreError>

  /** Values of many keys (at most `limits.maxBatch`, from any iterable but a string) in one round trip, in order. */
  readonly getMany: (
    keys: Iterable<string>
  ) => Effect.Effect<ReadonlyArray<Option.Option<Uint8Array>>, KeyValueStoreError>
  /**
   * Writes many entries (each `[key, value, options?]`, at most `limits.maxBatch`) in one transaction; the batch's
   * fence in `options`.
   */
  readonly setMany: (
    entries: Iterable<readonly [key: string, value: Value, options?: SetOptions]>,
    options?: FenceOptions
  ) => Effect.Effect<void, KeyValueStoreError>
  /** Removes many keys (at most `limits.maxBatch`) in one transaction; returns how many live entries were removed. */
  readonly removeMany: (keys: Iterable<string>, options?: FenceOptions) => Effect.Effect<number, KeyValueStoreError>

  /**
   * Live keys matching a glob pattern (every key without one) in ascending UTF-8 byte order, read in pages by key
   * cursor: memory stays constant however many keys match. The pattern's literal prefix is a key range in the engine.
   */
  readonly keys: (pattern?: string | Pattern.Pattern) => Stream.Stream<string, KeyValueStoreError>
  /** Live entries (key and value) matching a glob pattern, in key order, paged by key cursor. */
  readonly entries: (
    pattern?: string | Pattern.Pattern
  ) => Stream.Stream<readonly [string, Uint8Array], KeyValueStoreError>
  /** `entries(pattern)` under the name of the pattern family. */
  readonly getPattern: (
    pattern: string | Pattern.Pattern
  ) => Stream.Stream<readonly [string, Uint8Array], KeyValueStoreError>
  /** Number of live keys matching a glob pattern. */
  readonly countPattern: (pattern: string | Pattern.Pattern) => Effect.Effect<number, KeyValueStoreError>
  /** Removes the live entries matching a glob pattern, page by page; returns how many it removed. */
  readonly removePattern: (pattern: string | Pattern.Pattern) => Effect.Effect<number, KeyValueStoreError>
  /** Removes every entry carrying `tag`; returns the count. */
  readonly removeTag: (tag: string) => Effect.Effect<number, KeyValueStoreError>

  /** Removes expired entries now; returns the count. */
  readonly expire: Effect.Effect<number, KeyValueStoreError>
  /** Removes every entry of this store (only this store's table, prefix or namespace). */
  readonly clear: Effect.Effect<void, KeyValueStoreError>
  /** Number of live entries. */
  readonly size: Effect.Effect<number, KeyValueStoreError>
  /** Bytes used on disk (0 for memory). */
  readonly volume: Effect.Effect<number, KeyValueStoreError>
  readonly stats: Effect.Effect<Stats>
  readonly resetStats: Effect.Effect<void>

  /** Runs `effect` in one transaction: commit on success, rollback on failure or interruption. */
  readonly withTransaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | KeyValueStoreError, R>
  /** A transaction that commits when the scope closes successfully. */
  readonly transaction: Effect.Effect<void, KeyValueStoreError, Scope.Scope>
  /** Acquires a lease-based lock for the lifetime of the scope. */
  readonly lock: (name: string, options?: LockOptions) => Effect.Effect<Lock, KeyValueStoreError, Scope.Scope>
  /**
   * Runs `effect` holding the lock `name`; if the lease is lost meanwhile, `effect` is interrupted and the result is
   * `LockLost`.
   */
  readonly withLock: (
    name: string,
    options?: LockOptions
  ) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | KeyValueStoreError, R>
  /** Verifies structure and, with `fix`, repairs what it can. */
  readonly check: (options?: CheckOptions) => Effect.Effect<CheckReport, KeyValueStoreError>

  /**
   * The value of a live entry, or else runs `compute`, writes its result with `options` and returns it. Concurrent
   * callers in this process share one computation; with `lock`, so do other processes. A computed string is returned
   * as its UTF-8 bytes. See `GetOrSetOptions` for the failures and the freshness controls. This member is derived
   * from the store's own operations (a wrapper never decides about it), so it sees every wrapper the store has.
   *
   * @example
   * ```ts
   * import { Effect } from "effect"
   * import { KeyValueStore } from "effect-kv"
   *
   * const page = Effect.flatMap(KeyValueStore.KeyValueStore, (store) =>
   *   store.getOrSet("page.home", Effect.succeed("<html/>"), { ttl: "1 minute" }))
   * ```
   */
  readonly getOrSet: <E, R>(
    key: string,
    compute: Effect.Effect<Value, E, R>,
    options?: GetOrSetOptions
  ) => Effect.Effect<Uint8Array, E | KeyValueStoreError, R>

  /**
   * The primitives this store was built from. Policies (namespaces, byte transformations) build a new store from
   * mapped primitives with `make`, so every derived operation keeps its semantics; applications do not need them.
   * They are behind the store's transaction gate (only the synchronous `unsafe` fast paths are not: `make` checks the
   * `gate` before using them), so a store built over them waits for its transaction regions too.
   */
  readonly primitives: Primitives
}

/**
 * The service tag.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* KeyValueStore.KeyValueStore
 *   yield* store.set("greeting", "hello", { ttl: "1 hour" })
 *   return yield* store.getString("greeting")
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category tags
 */
export class KeyValueStore extends Context.Tag("effect-kv/KeyValueStore")<KeyValueStore, Service>() {}

/**
 * Tells whether a value is a store built by `make`.
 *
 * @example
 * ```ts
 * import { KeyValueStore } from "effect-kv"
 * KeyValueStore.isKeyValueStore({}) // false
 * ```
 * @since 0.1.0
 * @category refinements
 */
export const isKeyValueStore = (u: unknown): u is Service => Predicate.hasProperty(u, TypeId)

/**
 * A mutation decided by a read-modify-write step: keep the entry, remove it, or write a new one.
 *
 * @since 0.1.0
 * @category primitives
 */
export type Mutation =
  | { readonly _tag: "Keep" }
  | { readonly _tag: "Remove" }
  | { readonly _tag: "Write"; readonly value: Uint8Array; readonly write: Write }

/**
 * A fully checked write, as backends receive it. Absence is `null` here rather than `Option`: this record is built on
 * every write and handed straight to driver parameters, so it stays a plain shape.
 *
 * @since 0.1.0
 * @category primitives
 */
export interface Write {
  /** Absolute expiry in epoch ms; `null` never expires. */
  readonly expiresAt: number | null
  readonly tags: ReadonlyArray<string>
  readonly metadata: Metadata | null
}

/**
 * The fence of a write as backends receive it (see `FenceOptions`): the slot of a lock in the backend's own lease
 * table. A backend performs a fenced write only if, in the same atomic step as the write (transaction, script or
 * synchronous step), the slot of `owner` in lock `name` is still there and unexpired at `now`; otherwise it fails
 * with `LockLost` and changes nothing. It checks even when the operation ends up writing nothing.
 *
 * @since 0.1.0
 * @category primitives
 */
export interface Fence {
  /** The lock's name in the backend's lease table: the name given to `lock`, after every namespace prefix. */
  readonly name: string
  /** The holder's slot (the `owner` of `LeaseTable.acquire`). */
  readonly owner: string
}

/**
 * A checked write of `setMany`. Its `value` is the store's private copy (`make` copied it from the caller's bytes):
 * a backend may keep it as it is.
 *
 * @since 0.1.0
 * @category primitives
 */
export interface WriteEntry {
  readonly key: string
  readonly value: Uint8Array
  readonly write: Write
}

/**
 * One page of an enumeration: live keys starting with `prefix`, strictly after `after` (from the start of the range
 * when `undefined`), in ascending UTF-8 byte order, at most `limit` of them.
 *
 * @since 0.1.0
 * @category primitives
 */
export interface ScanRange extends KeyRange {
  readonly limit: number
}

/**
 * The keys starting with `prefix` and strictly after `after` in UTF-8 byte order (all of the prefix's keys when
 * `undefined`).
 *
 * @since 0.1.0
 * @category primitives
 */
export interface KeyRange {
  readonly prefix: string
  readonly after: string | undefined
}

/**
 * What a backend implements. Every key, value and ttl it receives has been checked, and `now` is the store's
 * `Clock` reading in epoch ms. Optional members are derived by `make` when absent.
 *
 * @since 0.1.0
 * @category primitives
 */
export interface Primitives {
  readonly backend: string
  readonly capabilities: Capabilities
  readonly separator?: string | undefined
  /** Default 1024. */
  readonly maxKeyBytes?: number | undefined
  /** Default 512 MiB. */
  readonly maxValueBytes?: number | undefined

  readonly get: (key: string, now: number) => Effect.Effect<Option.Option<Uint8Array>, KeyValueStoreError>
  readonly getEntry: (key: string, now: number) => Effect.Effect<Option.Option<Entry>, KeyValueStoreError>
  /**
   * The writing primitives (`set`, `remove`, `modify`, `setMany`, `removeMany`, `touch`) take a trailing `fence` when
   * the backend declares `capabilities.fencedWrites` (see `Fence`); `make` never passes one otherwise.
   */
  readonly set: (
    key: string,
    value: Uint8Array,
    write: Write,
    now: number,
    fence?: Fence | undefined
  ) => Effect.Effect<void, KeyValueStoreError>
  readonly remove: (key: string, now: number, fence?: Fence | undefined) => Effect.Effect<boolean, KeyValueStoreError>
  /**
   * Atomic read-modify-write of one key: `f` sees the live entry (expired ones are absent) and decides. `f` is pure
   * and may run more than once on backends that retry on conflict.
   */
  readonly modify: <A>(
    key: string,
    now: number,
    f: (current: Option.Option<Entry>) => readonly [A, Mutation],
    fence?: Fence | undefined
  ) => Effect.Effect<A, KeyValueStoreError>
  readonly expire: (now: number) => Effect.Effect<number, KeyValueStoreError>
  readonly clear: Effect.Effect<void, KeyValueStoreError>
  readonly size: (now: number) => Effect.Effect<number, KeyValueStoreError>

  readonly has?: ((key: string, now: number) => Effect.Effect<boolean, KeyValueStoreError>) | undefined
  /**
   * Synchronous fast paths for engines that answer synchronously (memory, better-sqlite3). When given, `make` calls
   * them in the same step that reads the `Clock`, saving two effect steps per operation. They may throw only a
   * `KeyValueStoreError`; any other throw is a defect.
   */
  readonly unsafe?: {
    readonly get: (key: string, now: number) => Option.Option<Uint8Array>
    /** `get` of every key in turn, in one synchronous step (`getMany`'s fast path). */
    readonly getMany?: ((keys: ReadonlyArray<string>, now: number) => Array<Option.Option<Uint8Array>>) | undefined
    readonly set: (key: string, value: Uint8Array, write: Write, now: number) => void
    readonly has: (key: string, now: number) => boolean
    readonly remove: (key: string, now: number) => boolean
  } | undefined
  readonly getMany?:
    | ((
      keys: ReadonlyArray<string>,
      now: number
    ) => Effect.Effect<Array<Option.Option<Uint8Array>>, KeyValueStoreError>)
    | undefined
  readonly setMany?:
    | ((
      entries: ReadonlyArray<WriteEntry>,
      now: number,
      fence?: Fence | undefined
    ) => Effect.Effect<void, KeyValueStoreError>)
    | undefined
  readonly removeMany?:
    | ((
      keys: ReadonlyArray<string>,
      now: number,
      fence?: Fence | undefined
    ) => Effect.Effect<number, KeyValueStoreError>)
    | undefined
  /** Remaining expiry: none when absent, some(null) when it never expires, some(ms) otherwise. */
  readonly expiresAt?:
    | ((key: string, now: number) => Effect.Effect<Option.Option<number | null>, KeyValueStoreError>)
    | undefined
  readonly touch?:
    | ((
      key: string,
      expiresAt: number | null,
      now: number,
      fence?: Fence | undefined
    ) => Effect.Effect<boolean, KeyValueStoreError>)
    | undefined
  readonly volume?: Effect.Effect<number, KeyValueStoreError> | undefined
  /** Backend-side counters merged into `stats` (e.g. evictions, expirations). */
  readonly counters?: (() => Partial<Stats>) | undefined
  readonly resetCounters?: (() => void) | undefined

  /** One page of live keys (enumeration); `make` derives `keys`, patterns and their counts from it. */
  readonly scanKeys?:
    | ((range: ScanRange, now: number) => Effect.Effect<ReadonlyArray<string>, KeyValueStoreError>)
    | undefined
  /** One page of live entries, as `scanKeys`. */
  readonly scanEntries?:
    | ((
      range: ScanRange,
      now: number
    ) => Effect.Effect<ReadonlyArray<readonly [string, Uint8Array]>, KeyValueStoreError>)
    | undefined
  /** Number of live keys in `range`, counted by the engine. */
  readonly countRange?: ((range: KeyRange, now: number) => Effect.Effect<number, KeyValueStoreError>) | undefined
  /** Removes every entry (live or expired) whose key is in `range`; returns how many live ones it removed. */
  readonly removeRange?: ((range: KeyRange, now: number) => Effect.Effect<number, KeyValueStoreError>) | undefined
  /**
   * Removes every entry carrying `tag` (only those whose key is in `range` when given, as a namespace asks); returns
   * how many live ones it removed.
   */
  readonly removeTag?:
    | ((tag: string, now: number, range?: KeyRange | undefined) => Effect.Effect<number, KeyValueStoreError>)
    | undefined
  /**
   * Transaction regions: while one is open, `make` runs every primitive (and fast path) of a fiber outside it only
   * once the region ends. Given together with `withTransaction` and `transaction` (see `internal/regions.ts`).
   */
  readonly gate?: regions.Gate | undefined
  readonly withTransaction?: Service["withTransaction"] | undefined
  readonly transaction?: Service["transaction"] | undefined
  /** The engine's lease table; `make` derives `lock` and `withLock` from it (see `internal/leases.ts`). */
  readonly leases?: leases.LeaseTable | undefined
  readonly check?: Service["check"] | undefined
}

/**
 * Builds the whole service from a backend's primitives. Argument checks, ttl arithmetic from `Clock`, statistics,
 * spans and the derived operations live here once; a backend may pass native versions of derived operations. The
 * parts are built by concern in `internal/service/`: the per-store context and hot path (`core.ts`), single-key
 * operations (`point.ts`), read-modify-write operations (`modify.ts`), batches (`batch.ts`), enumeration and patterns
 * (`enumeration.ts`) and store-wide operations (`storeWide.ts`), over the primitives behind their transaction gate
 * (`gate.ts`).
 *
 * Spans (`effect-kv.<method>`) are only created when a tracer other than Effect's default is installed, so a program
 * without tracing pays one service lookup per operation.
 *
 * @example
 * ```ts
 * import { KeyValueStore } from "effect-kv"
 * // const store: KeyValueStore.KeyValueStore = KeyValueStore.make({ backend: "mine", ... })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (primitives: Primitives): Service => {
  const core = Core.make(gate.behind(primitives))
  const point = Point.operations(core)
  const modify = Modify.operations(core)
  const batch = Batch.operations(core)
  const enumeration = Enumeration.operations(core)
  const storeWide = StoreWide.operations(core)
  return Cache.attach({
    [TypeId]: TypeId,
    backend: core.backend,
    capabilities: core.p.capabilities,
    separator: core.separator,
    primitives: core.p,
    get: point.get,
    getString: point.getString,
    getOrFail: point.getOrFail,
    getEntry: point.getEntry,
    set: point.set,
    has: point.has,
    remove: point.remove,
    pop: modify.pop,
    add: modify.add,
    touch: modify.touch,
    ttl: point.ttl,
    setMetadata: modify.setMetadata,
    increment: modify.increment,
    decrement: modify.decrement,
    compareAndSwap: modify.compareAndSwap,
    append: modify.append,
    update: modify.update,
    getMany: batch.getMany,
    setMany: batch.setMany,
    removeMany: batch.removeMany,
    keys: enumeration.keys,
    entries: enumeration.entries,
    getPattern: enumeration.getPattern,
    countPattern: enumeration.countPattern,
    removePattern: enumeration.removePattern,
    removeTag: enumeration.removeTag,
    expire: storeWide.expire,
    clear: storeWide.clear,
    size: storeWide.size,
    volume: storeWide.volume,
    stats: storeWide.stats,
    resetStats: storeWide.resetStats,
    withTransaction: storeWide.withTransaction,
    transaction: storeWide.transaction,
    lock: storeWide.lock,
    withLock: storeWide.withLock,
    check: storeWide.check
  })
}

/**
 * The write that keeps an entry's expiry, tags and metadata as they are (for backends' `modify` mutations).
 *
 * @example
 * ```ts
 * import { KeyValueStore } from "effect-kv"
 * // inside a modify step: { _tag: "Write", value: next, write: KeyValueStore.entryWrite(current) }
 * ```
 * @since 0.1.0
 * @category primitives
 */
export const entryWrite: (entry: Entry) => Write = args.entryWrite

/**
 * Stacks a wrapper (a layer that needs a `KeyValueStore` and gives one) on top of a store layer. Whatever else the
 * wrapper gives is kept: `wrap(Statistics.layer())` gives the store and the `Statistics` service.
 *
 * @example
 * ```ts
 * import { KeyValueStore, Retry, SqliteStore, Statistics, Timeout } from "effect-kv"
 *
 * const store = SqliteStore.layer({ filename: "data/kv.db" }).pipe(
 *   KeyValueStore.wrap(Timeout.layer("2 seconds")),
 *   KeyValueStore.wrap(Retry.layer()),
 *   KeyValueStore.wrap(Statistics.layer()) // Layer<KeyValueStore | Statistics, ...>
 * )
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const wrap: {
  <A, E2, R2>(
    policy: Layer.Layer<A | KeyValueStore, E2, R2>
  ): <E, R>(
    self: Layer.Layer<KeyValueStore, E, R>
  ) => Layer.Layer<A | KeyValueStore, E | E2, R | Exclude<R2, KeyValueStore>>
  <E, R, A, E2, R2>(
    self: Layer.Layer<KeyValueStore, E, R>,
    policy: Layer.Layer<A | KeyValueStore, E2, R2>
  ): Layer.Layer<A | KeyValueStore, E | E2, R | Exclude<R2, KeyValueStore>>
} = dual(2, <E, R, A, E2, R2>(
  self: Layer.Layer<KeyValueStore, E, R>,
  policy: Layer.Layer<A | KeyValueStore, E2, R2>
) => Layer.provide(policy, self as Layer.Layer<KeyValueStore, E, R>))

/**
 * The store seen through a type without its writing members (the short form of `ReadOnly.view`): at runtime every
 * write fails with `ReadOnlyViolation`, so a cast cannot write either.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const reader = KeyValueStore.readOnly(yield* KeyValueStore.KeyValueStore)
 *   yield* reader.get("a")
 *   // reader.set("a", "1") does not compile
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const readOnly = (store: Service): ReadOnly.ReadOnlyStore => ReadOnly.view(store)

/**
 * The limits every store applies to the arguments of its operations, the same on every backend and checked before the
 * engine is touched (so a refused call leaves the store as it was). They are the one rule of each class of argument:
 *
 * - `maxDurationMillis` (100 years): the longest finite duration (`ttl` of a write, `touch` or counter, a lock's `ttl`
 *   and `timeout`, `check`'s `minOrphanAge`); longer is `InvalidArgument`. Every engine holds an expiry (now + ttl, in
 *   epoch ms) exactly up to 2^53 - 1 (PostgreSQL and MySQL `BIGINT`, SQLite `INTEGER`, Redis sorted-set scores and
 *   Lua numbers are doubles, `PXAT` refuses more than a 64-bit count): 100 years from now is under 2^42, far inside
 *   every one, also for a `TestClock` set centuries ahead, and longer than any cache lifetime. For no limit, give no
 *   ttl (or `Duration.infinity`; a lock's `timeout` may be infinite too, a lock's `ttl` never).
 * - `maxTags` (1000) tags per entry, each a non-empty string of valid Unicode of at most `maxNameBytes` (1024) UTF-8
 *   bytes (MySQL's tag column); lock names follow the same rule. U+0000 is an ordinary character in keys, tags, lock
 *   names and patterns, and round-trips on every backend.
 * - `maxMetadataDepth` (32) levels and `maxMetadataBytes` (64 KiB of JSON text): metadata is a plain JSON object that
 *   JSON gives back unchanged (no cycle, bigint, NaN, `Date`, `Map`, class instance...).
 * - `maxCounterDigits` (1000): `increment`/`decrement` count decimal integers of at most this many digits; a longer
 *   stored value, or a result that would be longer, is `NotANumber` (a longer value is never parsed: that takes time
 *   quadratic in its length), a longer `delta` or `initial` is `InvalidArgument`.
 * - `maxBatch` (100 000) items per `getMany`, `setMany` or `removeMany`: one call is one transaction or round trip,
 *   which must stay bounded; an endless iterable is refused once it passes the limit.
 *
 * Besides: an options argument is `undefined` or an object (unknown fields are ignored, known ones must have their
 * types), each field read once; a value is a string of valid Unicode or a `Uint8Array` whose `ArrayBuffer` is not
 * detached, read when the operation runs and kept as a private copy (a view of a `SharedArrayBuffer` included), so
 * that no later write, transfer or resize by the caller changes what is stored. The other way round, the bytes a read
 * hands out (`get`, `getMany`, `getEntry`, `pop`, `entries`, `getPattern`, an `update` function's argument) are the
 * caller's own: writing into them changes neither the store nor what any other read returns. A batch is an iterable
 * (not a string) of items of the right shape. A function given to the store that throws (`update`'s, an iterator, a
 * getter) makes the call die with that throw (a defect of the caller, as in `Effect.sync`), with the store unchanged.
 *
 * @example
 * ```ts
 * import { KeyValueStore } from "effect-kv"
 * KeyValueStore.limits.maxTags // 1000
 * ```
 * @since 0.1.0
 * @category models
 */
export const limits: {
  readonly maxDurationMillis: number
  readonly maxTags: number
  readonly maxNameBytes: number
  readonly maxMetadataDepth: number
  readonly maxMetadataBytes: number
  readonly maxCounterDigits: number
  readonly maxBatch: number
} = validate.limits

/**
 * An `InvalidKey` check usable outside a store (e.g. to validate user input early).
 *
 * @example
 * ```ts
 * import { KeyValueStore } from "effect-kv"
 * KeyValueStore.validateKey("user.1") // undefined
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const validateKey = (key: string, maxKeyBytes = 1024): InvalidKey | undefined =>
  validate.checkKey("validateKey", key, maxKeyBytes)

/**
 * A namespace: the store seen through a key prefix (the `Prefix` wrapper; this is `Prefix.make`). Every operation is
 * scoped to keys starting with `prefix`, including `clear`, `size`, `keys` and patterns (matched against the keys
 * without the prefix), tags (a namespace's tags are its own) and `stats` (counted per namespace; the underlying
 * store's own `stats` do not see namespace traffic). Store-wide by nature: `expire` (removes expired entries of every
 * namespace, which no read could see anyway), `volume`, transactions and `check`. Namespaces nest. A key may be as
 * long as the store allows without the prefix (the engine stores the prefix on top); argument errors name the key as
 * given, engine errors the full key. Throws `InvalidArgument` for a prefix that is not valid Unicode (`layerPrefix`
 * fails with it instead).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* KeyValueStore.KeyValueStore
 *   const tenant = KeyValueStore.prefix(store, "tenant-1.")
 *   yield* tenant.set("plan", "pro") // stored as "tenant-1.plan"
 *   yield* tenant.clear // removes only tenant-1's entries
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const prefix: {
  (prefix: string): (self: Service) => Service
  (self: Service, prefix: string): Service
} = dual(2, (self: Service, ns: string): Service => Prefix.make(self, ns))

/**
 * The Layer form of `prefix` (this is `Prefix.layer`): needs a store and gives the namespace over it.
 *
 * @example
 * ```ts
 * import { KeyValueStore, SqliteStore } from "effect-kv"
 *
 * const tenantStore = SqliteStore.layer({ filename: "data/kv.db" }).pipe(
 *   KeyValueStore.wrap(KeyValueStore.layerPrefix("tenant-1."))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerPrefix = (ns: string): Layer.Layer<KeyValueStore, InvalidArgument, KeyValueStore> => Prefix.layer(ns)

/**
 * The store with its concurrent single-key reads (`get`, `getString`, `getOrFail`, `has`) batched into `getMany`s,
 * one round trip each, with the default window and batch size (this is `Batched.make` without options; see `Batched`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = KeyValueStore.batched(yield* KeyValueStore.KeyValueStore)
 *   // one getMany for the three reads
 *   return yield* Effect.all([store.get("a"), store.get("b"), store.get("c")], { batching: true })
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const batched = (store: Service): Service => Batched.build(store)
