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
 * Namespaces: a store seen through a key prefix, with its own keys, tags, patterns, `clear`, `size` and statistics.
 *
 * @since 0.1.0
 */
export * as Prefix from "./wrappers/Prefix.js"
