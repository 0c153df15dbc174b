/**
 * MysqlStore's connection pool: a `mysql2` pool (the driver `@effect/sql-mysql2` runs on) driven by `sql/pool.ts`, so
 * that every statement and every connection has a deadline. Each new connection first bounds the server's side of its
 * session (one `SET SESSION`): `innodb_lock_wait_timeout` and the statement time limit (MariaDB's
 * `max_statement_time`; MySQL's `max_execution_time`, which only limits `SELECT`s) to the command timeout, so a
 * statement the client gave up on does not run on, and how long a transaction whose client vanished may hold its locks
 * (MariaDB's `idle_transaction_timeout`; MySQL has none, so its `wait_timeout`, which ends any idle session). The
 * server's flavour is read once, when the pool opens. A statement the server stops at one of these limits fails with
 * `DeadlineExceeded` as well.
 *
 * @internal
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Mysql from "mysql2"
import { DeadlineExceeded } from "./deadline.js"
import * as sqlPool from "./pool.js"

/** The part of a `mysql2` pool connection this module uses. */
interface MysqlConnection {
  query(
    options: { readonly sql: string; readonly values: ReadonlyArray<unknown>; readonly rowsAsArray: boolean },
    callback: (error: unknown, result: unknown) => void
  ): void
  execute(
    options: { readonly sql: string; readonly values: ReadonlyArray<unknown>; readonly rowsAsArray: boolean },
    callback: (error: unknown, result: unknown) => void
  ): void
  release(): void
  destroy(): void
  on(event: "error", listener: (error: Error) => void): void
  readonly stream?: { destroy(error?: Error): void } | undefined
}

/** The part of a `mysql2` pool this module uses. */
interface MysqlPool {
  getConnection(callback: (error: unknown, connection: MysqlConnection | undefined) => void): void
  end(callback: (error?: unknown) => void): void
  on(event: "connection", listener: (connection: MysqlConnection) => void): void
}

const createPool = Mysql.createPool as unknown as (config: Record<string, unknown>) => MysqlPool

/** @internal */
export interface Config extends sqlPool.ConnectionConfig {
  /** A connection URL; the fields given beside it replace its parts. */
  readonly url: Redacted.Redacted | undefined
}

// Errors of the server's own time limits: a lock wait past innodb_lock_wait_timeout, a statement past MariaDB's
// max_statement_time or MySQL's max_execution_time.
const deadlineErrors = new Set([1205, 1969, 3024])

const serverDeadline = (error: unknown, millis: number): unknown => {
  const errno = (error as { readonly errno?: unknown }).errno
  return typeof errno === "number" && deadlineErrors.has(errno)
    ? new DeadlineExceeded("answer", millis, { cause: error })
    : error
}

/**
 * The `SET SESSION` statement of a new connection, for MariaDB or MySQL.
 *
 * @internal
 */
export const sessionStatement = (
  mariadb: boolean,
  commandTimeout: number,
  idleInTransactionTimeout: number | undefined
): string => {
  const seconds = (millis: number) => Math.max(1, Math.ceil(millis / 1000))
  const settings = mariadb
    ? [`max_statement_time = ${(Math.ceil(commandTimeout) / 1000).toFixed(3)}`]
    : [`max_execution_time = ${Math.ceil(commandTimeout)}`]
  settings.push(`innodb_lock_wait_timeout = ${seconds(commandTimeout)}`)
  if (idleInTransactionTimeout !== undefined) {
    settings.push(`${mariadb ? "idle_transaction_timeout" : "wait_timeout"} = ${seconds(idleInTransactionTimeout)}`)
  }
  return `SET SESSION ${settings.join(", ")}`
}

/**
 * Opens the pool, reads the server's version (within the connect and command timeouts), and returns its client; the
 * pool is ended when the scope closes.
 *
 * @internal
 */
export const make = (
  config: Config
): Effect.Effect<SqlClient.SqlClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const connections = new Set<MysqlConnection>()
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // As `@effect/sql-mysql2` configures its pool; the URL through the pool's options, where the fields given
        // beside it win.
        const pool = createPool({
          ...(config.url === undefined ? {} : { uri: Redacted.value(config.url) }),
          host: config.host,
          port: config.port,
          database: config.database,
          user: config.username,
          password: config.password === undefined ? undefined : Redacted.value(config.password),
          multipleStatements: true,
          supportBigNumbers: true,
          connectionLimit: config.maxConnections,
          maxIdle: config.maxConnections,
          // A backstop: the pool's own deadline (`sqlPool`) comes first, the driver's then drops the connect.
          connectTimeout: Math.ceil(config.connectTimeout) + 1000
        })
        pool.on("connection", (connection) => {
          connections.add(connection)
          // Errors reach the statements; the event would otherwise be unhandled.
          connection.on("error", () => {
            connections.delete(connection)
          })
        })
        return pool
      }),
      (pool) =>
        sqlPool.close(
          (done) => pool.end(() => done()),
          () => {
            for (const connection of connections) connection.stream?.destroy()
          }
        )
    )

    let session: string | undefined = undefined
    const driver: sqlPool.Driver<MysqlConnection> = {
      connect: (callback) => pool.getConnection(callback),
      // mysql2's `execute` prepares each text once per connection by itself (its statement cache): names are not needed.
      query: (connection, text, _name, params, mode, callback) => {
        const options = { sql: text, values: params, rowsAsArray: mode === "values" }
        const answered = (error: unknown, result: unknown) =>
          error !== undefined && error !== null
            ? callback(serverDeadline(error, config.commandTimeout), undefined)
            : callback(undefined, mode === "raw" ? result : Array.isArray(result) ? result : [])
        if (mode === "unprepared") connection.query(options, answered)
        else connection.execute(options, answered)
      },
      destroy: (connection, cause) => {
        connections.delete(connection)
        connection.stream?.destroy(cause)
        connection.destroy()
      },
      release: (connection, cause) => {
        if (cause === undefined) return connection.release()
        connections.delete(connection)
        connection.stream?.destroy(cause)
        connection.destroy()
      },
      session: () => session
    }

    const client = yield* sqlPool.make(driver, {
      connectTimeout: config.connectTimeout,
      commandTimeout: config.commandTimeout,
      compiler: MysqlClient.makeCompiler(),
      spanAttributes: [
        ["db.system.name", "mysql"],
        ["server.address", config.host ?? "localhost"],
        ["server.port", config.port ?? 3306],
        ...(config.database === undefined ? [] : [["db.namespace", config.database] as const])
      ]
    })
    const version = yield* client.unsafe<{ readonly version: unknown }>("SELECT VERSION() AS version")
    session = sessionStatement(
      /mariadb/i.test(String(version[0]?.version ?? "")),
      config.commandTimeout,
      config.idleInTransactionTimeout
    )
    return client
  })
