/**
 * The PostgreSQL backend: a `SqlStore` over a connection pool of its own (`@effect/sql-pg`), built from a URL or from
 * connection fields. Everything `SqlStore` says holds: keys are stored as their UTF-8 bytes (`BYTEA`, any key, U+0000
 * included, enumerated in UTF-8 byte order), read-modify-writes lock their row (`SELECT ... FOR UPDATE`) so they are
 * atomic across processes, transaction regions are real transactions that take turns across processes through
 * `pg_advisory_xact_lock`, locks are leases in `<table>_locks`, and schema setup is safe when several processes open
 * a table at once (it holds an advisory lock). Tag rows are kept in step by a trigger (`<table>_untag`).
 *
 * A server that cannot be reached fails the layer with `BackendError` (backend `"postgres"`) once the connect timeout
 * (default 5 seconds) has passed, or at once when the server refuses. Every operation has a deadline: a statement
 * not answered within `commandTimeout` (default 5 seconds), or a connection not had within `connectTimeout`, fails
 * with `Timeout`, and the connection of an unanswered statement is closed rather than given back to the pool; the
 * server bounds its side too (`statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`). The
 * sweeper and the locks' heartbeats run under the same deadlines. Applications that want the store inside their own
 * database transactions use `SqlStore` over their own `PgClient` instead (whose deadlines are the client's).
 *
 * The store's statements are prepared once per connection (named prepared statements of the extended protocol) and a
 * connection is kept between statements (given back to the pool when callers wait for one, and closed after 10 seconds
 * unused): a `get` or a `set` is one round trip and one statement, not parsed or planned again. Behind a pooler in
 * transaction mode, the pooler must carry prepared statements (PgBouncer 1.21 and later, `max_prepared_statements`).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Driver from "../internal/driver.js"
import { capabilities as sqlCapabilities } from "../internal/sql/capabilities.js"
import * as KeyValueStore from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"
import type * as SqlStore from "./SqlStore.js"

/**
 * Options of a `PostgresStore`: those of `SqlStore` (table, separator, limits, sweeper) and the connection's (pool
 * size, `connectTimeout`, `commandTimeout`, `idleInTransactionTimeout`). Give `url`
 * (`postgres://user:password@host:port/database`, a `Redacted`), or the separate fields; given both, the fields
 * replace the URL's parts (a URL without a password and the password apart, say).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends SqlStore.Options, SqlStore.ConnectionOptions {}

/**
 * What a `PostgresStore` can do.
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: KeyValueStore.Capabilities = sqlCapabilities

/**
 * The errors of building a `PostgresStore`.
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
 * import { PostgresStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* PostgresStore.make({ url: Redacted.make("postgres://postgres@127.0.0.1/app"), table: "cache" })
 *   yield* store.set("a", "1", { ttl: "1 hour" })
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<KeyValueStore.Service, OpenError, Scope.Scope> =>
  Effect.flatMap(Effect.all([Driver.sqlStore("postgres"), Driver.pgPool]), ([sqlStore, pgPool]) => {
    const settings = sqlStore.connectionSettings(options)
    if (settings instanceof InvalidArgument) return Effect.fail(settings)
    const url = options.url === undefined ? undefined : urlOf(options.url, options)
    if (url instanceof InvalidArgument) return Effect.fail(url)
    return sqlStore.makeWithClient(
      options,
      "postgres",
      pgPool.make({
        url,
        host: options.host,
        port: options.port,
        database: options.database,
        username: options.username,
        password: options.password,
        maxConnections: settings.maxConnections,
        connectTimeout: settings.connectTimeout,
        commandTimeout: settings.commandTimeout,
        idleInTransactionTimeout: settings.idleInTransactionTimeout,
        applicationName: "effect-kv"
      }),
      settings.commandTimeout
    )
  })

// The URL with the separate fields written over its own (the driver would let the URL's win, a URL without a
// password included, whose empty password would replace the one given apart).
const urlOf = (url: Redacted.Redacted, fields: Options): Redacted.Redacted | InvalidArgument => {
  let parsed: URL
  try {
    parsed = new URL(Redacted.value(url))
  } catch {
    return new InvalidArgument({ method: "open", argument: "url", reason: "expected a postgres:// URL" })
  }
  if (
    fields.host === undefined && fields.port === undefined && fields.database === undefined &&
    fields.username === undefined && fields.password === undefined
  ) return url
  if (fields.host !== undefined) parsed.hostname = fields.host
  if (fields.port !== undefined) parsed.port = String(fields.port)
  if (fields.database !== undefined) parsed.pathname = `/${encodeURIComponent(fields.database)}`
  if (fields.username !== undefined) parsed.username = encodeURIComponent(fields.username)
  if (fields.password !== undefined) parsed.password = encodeURIComponent(Redacted.value(fields.password))
  return Redacted.make(parsed.toString())
}

/**
 * A layer providing a `PostgresStore`; it needs nothing else.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { PostgresStore } from "effect-kv"
 *
 * const StoreLive = PostgresStore.layer({ url: Redacted.make("postgres://postgres@127.0.0.1/app"), table: "cache" })
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
 * import { PostgresStore } from "effect-kv"
 *
 * const StoreLive = PostgresStore.layerConfig({ url: Config.redacted("DATABASE_URL"), table: Config.succeed("cache") })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<KeyValueStore.KeyValueStore, ConfigError.ConfigError | OpenError> =>
  Layer.scoped(KeyValueStore.KeyValueStore, Effect.flatMap(Config.unwrap(config), make))
