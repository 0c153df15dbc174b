/**
 * The MySQL and MariaDB backend: a `SqlStore` over a connection pool of its own (`@effect/sql-mysql2`), built from a
 * URL or from connection fields. Everything `SqlStore` says holds: keys are stored as their UTF-8 bytes
 * (`VARBINARY(2048)`, so any key, U+0000 included, compares and enumerates in UTF-8 byte order, never
 * case-insensitively), read-modify-writes lock their row (`SELECT ... FOR UPDATE`) so they are atomic across
 * processes, transaction regions are real transactions that take turns across processes through `GET_LOCK`, locks are
 * leases in `<table>_locks`, and schema setup holds a `GET_LOCK` so several processes may open a table at once.
 *
 * MySQL has no `DELETE ... RETURNING` and its triggers need privileges hosted servers often withhold, so removals lock
 * and count their rows first and the store keeps `<table>_tags` in step itself, inside the transaction that writes
 * the row. Statements use only syntax that MariaDB 10.5+ and MySQL 8 share (`INSERT ... ON DUPLICATE KEY UPDATE x =
 * VALUES(x)`, which MySQL 8.0.20+ deprecates with a warning but runs). InnoDB's default `REPEATABLE READ` is assumed
 * for the application's own transactions that the store joins. Keys (with a namespace's prefix) are at most 2048
 * bytes, tags 1024 bytes (longer ones are refused, never cut), and a value at most the server's
 * `max_allowed_packet`.
 *
 * A server that cannot be reached fails the layer with `BackendError` (backend `"mysql"`) once the connect timeout
 * (default 5 seconds) has passed, or at once when the server refuses. Every operation has a deadline: a statement
 * not answered within `commandTimeout` (default 5 seconds), or a connection not had within `connectTimeout`, fails
 * with `Timeout`, and the connection of an unanswered statement is closed rather than given back to the pool; each
 * connection bounds the server's side too (`innodb_lock_wait_timeout`, MariaDB's `max_statement_time` and
 * `idle_transaction_timeout`, MySQL's `max_execution_time` and `wait_timeout`). The sweeper and the locks' heartbeats
 * run under the same deadlines. Applications that want the store inside their own database transactions use
 * `SqlStore` over their own `MysqlClient` instead (whose deadlines are the client's).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Driver from "../internal/driver.js"
import { capabilities as sqlCapabilities } from "../internal/sql/capabilities.js"
import * as KeyValueStore from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"
import type * as SqlStore from "./SqlStore.js"

/**
 * Options of a `MysqlStore`: those of `SqlStore` (table, separator, limits, sweeper) and the connection's (pool size,
 * `connectTimeout`, `commandTimeout`, `idleInTransactionTimeout`). Give `url`
 * (`mysql://user:password@host:port/database`, a `Redacted`), or the separate fields, which override the URL's.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends SqlStore.Options, SqlStore.ConnectionOptions {}

/**
 * What a `MysqlStore` can do.
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: KeyValueStore.Capabilities = sqlCapabilities

/**
 * The errors of building a `MysqlStore`.
 *
 * @since 0.1.0
 * @category models
 */
export type OpenError = SqlStore.OpenError

/**
 * Connects, creates the store's tables when absent, and returns the store; the pool and the sweeper live as long as
 * the scope.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { MysqlStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* MysqlStore.make({ url: Redacted.make("mysql://root@127.0.0.1/app"), table: "cache" })
 *   yield* store.set("a", "1", { ttl: "1 hour" })
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<KeyValueStore.Service, OpenError, Scope.Scope> =>
  Effect.flatMap(Effect.all([Driver.sqlStore("mysql"), Driver.mysqlPool]), ([sqlStore, mysqlPool]) => {
    const settings = sqlStore.connectionSettings(options)
    if (settings instanceof InvalidArgument) return Effect.fail(settings)
    return sqlStore.makeWithClient(
      options,
      "mysql",
      mysqlPool.make({
        url: options.url,
        host: options.host,
        port: options.port,
        database: options.database,
        username: options.username,
        password: options.password,
        maxConnections: settings.maxConnections,
        connectTimeout: settings.connectTimeout,
        commandTimeout: settings.commandTimeout,
        idleInTransactionTimeout: settings.idleInTransactionTimeout
      }),
      settings.commandTimeout
    )
  })

/**
 * A layer providing a `MysqlStore`; it needs nothing else.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { MysqlStore } from "effect-kv"
 *
 * const StoreLive = MysqlStore.layer({ url: Redacted.make("mysql://root@127.0.0.1/app"), table: "cache" })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<KeyValueStore.KeyValueStore, OpenError> =>
  Layer.scoped(KeyValueStore.KeyValueStore, make(options))

/**
 * A layer reading its options from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { MysqlStore } from "effect-kv"
 *
 * const StoreLive = MysqlStore.layerConfig({ url: Config.redacted("DATABASE_URL"), table: Config.succeed("cache") })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<KeyValueStore.KeyValueStore, ConfigError.ConfigError | OpenError> =>
  Layer.scoped(KeyValueStore.KeyValueStore, Effect.flatMap(Config.unwrap(config), make))
