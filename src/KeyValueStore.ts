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
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import { dual, identity } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as gated from "./internal/gated.js"
import * as leases from "./internal/leases.js"
import type * as regions from "./internal/regions.js"
import * as validate from "./internal/validate.js"
import type { InvalidKey, KeyValueStoreError } from "./KeyValueStoreError.js"
import {
  InvalidArgument,
  isKeyValueStoreError,
  KeyNotFound,
  LockLost,
  NotANumber,
  Unsupported,
  ValueTooLarge
} from "./KeyValueStoreError.js"
import * as Pattern from "./Pattern.js"

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
 * Options of a lock (a lease kept alive by a heartbeat while held).
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
 * A checked write of `setMany`.
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

// The primitives that `make` runs behind a gate: every one that touches the engine.
const gatedEffects = ["clear", "volume"] as const
const gatedFunctions = [
  "get",
  "getEntry",
  "set",
  "remove",
  "modify",
  "expire",
  "size",
  "has",
  "getMany",
  "setMany",
  "removeMany",
  "expiresAt",
  "touch",
  "scanKeys",
  "scanEntries",
  "countRange",
  "removeRange",
  "removeTag",
  "check"
] as const


const guarded = (p: Primitives, gate: regions.Gate): Primitives => {
  const out: Record<string, unknown> = { ...p }
  for (const name of gatedEffects) {
    const effect = p[name]
    if (effect !== undefined) out[name] = gate.guard(effect)
  }
  for (const name of gatedFunctions) {
    const f = p[name] as ((...args: Array<unknown>) => Effect.Effect<unknown, KeyValueStoreError>) | undefined
    if (f !== undefined) out[name] = (...args: Array<unknown>) => gate.guard(Effect.suspend(() => f(...args)))
  }
  if (p.leases !== undefined) out.leases = leases.guarded(p.leases, gate)
  const result = out as unknown as Primitives
  gated.mark(result)
  return result
}

/** Keys per page of an enumeration. */
const KEY_PAGE = 1000
/** Entries per page of an enumeration with values (values may be large). */
const ENTRY_PAGE = 100

const defaultTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

// `ignoreBOM`: a leading U+FEFF is part of the value, never silently dropped.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true })

// Runs a synchronous fast path: a thrown KeyValueStoreError becomes the failure (named after `method` when given),
// anything else is a defect.
const attempt = <K, A>(
  f: (key: K, now: number) => A,
  key: K,
  now: number,
  method?: string
): Effect.Effect<A, KeyValueStoreError> => {
  try {
    return Effect.succeed(f(key, now))
  } catch (error) {
    if (!isKeyValueStoreError(error)) return Effect.die(error)
    return Effect.fail(method === undefined ? error : renamed(error, method))
  }
}

const plainWrite: Write = { expiresAt: null, tags: [], metadata: null }
const empty = new Uint8Array(0)
const keep: Mutation = { _tag: "Keep" }
const removal: Mutation = { _tag: "Remove" }

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.byteLength !== b.byteLength) return false
  return Buffer.compare(a, b) === 0
}

const decimal = /^[+-]?\d+$/

/**
 * Builds the whole service from a backend's primitives. Argument checks, ttl arithmetic from `Clock`, statistics,
 * spans and the derived operations live here once; a backend may pass native versions of derived operations.
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
  const gate = primitives.gate
  const p = gate === undefined || gated.isBehindGate(primitives) ? primitives : guarded(primitives, gate)
  const backend = p.backend
  const maxKeyBytes = p.maxKeyBytes ?? 1024
  const maxValueBytes = p.maxValueBytes ?? 512 * 1024 * 1024
  const counters = { hits: 0, misses: 0, writes: 0, removes: 0 }

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
  const useServices = (fiber: Fiber.RuntimeFiber<unknown, unknown>): void => {
    const services = fiber.getFiberRef(DefaultServices.currentServices)
    if (services !== lastServices) {
      lastServices = services
      clock = Context.get(services, Clock.Clock)
      untraced = Context.get(services, Tracer.Tracer) === defaultTracer
    }
  }

  // A fast path runs only for a fiber the store's gate admits (no transaction region of other fibers is open).
  const admitted = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => gate === undefined || gate.admits(fiber)

  // The synchronous variant: `f` runs in the same step, its thrown KeyValueStoreError becomes the failure. `slow`
  // replaces it for a fiber the gate does not admit yet.
  const withNowSync = <A>(
    method: string,
    key: string | undefined,
    f: (now: number) => A,
    slow?: () => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) => {
      if (slow !== undefined && !admitted(fiber)) return slow()
      useServices(fiber)
      if (untraced) return attempt(f, clock.unsafeCurrentTimeMillis(), 0)
      const now = clock.unsafeCurrentTimeMillis()
      return span(Effect.suspend(() => attempt(f, now, 0)), method, key)
    })

  const isError = isKeyValueStoreError
  const unsupported = (method: string) => Effect.fail(new Unsupported({ method, backend }))

  // The fence of a write (`options.fence`) as the primitives take it: undefined without one, or the error refusing it.
  const fenceOf = (method: string, key: string | undefined, lock: unknown): Fence | undefined | KeyValueStoreError => {
    if (lock === undefined) return undefined
    if (!p.capabilities.fencedWrites || p.leases === undefined) return new Unsupported({ method, key, backend })
    return leases.fenceOf(p.leases, lock, method, key)
  }

  // A backend's `LockLost` names the lock as its lease table knows it (namespace prefixes included): the caller's
  // name for it instead.
  const fenced = <A>(
    self: Effect.Effect<A, KeyValueStoreError>,
    lock: unknown
  ): Effect.Effect<A, KeyValueStoreError> =>
    lock === undefined ? self : Effect.mapError(self, (error) => {
      if (error._tag !== "LockLost") return error
      const name = (lock as Lock).name
      if (error.name === name) return error
      return new LockLost(
        error.key === undefined ? { method: error.method, name } : { method: error.method, key: error.key, name }
      )
    })

  // Operations that read their arguments' fields (options, Options, patterns, effects) read them when the call runs:
  // a throwing getter or proxy trap makes the call die, it never throws where the Effect is built.
  const deferred = <Args extends Array<any>, A>(
    f: (...args: Args) => Effect.Effect<A, KeyValueStoreError>
  ) =>
  (...args: Args): Effect.Effect<A, KeyValueStoreError> => Effect.suspend(() => f(...args))

  // A ttl on a backend without expiry (an index) is refused rather than ignored.
  const expiryOf = (
    method: string,
    key: string,
    ttl: Duration.DurationInput | undefined,
    now: number
  ): number | null | InvalidArgument | Unsupported => {
    const expiresAt = validate.expiryOf(method, key, ttl, now)
    if (expiresAt !== null && typeof expiresAt === "object") return expiresAt
    return expiresAt !== null && !p.capabilities.expiry ? new Unsupported({ method, key, backend }) : expiresAt
  }

  // `copy: false` only for a synchronous fast path, which hands the bytes to its engine before the caller runs again.
  const checkWrite = (
    method: string,
    key: string,
    value: unknown,
    options: SetOptions | undefined,
    now: number,
    copy = true
  ): { readonly value: Uint8Array; readonly write: Write } | KeyValueStoreError => {
    const keyError = validate.checkKey(method, key, maxKeyBytes)
    if (keyError) return keyError
    const bytes = validate.checkValue(method, key, value, maxValueBytes, copy)
    if (!(bytes instanceof Uint8Array)) return bytes
    if (options === undefined) return { value: bytes, write: plainWrite }
    const optionsError = validate.checkOptions(method, key, options)
    if (optionsError) return optionsError
    // Each field is read once: a getter cannot show the check one value and the write another.
    const { metadata: metadataInput, tags: tagsInput, ttl } = options
    const expiresAt = expiryOf(method, key, ttl, now)
    if (isError(expiresAt)) return expiresAt
    const tags = validate.checkTags(method, key, tagsInput)
    if (tags instanceof InvalidArgument) return tags
    if (tags.length > 0 && !p.capabilities.tags) return new Unsupported({ method, key, backend })
    const metadata = validate.checkMetadata(method, key, metadataInput)
    if (metadata instanceof InvalidArgument) return metadata
    if (metadata !== null && !p.capabilities.metadata) return new Unsupported({ method, key, backend })
    return { value: bytes, write: { expiresAt, tags, metadata } }
  }

  const checkedKey = <A>(method: string, key: string, self: () => Effect.Effect<A, KeyValueStoreError>) => {
    const error = validate.checkKey(method, key, maxKeyBytes)
    return error ? Effect.fail(error) : self()
  }

  const keyed = <A>(
    method: string,
    key: string,
    f: (now: number) => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> => checkedKey(method, key, () => withNow(method, key, f))

  const keyedSync = <A>(
    method: string,
    key: string,
    f: (now: number) => A,
    slow: (now: number) => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> =>
    checkedKey(method, key, () => withNowSync(method, key, f, () => withNow(method, key, slow)))

  // A store without locks still checks their arguments, then fails with `Unsupported`.
  const lockArguments = (
    name: string,
    options: LockOptions | undefined,
    method: string
  ): Effect.Effect<never, KeyValueStoreError> => {
    const settings = leases.settingsOf(name, options)
    return settings instanceof InvalidArgument ? Effect.fail(settings) : unsupported(method)
  }

  // Statistics count the mutation that committed, after the backend returns: `f` may run more than once. `lock`: the
  // operation's fence, checked by the backend before `f` runs.
  const modify = <A>(
    method: string,
    key: string,
    f: (current: Option.Option<Entry>, now: number) => readonly [A, Mutation] | KeyValueStoreError,
    lock?: unknown
  ): Effect.Effect<A, KeyValueStoreError> =>
    keyed(method, key, (now) => {
      const fence = fenceOf(method, key, lock)
      if (isError(fence)) return Effect.fail(fence)
      let failure: KeyValueStoreError | undefined
      let decided: Mutation = keep
      let thrown: { readonly defect: unknown } | undefined
      return fenced(
        p.modify(key, now, (current) => {
          failure = undefined
          thrown = undefined
          decided = keep
          let result: readonly [A, Mutation] | KeyValueStoreError
          try {
            result = f(current, now)
          } catch (defect) {
            // A throw from the caller's code (the function of `update`): the entry is kept, the call dies with it.
            thrown = { defect }
            return [undefined as A, keep]
          }
          if ("_tag" in result) {
            failure = result
            return [undefined as A, keep]
          }
          decided = result[1]
          return result
        }, fence),
        lock
      ).pipe(
        Effect.mapError((error) => renamed(error, method)),
        Effect.flatMap((a) => {
          if (thrown !== undefined) return Effect.die(thrown.defect)
          if (failure !== undefined) return Effect.fail(failure)
          if (decided._tag === "Write") counters.writes++
          else if (decided._tag === "Remove") counters.removes++
          return Effect.succeed(a)
        })
      )
    })

  const has = p.has ?? ((key: string, now: number) => Effect.map(p.get(key, now), Option.isSome))

  const countRead = <A>(found: Option.Option<A>): Option.Option<A> => {
    if (found._tag === "Some") counters.hits++
    else counters.misses++
    return found
  }

  const fast = p.unsafe

  const fastGet = (key: string, now: number) => countRead(fast!.get(key, now))
  // `get` under the name of the public method calling it (`get`, `getString`), which its errors and span carry.
  const getAs = (method: string): Service["get"] => {
    const slow: Service["get"] = (key) =>
      keyed(method, key, (now) => Effect.map(named(p.get(key, now), method), countRead))
    return fast
      ? (key) => {
        const error = validate.checkKey(method, key, maxKeyBytes)
        if (error !== undefined) return Effect.fail(error)
        return Effect.withFiberRuntime((fiber) => {
          if (!admitted(fiber)) return slow(key)
          useServices(fiber)
          const now = clock.unsafeCurrentTimeMillis()
          if (!untraced) return span(Effect.suspend(() => attempt(fastGet, key, now, method)), method, key)
          return attempt(fastGet, key, now, method)
        })
      }
      : slow
  }
  const get = getAs("get")
  const getStringBytes = getAs("getString")
  const getOrFailBytes = getAs("getOrFail")

  const slowSet: Service["set"] = (key, value, options) =>
    withNow("set", key, (now) => {
      const checked = checkWrite("set", key, value, options, now)
      if (isError(checked)) return Effect.fail(checked)
      const lock = options?.fence
      const fence = fenceOf("set", key, lock)
      if (isError(fence)) return Effect.fail(fence)
      return Effect.map(fenced(p.set(key, checked.value, checked.write, now, fence), lock), () => {
        counters.writes++
      })
    })
  // A fenced write takes the primitive: the fast path has no fence.
  const set: Service["set"] = fast
    ? (key, value, options) =>
      options?.fence !== undefined ? slowSet(key, value, options) : withNowSync("set", key, (now) => {
        const checked = checkWrite("set", key, value, options, now, false)
        if (isError(checked)) throw checked
        fast.set(key, checked.value, checked.write, now)
        counters.writes++
      }, () => slowSet(key, value, options))
    : slowSet

  const countRemoved = (removed: boolean): boolean => {
    if (removed) counters.removes++
    return removed
  }

  const slowRemove: Service["remove"] = (key, options) =>
    keyed("remove", key, (now) => {
      const lock = options?.fence
      const fence = fenceOf("remove", key, lock)
      if (isError(fence)) return Effect.fail(fence)
      return Effect.map(fenced(p.remove(key, now, fence), lock), countRemoved)
    })
  const remove: Service["remove"] = fast
    ? (key, options) =>
      options?.fence !== undefined ? slowRemove(key, options) : keyedSync(
        "remove",
        key,
        (now) => countRemoved(fast.remove(key, now)),
        (now) => Effect.map(p.remove(key, now), countRemoved)
      )
    : slowRemove

  const counter = (method: string) => (key: string, delta: number | bigint = 1, options?: CounterOptions) => {
    const sign = method === "decrement" ? -1n : 1n
    const d = validate.checkCounterArgument(method, key, "delta", delta)
    if (d instanceof InvalidArgument) return Effect.fail(d)
    const optionsError = validate.checkOptions(method, key, options)
    if (optionsError) return Effect.fail(optionsError)
    const { initial: initialInput, ttl } = options ?? {}
    const initial = validate.checkCounterArgument(method, key, "initial", initialInput === undefined ? 0 : initialInput)
    if (initial instanceof InvalidArgument) return Effect.fail(initial)
    return modify(method, key, (current, now): readonly [bigint, Mutation] | KeyValueStoreError => {
      const expiresAt = expiryOf(method, key, ttl, now)
      if (isError(expiresAt)) return expiresAt
      let base = initial
      let write: Write
      if (current._tag === "Some") {
        // A counter has at most `maxCounterDigits` digits: a longer value is not one (and is not parsed, which would
        // take time quadratic in its length).
        const bytes = current.value.value
        if (bytes.byteLength > validate.limits.maxCounterDigits + 1) {
          return new NotANumber({
            method,
            key,
            reason: `the stored value is longer than a counter's ${validate.limits.maxCounterDigits} digits`
          })
        }
        const text = decoder.decode(bytes)
        if (!decimal.test(text)) return new NotANumber({ method, key })
        base = BigInt(text)
        if (!(base > -validate.counterBound && base < validate.counterBound)) {
          return new NotANumber({
            method,
            key,
            reason: `the stored value is longer than a counter's ${validate.limits.maxCounterDigits} digits`
          })
        }
        write = entryWrite(current.value)
      } else {
        write = { expiresAt, tags: [], metadata: null }
      }
      const next = base + sign * d
      if (!(next > -validate.counterBound && next < validate.counterBound)) {
        return new NotANumber({
          method,
          key,
          reason: `the result would be longer than a counter's ${validate.limits.maxCounterDigits} digits`
        })
      }
      const value = validate.encoder.encode(next.toString())
      if (value.byteLength > maxValueBytes) {
        return new ValueTooLarge({ method, key, size: value.byteLength, limit: maxValueBytes })
      }
      return [next, { _tag: "Write", value, write }]
    }, options?.fence)
  }

  const separator = p.separator ?? "."

  // `keys` and `entries` take an optional pattern (every key); the pattern operations require one: `removePattern()`
  // removing everything by mistake would be the worst answer to a missing argument.
  const patternOf = (
    method: string,
    pattern: string | Pattern.Pattern | undefined
  ): Pattern.Pattern | InvalidArgument => {
    if (pattern === undefined) {
      return method === "keys" || method === "entries"
        ? Pattern.all(separator)
        : new InvalidArgument({ method, argument: "pattern", reason: "expected a string or a Pattern, got undefined" })
    }
    if (Pattern.isPattern(pattern)) {
      return pattern.separator === separator ? pattern : new InvalidArgument({
        method,
        argument: "pattern",
        reason: `compiled for separator ${JSON.stringify(pattern.separator)}, the store's is ${
          JSON.stringify(separator)
        }`
      })
    }
    if (typeof pattern !== "string") {
      return new InvalidArgument({
        method,
        argument: "pattern",
        reason: `expected a string or a Pattern, got ${validate.show(pattern)}`
      })
    }
    return Either.merge(Pattern.compile(pattern, { separator, method }))
  }

  // Pages through the engine's key range by cursor, filtering each page with the pattern's matcher.
  const enumerate = <R>(
    method: string,
    pattern: string | Pattern.Pattern | undefined,
    scan: ((range: ScanRange, now: number) => Effect.Effect<ReadonlyArray<R>, KeyValueStoreError>) | undefined,
    keyOf: (row: R) => string,
    limit: number
  ): Stream.Stream<R, KeyValueStoreError> => {
    const compiled = patternOf(method, pattern)
    if (compiled instanceof InvalidArgument) return Stream.fail(compiled)
    if (scan === undefined) return Stream.fail(new Unsupported({ method, backend }))
    const { exhaustive, matches, prefix } = compiled
    return Stream.paginateChunkEffect(
      undefined as string | undefined,
      (after) =>
        withNow(method, undefined, (now) =>
          Effect.map(named(scan({ prefix, after, limit }, now), method), (rows) => {
            const page = exhaustive ? rows : rows.filter((row) => matches(keyOf(row)))
            const last = rows.length < limit ? undefined : rows[rows.length - 1]
            return [
              Chunk.unsafeFromArray(page),
              last === undefined ? Option.none<string | undefined>() : Option.some(keyOf(last))
            ] as const
          }))
    )
  }

  const keyOfRow = (row: readonly [string, Uint8Array]) => row[0]
  const entries: Service["entries"] = (pattern) =>
    Stream.suspend(() => enumerate("entries", pattern, p.scanEntries, keyOfRow, ENTRY_PAGE))

  const removePattern: Service["removePattern"] = (pattern) => {
    const compiled = patternOf("removePattern", pattern)
    if (compiled instanceof InvalidArgument) return Effect.fail(compiled)
    return withNow("removePattern", undefined, (now) =>
      Effect.map(
        removeMatching(
          p,
          "removePattern",
          { prefix: compiled.prefix, after: undefined },
          compiled.exhaustive ? undefined : compiled.matches,
          now
        ),
        (n) => {
          counters.removes += n
          return n
        }
      ))
  }

  const store: Service = {
    [TypeId]: TypeId,
    backend,
    capabilities: p.capabilities,
    separator,
    primitives: p,
    get,
    getString: (key) => Effect.map(getStringBytes(key), Option.map((bytes) => decoder.decode(bytes))),
    getOrFail: (key) =>
      Effect.flatMap(getOrFailBytes(key), (found) =>
        found._tag === "Some"
          ? Effect.succeed(found.value)
          : Effect.fail(new KeyNotFound({ method: "getOrFail", key }))),
    getEntry: (key) => keyed("getEntry", key, (now) => Effect.map(p.getEntry(key, now), countRead)),
    set,
    has: fast ?
      (key) => keyedSync("has", key, (now) => fast.has(key, now), (now) => has(key, now)) :
      (key) => keyed("has", key, (now) => has(key, now)),
    remove,
    pop: (key, options) =>
      modify("pop", key, (current) => {
        if (current._tag === "None") return [Option.none(), keep] as const
        return [Option.some(current.value.value), removal] as const
      }, options?.fence),
    add: (key, value, options) =>
      modify("add", key, (current, now) => {
        const checked = checkWrite("add", key, value, options, now)
        if (isError(checked)) return checked
        if (current._tag === "Some") return [false, keep] as const
        return [true, { _tag: "Write", ...checked }] as const
      }, options?.fence),
    touch: (key, ttl, options) =>
      keyed("touch", key, (now) => {
        const expiresAt = expiryOf("touch", key, ttl, now)
        if (isError(expiresAt)) return Effect.fail(expiresAt)
        const lock = options?.fence
        const fence = fenceOf("touch", key, lock)
        if (isError(fence)) return Effect.fail(fence)
        if (p.touch) return fenced(p.touch(key, expiresAt, now, fence), lock)
        return Effect.mapError(
          fenced(
            p.modify(key, now, (current) =>
              current._tag === "None"
                ? [false, keep] as const
                : [true, {
                  _tag: "Write",
                  value: current.value.value,
                  write: { ...entryWrite(current.value), expiresAt }
                }] as const, fence),
            lock
          ),
          (error) => renamed(error, "touch")
        )
      }),
    ttl: (key) =>
      keyed("ttl", key, (now) => {
        const expiry = p.expiresAt
          ? p.expiresAt(key, now)
          : Effect.map(
            p.getEntry(key, now),
            Option.map((entry) => Option.getOrNull(entry.expiresAt))
          )
        return Effect.map(expiry, Option.map((at) => remaining(at, now)))
      }),
    setMetadata: (key, metadata, options) =>
      modify("setMetadata", key, (current) => {
        const checked = validate.checkMetadata("setMetadata", key, metadata, false)
        if (checked instanceof InvalidArgument) return checked
        if (!p.capabilities.metadata) return new Unsupported({ method: "setMetadata", key, backend })
        if (current._tag === "None") return [false, keep] as const
        return [true, {
          _tag: "Write",
          value: current.value.value,
          write: { ...entryWrite(current.value), metadata: checked }
        }] as const
      }, options?.fence),

    increment: deferred(counter("increment")),
    decrement: deferred(counter("decrement")),
    compareAndSwap: deferred((key, expected, next, options) => {
      const optionsError = validate.checkOptions("compareAndSwap", key, options)
      if (optionsError) return Effect.fail(optionsError)
      for (const [argument, option] of [["expected", expected], ["next", next]] as const) {
        if (!Option.isOption(option)) {
          return Effect.fail(
            new InvalidArgument({ method: "compareAndSwap", key, argument, reason: "expected an Option" })
          )
        }
      }
      let expectedBytes: Option.Option<Uint8Array> = Option.none()
      if (expected._tag === "Some") {
        const bytes = validate.checkValue("compareAndSwap", key, expected.value, Infinity)
        if (!(bytes instanceof Uint8Array)) return Effect.fail(bytes)
        expectedBytes = Option.some(bytes)
      }
      return modify("compareAndSwap", key, (current, now) => {
        const checked = checkWrite("compareAndSwap", key, Option.getOrElse(next, () => empty), options, now)
        if (isError(checked)) return checked
        const matches = current._tag === "None"
          ? expectedBytes._tag === "None"
          : expectedBytes._tag === "Some" && equalBytes(current.value.value, expectedBytes.value)
        if (!matches) return [false, keep] as const
        if (next._tag === "None") {
          return [true, current._tag === "Some" ? removal : keep] as const
        }
        return [true, { _tag: "Write", ...checked }] as const
      }, options?.fence)
    }),
    append: (key, value, options) =>
      modify("append", key, (current) => {
        const bytes = validate.checkValue("append", key, value, maxValueBytes)
        if (!(bytes instanceof Uint8Array)) return bytes
        const joined = current._tag === "None" ? bytes : Buffer.concat([current.value.value, bytes])
        if (joined.byteLength > maxValueBytes) {
          return new ValueTooLarge({ method: "append", key, size: joined.byteLength, limit: maxValueBytes })
        }
        const write = current._tag === "None"
          ? { expiresAt: null, tags: [], metadata: null }
          : entryWrite(current.value)
        return [joined.byteLength, { _tag: "Write", value: joined, write }] as const
      }, options?.fence),
    update: (key, f, options) =>
      modify("update", key, (current, now) => {
        if (typeof f !== "function") {
          return new InvalidArgument({
            method: "update",
            key,
            argument: "f",
            reason: `expected a function, got ${validate.show(f)}`
          })
        }
        if (options !== undefined) {
          const invalid = checkWrite("update", key, empty, options, now)
          if (isError(invalid)) return invalid
        }
        const next: unknown = f(Option.map(current, (entry) => entry.value))
        if (!Option.isOption(next)) {
          return new InvalidArgument({
            method: "update",
            key,
            argument: "f",
            reason: `the function must return an Option, it returned ${validate.show(next)}`
          })
        }
        if (next._tag === "None") {
          return [Option.none(), current._tag === "Some" ? removal : keep] as const
        }
        const checked = checkWrite("update", key, next.value, options, now)
        if (isError(checked)) return checked
        return [Option.some(checked.value), { _tag: "Write", ...checked }] as const
      }, options?.fence),

    getMany: (keys) =>
      Effect.suspend(() => {
        const list = validate.checkBatch("getMany", "keys", keys)
        if (list instanceof InvalidArgument) return Effect.fail(list)
        for (const key of list) {
          const error = validate.checkKey("getMany", key, maxKeyBytes)
          if (error) return Effect.fail(error)
        }
        const checked = list as Array<string>
        return withNow("getMany", undefined, (now) =>
          Effect.map(
            p.getMany ? p.getMany(checked, now) : Effect.forEach(checked, (key) => p.get(key, now)),
            (found) => {
              for (const option of found) countRead(option)
              return found
            }
          ))
      }),
    setMany: (entries, batch) =>
      withNow("setMany", undefined, (now) => {
        const items = validate.checkBatch("setMany", "entries", entries)
        if (items instanceof InvalidArgument) return Effect.fail(items)
        const checked: Array<WriteEntry> = []
        for (const item of items) {
          if (!Array.isArray(item) || item.length < 2 || item.length > 3) {
            return Effect.fail(
              new InvalidArgument({
                method: "setMany",
                argument: "entries",
                reason: `each entry must be an array [key, value] or [key, value, options], got ${validate.show(item)}`
              })
            )
          }
          const [key, value, options] = item as [string, Value, SetOptions | undefined]
          const entry = checkWrite("setMany", key, value, options, now)
          if (isError(entry)) return Effect.fail(entry)
          if (options?.fence !== undefined) {
            return Effect.fail(
              new InvalidArgument({
                method: "setMany",
                key,
                argument: "fence",
                reason: "a batch has one fence, given in setMany's own options, not in an entry's"
              })
            )
          }
          checked.push({ key, value: entry.value, write: entry.write })
        }
        const lock = batch?.fence
        const fence = fenceOf("setMany", undefined, lock)
        if (isError(fence)) return Effect.fail(fence)
        // A fenced batch is one atomic step of the backend, or nothing.
        if (fence !== undefined && !p.setMany) return unsupported("setMany")
        return Effect.map(
          p.setMany
            ? fenced(p.setMany(checked, now, fence), lock)
            : Effect.forEach(checked, (entry) => p.set(entry.key, entry.value, entry.write, now), { discard: true }),
          () => {
            counters.writes += checked.length
          }
        )
      }),
    removeMany: (keys, batch) =>
      Effect.suspend(() => {
        const list = validate.checkBatch("removeMany", "keys", keys)
        if (list instanceof InvalidArgument) return Effect.fail(list)
        for (const key of list) {
          const error = validate.checkKey("removeMany", key, maxKeyBytes)
          if (error) return Effect.fail(error)
        }
        const checked = list as Array<string>
        const lock = batch?.fence
        const fence = fenceOf("removeMany", undefined, lock)
        if (isError(fence)) return Effect.fail(fence)
        if (fence !== undefined && !p.removeMany) return unsupported("removeMany")
        return withNow("removeMany", undefined, (now) =>
          Effect.map(
            p.removeMany
              ? fenced(p.removeMany(checked, now, fence), lock)
              : Effect.reduce(checked, 0, (n, key) => Effect.map(p.remove(key, now), (removed) => removed ? n + 1 : n)),
            (n) => {
              counters.removes += n
              return n
            }
          ))
      }),

    keys: (pattern) => Stream.suspend(() => enumerate("keys", pattern, p.scanKeys, identity, KEY_PAGE)),
    entries,
    getPattern: (pattern) =>
      Stream.suspend(() => enumerate("getPattern", pattern, p.scanEntries, keyOfRow, ENTRY_PAGE)),
    countPattern: deferred((pattern: string | Pattern.Pattern) => {
      const compiled = patternOf("countPattern", pattern)
      if (compiled instanceof InvalidArgument) return Effect.fail(compiled)
      if (compiled.exhaustive && p.countRange) {
        return withNow(
          "countPattern",
          undefined,
          (now) => named(p.countRange!({ prefix: compiled.prefix, after: undefined }, now), "countPattern")
        )
      }
      return Stream.runCount(enumerate("countPattern", compiled, p.scanKeys, identity, KEY_PAGE))
    }),
    removePattern: deferred(removePattern),
    removeTag: (tag) => {
      const tagError = validate.checkTag("removeTag", tag)
      if (tagError) return Effect.fail(tagError)
      return p.removeTag
        ? withNow("removeTag", undefined, (now) =>
          Effect.map(named(p.removeTag!(tag, now), "removeTag"), (n) => {
            counters.removes += n
            return n
          }))
        : unsupported("removeTag")
    },

    expire: withNow("expire", undefined, p.expire),
    clear: traced(p.clear, "clear"),
    size: withNow("size", undefined, p.size),
    volume: p.volume ? traced(p.volume, "volume") : Effect.succeed(0),
    stats: Effect.sync(() => ({
      evictions: 0,
      expirations: 0,
      ...counters,
      ...p.counters?.()
    })),
    resetStats: Effect.sync(() => {
      counters.hits =
        counters.misses =
        counters.writes =
        counters.removes =
          0
      p.resetCounters?.()
    }),

    withTransaction: (effect) =>
      Effect.suspend(() =>
        !Effect.isEffect(effect)
          ? Effect.fail(notAnEffect("withTransaction", effect))
          : p.withTransaction
          ? p.withTransaction(effect)
          : Effect.zipRight(unsupported("withTransaction"), effect)
      ),
    transaction: p.transaction ?? unsupported("transaction"),
    // Argument errors come before `Unsupported`, here as everywhere.
    lock: p.leases
      ? leases.lock(p.leases, backend, gate)
      : deferred((name: string, options?: LockOptions) => lockArguments(name, options, "lock")),
    withLock: (name, options) => (effect) =>
      Effect.suspend(() =>
        !Effect.isEffect(effect)
          ? Effect.fail(notAnEffect("withLock", effect))
          : p.leases
          ? leases.withLock(store.lock, name, options, effect)
          : Effect.zipRight(lockArguments(name, options, "withLock"), effect)
      ),
    check: deferred((options?: CheckOptions) => {
      const checked = checkOptionsOf(options)
      if (checked instanceof InvalidArgument) return Effect.fail(checked)
      return p.check ? traced(named(p.check(checked), "check"), "check") : unsupported("check")
    })
  }
  return store
}

// A backend names its own primitive in its errors (`modify`, `keys`, `countPattern`, ...); the caller sees the public
// operation it called instead.
const renamed = (error: KeyValueStoreError, method: string): KeyValueStoreError => {
  if (error.method === method) return error
  const { _tag, ...fields } = error as KeyValueStoreError & { readonly cause?: unknown }
  const cause = (error as { readonly cause?: unknown }).cause
  const Class = error.constructor as new(fields: object) => KeyValueStoreError
  return new Class(cause === undefined ? { ...fields, method } : { ...fields, cause, method })
}

const named = <A>(self: Effect.Effect<A, KeyValueStoreError>, method: string): Effect.Effect<A, KeyValueStoreError> =>
  Effect.mapError(self, (error) => renamed(error, method))

const notAnEffect = (method: string, effect: unknown) =>
  new InvalidArgument({ method, argument: "effect", reason: `expected an Effect, got ${validate.show(effect)}` })

// The options of `check`, each field read once; unknown fields are passed on.
const checkOptionsOf = (options: CheckOptions | undefined): CheckOptions | undefined | InvalidArgument => {
  const optionsError = validate.checkOptions("check", undefined, options)
  if (optionsError) return optionsError
  if (options === undefined) return undefined
  const { fix, minOrphanAge } = options
  if (fix !== undefined && typeof fix !== "boolean") {
    return new InvalidArgument({
      method: "check",
      argument: "fix",
      reason: `expected a boolean, got ${validate.show(fix)}`
    })
  }
  if (minOrphanAge !== undefined) {
    const millis = validate.durationOf(minOrphanAge, { zero: true, infinite: true })
    if (typeof millis === "string") {
      return new InvalidArgument({ method: "check", argument: "minOrphanAge", reason: millis })
    }
  }
  return { ...options, fix, minOrphanAge }
}

const remaining = (expiresAt: number | null, now: number): Duration.Duration =>
  expiresAt === null ? Duration.infinity : Duration.millis(Math.max(0, expiresAt - now))

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
export const entryWrite = (entry: Entry): Write => ({
  expiresAt: Option.getOrNull(entry.expiresAt),
  tags: entry.tags,
  metadata: Option.getOrNull(entry.metadata)
})

/**
 * Stacks a policy layer (one that needs a `KeyValueStore` and gives one) on top of a store layer.
 *
 * @example
 * ```ts
 * import { KeyValueStore, MemoryStore } from "effect-kv"
 * // MemoryStore.layer().pipe(KeyValueStore.wrap(SomePolicy.layer(options)))
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const wrap: {
  <E2, R2>(
    policy: Layer.Layer<KeyValueStore, E2, R2 | KeyValueStore>
  ): <E, R>(
    self: Layer.Layer<KeyValueStore, E, R>
  ) => Layer.Layer<KeyValueStore, E | E2, R | Exclude<R2, KeyValueStore>>
  <E, R, E2, R2>(
    self: Layer.Layer<KeyValueStore, E, R>,
    policy: Layer.Layer<KeyValueStore, E2, R2 | KeyValueStore>
  ): Layer.Layer<KeyValueStore, E | E2, R | Exclude<R2, KeyValueStore>>
} = dual(2, <E, R, E2, R2>(
  self: Layer.Layer<KeyValueStore, E, R>,
  policy: Layer.Layer<KeyValueStore, E2, R2 | KeyValueStore>
) => Layer.provide(policy, self))

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
 * that no later write, transfer or resize by the caller changes what is stored; a batch is an iterable (not a string)
 * of items of the right shape. A function given to the store that throws (`update`'s, an iterator, a getter) makes the
 * call die with that throw (a defect of the caller, as in `Effect.sync`), with the store unchanged.
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
 * Removes the live keys of `range` that `matches` accepts (all of them when `undefined`): in one engine statement
 * when the backend has `removeRange` and no filter is needed, otherwise page by page through `scanKeys`. Errors name
 * `method`.
 */
const removeMatching = (
  p: Primitives,
  method: string,
  range: KeyRange,
  matches: ((key: string) => boolean) | undefined,
  now: number
): Effect.Effect<number, KeyValueStoreError> => {
  if (matches === undefined && p.removeRange) return named(p.removeRange(range, now), method)
  const prefix = range.prefix
  const scan = p.scanKeys
  if (scan === undefined) return Effect.fail(new Unsupported({ method, backend: p.backend }))
  const removeKeys = (keys: ReadonlyArray<string>): Effect.Effect<number, KeyValueStoreError> =>
    p.removeMany
      ? p.removeMany(keys, now)
      : Effect.reduce(keys, 0, (n, key) => Effect.map(p.remove(key, now), (removed) => removed ? n + 1 : n))
  const page = (after: string | undefined, total: number): Effect.Effect<number, KeyValueStoreError> =>
    Effect.flatMap(scan({ prefix, after, limit: KEY_PAGE }, now), (keys) => {
      const matched = matches === undefined ? keys : keys.filter(matches)
      const removed = matched.length === 0 ? Effect.succeed(0) : removeKeys(matched)
      return Effect.flatMap(
        removed,
        (n) => keys.length < KEY_PAGE ? Effect.succeed(total + n) : page(keys[keys.length - 1], total + n)
      )
    })
  return named(page(range.after, 0), method)
}

/** Number of live keys of `range`: counted by the engine, or page by page through `scanKeys`. Errors name `method`. */
const countMatching = (
  p: Primitives,
  method: string,
  range: KeyRange,
  now: number
): Effect.Effect<number, KeyValueStoreError> => {
  if (p.countRange) return named(p.countRange(range, now), method)
  const scan = p.scanKeys
  if (scan === undefined) return Effect.fail(new Unsupported({ method, backend: p.backend }))
  const page = (after: string | undefined, total: number): Effect.Effect<number, KeyValueStoreError> =>
    Effect.flatMap(
      scan({ prefix: range.prefix, after, limit: KEY_PAGE }, now),
      (keys) =>
        keys.length < KEY_PAGE ? Effect.succeed(total + keys.length) : page(keys[keys.length - 1], total + keys.length)
    )
  return named(page(range.after, 0), method)
}

// The primitives of a namespace: every key, tag, lock name and scanned range gains the prefix on the way in and loses
// it on the way out, so `make` over them gives a store that sees only its own entries. A namespace's keys are the
// keys strictly longer than the prefix (a key equal to it belongs to the store outside), and its tags are the tags
// carrying the prefix: an entry's other tags are not shown, and a write that keeps the entry's tags keeps them too.
const prefixed = (p: Primitives, ns: string): Primitives => {
  const cut = ns.length
  const add = (text: string) => ns + text
  const strip = (text: string) => text.slice(cut)
  const ownTag = (tag: string) => tag.length > cut && tag.startsWith(ns)
  const writeIn = (write: Write): Write => write.tags.length === 0 ? write : { ...write, tags: write.tags.map(add) }
  const entryOut = (entry: Entry): Entry => ({
    ...entry,
    key: strip(entry.key),
    tags: entry.tags.length === 0 ? entry.tags : Object.freeze(entry.tags.filter(ownTag).map(strip))
  })
  // The whole namespace: the keys after the prefix itself.
  const inside: KeyRange = { prefix: ns, after: ns }
  const keyRangeIn = (range: KeyRange): KeyRange =>
    range.after !== undefined
      ? { prefix: ns + range.prefix, after: ns + range.after }
      : range.prefix === ""
      ? inside
      : { prefix: ns + range.prefix, after: undefined }
  const rangeIn = (range: ScanRange): ScanRange => ({ ...keyRangeIn(range), limit: range.limit })
  const unsafe = p.unsafe
  const out: Primitives = {
    backend: p.backend,
    capabilities: p.capabilities,
    separator: p.separator,
    maxKeyBytes: p.maxKeyBytes,
    maxValueBytes: p.maxValueBytes,
    get: (key, now) => p.get(add(key), now),
    getEntry: (key, now) => Effect.map(p.getEntry(add(key), now), Option.map(entryOut)),
    // A fence names its lock as the engine's lease table does: it passes through unchanged.
    set: (key, value, write, now, fence) => p.set(add(key), value, writeIn(write), now, fence),
    remove: (key, now, fence) => p.remove(add(key), now, fence),
    modify: (key, now, f, fence) =>
      p.modify(add(key), now, (current) => {
        const view = Option.map(current, entryOut)
        const [result, mutation] = f(view)
        if (mutation._tag !== "Write") return [result, mutation]
        // The write kept the tags it was shown (`entryWrite`): it keeps every tag of the entry, the hidden ones too.
        const kept = current._tag === "Some" && view._tag === "Some" && mutation.write.tags === view.value.tags
        const write = kept ? { ...mutation.write, tags: current.value.tags } : writeIn(mutation.write)
        return [result, { ...mutation, write }]
      }, fence),
    expire: p.expire,
    clear: Effect.asVoid(
      Effect.flatMap(Clock.currentTimeMillis, (now) => removeMatching(p, "clear", inside, undefined, now))
    ),
    size: (now) => countMatching(p, "size", inside, now),
    has: p.has && ((key, now) => p.has!(add(key), now)),
    unsafe: unsafe && {
      get: (key, now) => unsafe.get(add(key), now),
      set: (key, value, write, now) => unsafe.set(add(key), value, writeIn(write), now),
      has: (key, now) => unsafe.has(add(key), now),
      remove: (key, now) => unsafe.remove(add(key), now)
    },
    getMany: p.getMany && ((keys, now) => p.getMany!(keys.map(add), now)),
    setMany: p.setMany &&
      ((entries, now, fence) =>
        p.setMany!(
          entries.map((entry) => ({ key: add(entry.key), value: entry.value, write: writeIn(entry.write) })),
          now,
          fence
        )),
    removeMany: p.removeMany && ((keys, now, fence) => p.removeMany!(keys.map(add), now, fence)),
    expiresAt: p.expiresAt && ((key, now) => p.expiresAt!(add(key), now)),
    touch: p.touch && ((key, expiresAt, now, fence) => p.touch!(add(key), expiresAt, now, fence)),
    volume: p.volume,
    scanKeys: p.scanKeys && ((range, now) => Effect.map(p.scanKeys!(rangeIn(range), now), (keys) => keys.map(strip))),
    scanEntries: p.scanEntries &&
      ((range, now) =>
        Effect.map(
          p.scanEntries!(rangeIn(range), now),
          (rows) => rows.map(([key, value]) => [strip(key), value] as const)
        )),
    countRange: p.countRange && ((range, now) => p.countRange!(keyRangeIn(range), now)),
    removeRange: p.removeRange && ((range, now) => p.removeRange!(keyRangeIn(range), now)),
    removeTag: p.removeTag &&
      ((tag, now, range) => p.removeTag!(ns + tag, now, range === undefined ? inside : keyRangeIn(range))),
    gate: p.gate,
    withTransaction: p.withTransaction,
    transaction: p.transaction,
    leases: p.leases && leases.prefixed(p.leases, ns),
    check: p.check
  }
  return gated.inherit(p, out)
}

/**
 * A namespace: the store seen through a key prefix. Every operation is scoped to keys starting with `prefix`,
 * including `clear`, `size`, `keys` and patterns (matched against the keys without the prefix), tags (a namespace's
 * tags are its own) and `stats` (counted per namespace; the underlying store's own `stats` do not see namespace
 * traffic). Store-wide by nature: `expire` (removes expired entries of every namespace, which no read could see
 * anyway), `volume`, transactions and `check`. Namespaces nest. A key may be as long as the store allows without the
 * prefix (the engine stores the prefix on top); argument errors name the key as given, engine errors the full key.
 * Throws `InvalidArgument` for a prefix that is not valid Unicode (`layerPrefix` fails with it instead).
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
} = dual(2, (self: Service, ns: string): Service => {
  const invalid = checkPrefix(ns)
  if (invalid !== undefined) throw invalid
  return ns === "" ? self : make(prefixed(self.primitives, ns))
})

const checkPrefix = (ns: unknown): InvalidArgument | undefined =>
  typeof ns === "string" && ns.isWellFormed()
    ? undefined
    : new InvalidArgument({ method: "prefix", argument: "prefix", reason: "expected a string of valid Unicode" })

/**
 * The Layer form of `prefix`: needs a store and gives the namespace over it.
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
export const layerPrefix = (ns: string): Layer.Layer<KeyValueStore, InvalidArgument, KeyValueStore> =>
  Layer.effect(
    KeyValueStore,
    Effect.flatMap(KeyValueStore, (store) => {
      const invalid = checkPrefix(ns)
      return invalid === undefined ? Effect.succeed(prefix(store, ns)) : Effect.fail(invalid)
    })
  )
