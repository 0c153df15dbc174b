/**
 * The store over any `@effect/sql` `SqlClient`, for applications that keep their entries in their own database:
 * SQLite (`@effect/sql-sqlite-node`), PostgreSQL (`@effect/sql-pg`) and MySQL/MariaDB (`@effect/sql-mysql2`).
 * Every statement runs through the client, so an operation inside the application's `sql.withTransaction` region
 * joins that transaction (commits and rolls back with it), and multi-statement operations run in a transaction of
 * their own (a savepoint when nested). Tables and statement texts are the shared SQL schema of `SqliteStore`, so a
 * SQLite file written by either store opens in the other. `PostgresStore` and `MysqlStore` are this store over a
 * client they build themselves.
 *
 * Across processes: read-modify-writes (`increment`, `add`, `compareAndSwap`, `update`, ...) are atomic, on SQLite by
 * taking the write lock with their first statement, on PostgreSQL and MySQL by claiming and locking the key's row
 * (`SELECT ... FOR UPDATE`, absent keys included). `withTransaction` and `transaction` are real transactions on one
 * connection (nested regions are savepoints; a region opened inside the application's own transaction is a
 * savepoint of it; the application's own statements inside a region run in its transaction), and the regions of one
 * table take turns across processes: SQLite's `BEGIN IMMEDIATE`, PostgreSQL's `pg_advisory_xact_lock`, MySQL's
 * `GET_LOCK`. On PostgreSQL and MySQL a region holds back only the other regions, not the single operations of other
 * processes (SQLite's write lock holds back every writer): inside a region, change a value that another process may
 * write at the same time with a read-modify-write (`update`, `increment`, `compareAndSwap`), which locks its row, not
 * with a `get` followed by a `set`. Locks are leases in the `<table>_locks` and `<table>_fences` tables. Schema setup
 * is idempotent and safe when several processes open a table at once.
 *
 * Keys on PostgreSQL and MySQL are stored as their UTF-8 bytes (`BYTEA`, `VARBINARY`): any key, U+0000 included, in
 * UTF-8 byte order. MySQL's columns hold keys (with a namespace's prefix) of at most 2048 bytes and tags of at most
 * 1024 bytes (a longer one is refused with `InvalidKey`/`InvalidArgument`, never cut), and values up to the server's
 * `max_allowed_packet`. `volume` is not reported (0): the store shares its database with the application. `check` is
 * not supported.
 *
 * Large values that a `SqliteStore` keeps as files beside its database are not read here: a read that meets such a
 * row (`get`, `getEntry`, `getMany`, `entries`, and the read-modify-writes) fails with `Unsupported` naming the method
 * and the key. Overwriting or removing such a row works, but leaves its file behind for `SqliteStore`'s `check`.
 *
 * Deadlines are the client's: a statement waits as long as the application's client lets it (`PostgresStore` and
 * `MysqlStore`, which own their pools, bound every statement with `commandTimeout`).
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as sqlStore from "../internal/sql/store.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { BackendError, Busy, InvalidArgument, StoreCorrupted, Unsupported } from "../KeyValueStoreError.js"

/**
 * Options of a `SqlStore`; the connection itself comes from the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends KeyValueStore.StoreOptions, KeyValueStore.SweepOptions {
  /**
   * Table name (plain identifier, default `"effect_kv"`); the store also uses `<table>_tags`, `<table>_meta`,
   * `<table>_locks`, `<table>_fences` (and, on a SQLite file a SqliteStore with size limits opened, `<table>_counters`).
   */
  readonly table?: string | undefined
}

/**
 * The connection of a store with a pool of its own (`PostgresStore`, `MysqlStore`): a `url` (a `Redacted`, since it
 * may hold the password), or the separate fields; given both, the fields replace the URL's parts (a URL without a
 * password and the password apart, say); and the pool's size and deadlines.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  /** The connection URL, e.g. `Redacted.make("postgres://app@db:5432/app")` or `Config.redacted("DATABASE_URL")`. */
  readonly url?: Redacted.Redacted | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted | undefined
  /** Connections of the pool (default 10). A transaction region holds one for its whole length. */
  readonly maxConnections?: number | undefined
  /**
   * How long getting a connection (waiting for a free one of the pool, or connecting) may take before the operation
   * fails with `Timeout` (default 5 seconds).
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * Longest wait for the answer to one statement (default 5 seconds). Past it the operation fails with `Timeout`,
   * and the connection the statement ran on is closed, never given back to the pool: a link that stopped answering
   * (a paused server, a partition) holds no operation longer than this, the sweeper's and the locks' heartbeats
   * included. The server stops such a statement by itself too (`statement_timeout` and `lock_timeout` on PostgreSQL;
   * `max_statement_time` on MariaDB, `max_execution_time` for `SELECT`s on MySQL, and `innodb_lock_wait_timeout`), so
   * a statement waiting longer for another transaction's lock fails with `Timeout` as well. An operation of several
   * statements (a transaction, a page after page removal) may take longer in all, each statement being answered.
   */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /**
   * How long a connection may stay idle inside a transaction before the server ends the transaction and the
   * connection (default 1 minute; `Duration.infinity`: no limit). This bounds how long the locks of a client that
   * vanished in the middle of a transaction (a partition, a killed process) stay held: PostgreSQL's
   * `idle_in_transaction_session_timeout`, MariaDB's `idle_transaction_timeout`, and on MySQL, which has no such
   * limit, `wait_timeout` (which ends any session idle that long). A `withTransaction` region whose effect does no
   * statement for longer fails.
   */
  readonly idleInTransactionTimeout?: Duration.DurationInput | undefined
}

/**
 * What a `SqlStore` can do, on every dialect.
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: KeyValueStore.Capabilities = sqlStore.capabilities

/**
 * The errors of building a `SqlStore`.
 *
 * @since 0.1.0
 * @category models
 */
export type OpenError = BackendError | StoreCorrupted | Busy | InvalidArgument | Unsupported

/**
 * Builds a store over the `SqlClient` in context, creating its tables when absent (idempotent, and safe when several
 * processes start at once). A table holding an incompatible format version fails with `StoreCorrupted` and is left
 * untouched; a client of a dialect other than SQLite, PostgreSQL or MySQL fails with `Unsupported`. The sweeper lives
 * as long as the scope. Errors name the backend `"sql"`.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { Effect } from "effect"
 * import { SqlStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* SqlStore.make({ table: "cache" })
 *   yield* store.set("a", "1")
 * })).pipe(Effect.provide(SqliteClient.layer({ filename: "app.db" })))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<KeyValueStore.Service, OpenError, SqlClient.SqlClient | Scope.Scope> => sqlStore.make(options, "sql")

/**
 * A layer providing a `SqlStore` over the `SqlClient` the application provides.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { Layer } from "effect"
 * import { SqlStore } from "effect-kv"
 *
 * const StoreLive = SqlStore.layer({ table: "cache" }).pipe(Layer.provide(SqliteClient.layer({ filename: "app.db" })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<KeyValueStore.KeyValueStore, OpenError, SqlClient.SqlClient> =>
  Layer.scoped(KeyValueStore.KeyValueStore, make(options))

/**
 * A layer reading its options from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { SqlStore } from "effect-kv"
 *
 * SqlStore.layerConfig({ table: Config.string("KV_TABLE") })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<KeyValueStore.KeyValueStore, ConfigError.ConfigError | OpenError, SqlClient.SqlClient> =>
  Layer.scoped(KeyValueStore.KeyValueStore, Effect.flatMap(Config.unwrap(config), make))
