/**
 * effect-kv: an Effect-native key-value store. One `KeyValueStore` service, many backends, typed errors end to end.
 *
 * @since 0.1.0
 */

/**
 * The service tag, its shape and `make(primitives)`.
 *
 * @since 0.1.0
 */
export * as KeyValueStore from "./KeyValueStore.js"

/**
 * Glob patterns over hierarchical keys: the dialect, its literal prefix (an engine key range) and matching.
 *
 * @since 0.1.0
 */
export * as Pattern from "./Pattern.js"

/**
 * The typed error family.
 *
 * @since 0.1.0
 */
export * as KeyValueStoreError from "./KeyValueStoreError.js"

/**
 * Codecs: a Schema's encoded form to bytes and back (JSON, MessagePack, UTF-8 text, raw bytes).
 *
 * @since 0.1.0
 */
export * as Codec from "./Codec.js"

/**
 * Schema-typed views over a store, with a versioned envelope and typed decode failures.
 *
 * @since 0.1.0
 */
export * as TypedStore from "./TypedStore.js"

/**
 * Memoized functions over a store: Effect and Promise functions cached under a key made of their arguments, with the
 * read-through engine's single flight, lease and freshness controls.
 *
 * @since 0.1.0
 */
export * as Memoize from "./Memoize.js"

/**
 * The in-memory backend (tests, the property-test model).
 *
 * @since 0.1.0
 */
export * as MemoryStore from "./backends/MemoryStore.js"

/**
 * The embedded default backend: one SQLite file through raw better-sqlite3 statements.
 *
 * @since 0.1.0
 */
export * as SqliteStore from "./backends/SqliteStore.js"

/**
 * The store over any `@effect/sql` `SqlClient`, joining the application's own transactions.
 *
 * @since 0.1.0
 */
export * as SqlStore from "./backends/SqlStore.js"

/**
 * The PostgreSQL backend: a `SqlStore` over a connection pool of its own, from a URL or connection fields.
 *
 * @since 0.1.0
 */
export * as PostgresStore from "./backends/PostgresStore.js"

/**
 * The MySQL and MariaDB backend: a `SqlStore` over a connection pool of its own, from a URL or connection fields.
 *
 * @since 0.1.0
 */
export * as MysqlStore from "./backends/MysqlStore.js"

/**
 * Keys sharded over several SQLite files by a stable hash, for write concurrency across processes.
 *
 * @since 0.1.0
 */
export * as FanoutStore from "./backends/FanoutStore.js"

/**
 * The store on a Redis server, Valkey or a Redis Cluster (ioredis): Lua scripts for writes and atomic operations,
 * expiry by the store's Clock with a native backstop, ordered enumeration, tags and lease locks.
 *
 * @since 0.1.0
 */
export * as RedisStore from "./backends/RedisStore.js"

/**
 * The store that keeps nothing: writes are checked and forgotten, reads miss (caching switched off, an empty stand-in).
 *
 * @since 0.1.0
 */
export * as NullStore from "./backends/NullStore.js"

/**
 * A store that answers from a secondary store while its primary is unavailable, with writes to the primary or to both.
 *
 * @since 0.1.0
 */
export * as Fallback from "./wrappers/Fallback.js"

/**
 * A store that answers reads and refuses every write (`ReadOnlyViolation`), and a view of a store typed without its
 * writing members.
 *
 * @since 0.1.0
 */
export * as ReadOnly from "./wrappers/ReadOnly.js"

/**
 * Bounds on the ttl of every write: `min`, `max`, and a `default` for writes without one.
 *
 * @since 0.1.0
 */
export * as TtlClamp from "./wrappers/TtlClamp.js"

/**
 * Bounds on the size of every value written, checked before the backend sees the write: fail or skip.
 *
 * @since 0.1.0
 */
export * as LimitSize from "./wrappers/LimitSize.js"

/**
 * A wrapper counting every operation as Effect metrics (calls, hits, misses, writes, removes, failures by tag, a
 * latency histogram) and as a readable per-operation snapshot through the `Statistics` service.
 *
 * @since 0.1.0
 */
export * as Statistics from "./wrappers/Statistics.js"

/**
 * A wrapper logging one line per operation through Effect's logger (operation, key, outcome, duration); values only
 * when asked (byte sizes or full).
 *
 * @since 0.1.0
 */
export * as Logging from "./wrappers/Logging.js"
/**
 * A store routing each key to one of several stores by glob pattern (the first matching route, else a default store),
 * with enumeration merged across them in key order.
 *
 * @since 0.1.0
 */
export * as Routing from "./wrappers/Routing.js"
/**
 * A two-level cache: a bounded in-memory L1 in front of any store, with cross-instance invalidation over Redis
 * pub/sub or PostgreSQL LISTEN/NOTIFY.
 *
 * @since 0.1.0
 */
export * as Tiered from "./wrappers/Tiered.js"

/**
 * A wrapper that retries an operation on a `Schedule` when the engine was unavailable (`BackendError`, `Busy`,
 * `Timeout`), never re-running a user's effect nor an operation an ambiguous failure may have applied.
 *
 * @since 0.1.0
 */
export * as Retry from "./wrappers/Retry.js"

/**
 * A wrapper that fails an operation slower than its limit with `Timeout` and interrupts it: one limit for every
 * operation, or one per operation; per page for streams.
 *
 * @since 0.1.0
 */
export * as Timeout from "./wrappers/Timeout.js"

/**
 * A wrapper that batches concurrent single-key reads (`get`, `getString`, `getOrFail`, `has`) of one store into one
 * `getMany` through Effect's request batching: one round trip for the reads of one window.
 *
 * @since 0.1.0
 */
export * as Batched from "./wrappers/Batched.js"

/**
 * Namespaces: a store seen through a key prefix, with its own keys, tags, patterns, `clear`, `size` and statistics.
 *
 * @since 0.1.0
 */
export * as Prefix from "./wrappers/Prefix.js"

/**
 * `@effect/experimental`'s `BackingPersistence` (and so `ResultPersistence`, `PersistedCache` and
 * `RequestResolver.persisted`) on any store, one namespace per persistence store id.
 *
 * @since 0.1.0
 */
export * as Persistence from "./interop/Persistence.js"

/**
 * `@effect/experimental`'s `RateLimiterStore` (fixed window and token bucket) on any store's atomic read-modify-write.
 *
 * @since 0.1.0
 */
export * as RateLimiter from "./interop/RateLimiter.js"
