/**
 * PostgresStore's connection pool: a `pg` pool (the driver `@effect/sql-pg` runs on) driven by `sql/pool.ts`, so that
 * every statement and every connection has a deadline. Each connection bounds the server's side too, through startup
 * parameters: `statement_timeout` and `lock_timeout` (the command timeout), so a statement the client gave up on does
 * not run on, and `idle_in_transaction_session_timeout`, so a transaction whose client vanished (a partition, a killed
 * process) does not hold its locks until TCP notices. A statement the server stops at one of these limits fails with
 * `DeadlineExceeded` as well; the connection stays in the pool.
 *
 * @internal
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
// @ts-expect-error: pg ships no type declarations (the part used here is typed below)
import * as Pg from "pg"
import { DeadlineExceeded } from "./deadline.js"
import * as sqlPool from "./pool.js"

/** The part of a `pg` pool client this module uses. */
interface PgPoolClient {
  query(
    config: string | {
      readonly text: string
      /** Prepared once per connection under this name (none: parsed and planned anew each time). */
      readonly name?: string | undefined
      readonly rowMode?: "array"
    },
    values: ReadonlyArray<unknown> | ((error: unknown, result: unknown) => void),
    callback?: (error: unknown, result: unknown) => void
  ): void
  release(error?: Error): void
  /** False once the connection can no longer run statements (pg-pool reads it too). */
  readonly _queryable?: boolean
  /** True once the connection is ending. */
  readonly _ending?: boolean
  on(event: "error", listener: (error: Error) => void): void
  off(event: "error", listener: (error: Error) => void): void
  readonly connection?: { readonly stream?: { destroy(error?: Error): void } } | undefined
}

/** The part of a `pg` pool this module uses. */
interface PgPool {
  connect(callback: (error: Error | undefined, client: PgPoolClient | undefined) => void): void
  end(): Promise<void>
  /** Callers waiting for a connection. */
  readonly waitingCount: number
  on(event: "error", listener: (error: Error) => void): void
  on(event: "connect" | "remove", listener: (client: PgPoolClient) => void): void
}

// How long a connection may stay unused before it is closed (pg-pool's default).
const idleMillis = 10_000

const PgPool = Pg.Pool as new(config: Record<string, unknown>) => PgPool

const DriverClient = Pg.Client as new(config: Record<string, unknown>) => object

// The driver's connection, which drops a connect that has not completed within `millis`.
const connectLimited = (millis: number) =>
  class extends DriverClient {
    constructor(config: Record<string, unknown>) {
      super({ ...config, connectionTimeoutMillis: millis })
    }
  }

/** @internal */
export interface Config extends sqlPool.ConnectionConfig {
  /** A connection URL; fields beside it are ignored (merge them into it first). */
  readonly url: Redacted.Redacted | undefined
  readonly applicationName: string
}

// Errors of the server's own time limits: statement_timeout (57014 names it; 57014 is also a cancellation on request)
// and lock_timeout (55P03 also answers NOWAIT, which the store never uses).
const serverDeadline = (error: unknown, millis: number): unknown => {
  const { code, message } = error as { readonly code?: unknown; readonly message?: unknown }
  const timedOut = (code === "57014" && typeof message === "string" && message.includes("statement timeout")) ||
    code === "55P03"
  return timedOut ? new DeadlineExceeded("answer", millis, { cause: error }) : error
}

const rowsOf = (result: unknown): unknown => {
  if (Array.isArray(result)) return result.map((r: { readonly rows?: unknown }) => r.rows ?? [])
  return (result as { readonly rows?: unknown } | undefined)?.rows ?? []
}

/**
 * Opens the pool, checks that the server answers (`SELECT 1`, within the connect timeout), and returns its client;
 * the pool is ended when the scope closes.
 *
 * @internal
 */
export const make = (
  config: Config
): Effect.Effect<SqlClient.SqlClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const ms = (n: number) => Math.max(1, Math.ceil(n))
    const clients = new Set<PgPoolClient>()
    // Connections kept between statements rather than given back to the pool, last used first (see `driver`).
    const kept: Array<{ readonly client: PgPoolClient; readonly since: number }> = []
    let closing = false
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new PgPool({
          ...(config.url === undefined
            ? {
              host: config.host,
              port: config.port,
              database: config.database,
              user: config.username,
              password: config.password === undefined ? undefined : Redacted.value(config.password)
            }
            : { connectionString: Redacted.value(config.url) }),
          max: config.maxConnections,
          // No time limit of the pool's own on a checkout (a timer set and cleared for each statement):
          // `sqlPool`'s limits every wait for a connection. The connection's own limit on its connect stays, as a
          // backstop: the pool's deadline comes first, the driver's then drops the connect.
          connectionTimeoutMillis: 0,
          Client: connectLimited(ms(config.connectTimeout) + 1000),
          idleTimeoutMillis: idleMillis,
          application_name: config.applicationName,
          statement_timeout: ms(config.commandTimeout),
          lock_timeout: ms(config.commandTimeout),
          ...(config.idleInTransactionTimeout === undefined
            ? {}
            : { idle_in_transaction_session_timeout: ms(config.idleInTransactionTimeout) })
        })
        pool.on("error", () => {})
        pool.on("connect", (client) => {
          clients.add(client)
        })
        pool.on("remove", (client) => {
          clients.delete(client)
        })
        return pool
      }),
      (pool) =>
        sqlPool.close(
          (done) => {
            closing = true
            clearInterval(reaper)
            for (const { client } of kept.splice(0)) giveBack(client, undefined)
            pool.end().then(done, done)
          },
          () => {
            for (const client of clients) client.connection?.stream?.destroy()
          }
        )
    )

    // The listener that keeps a client's connection errors (the pool listens only while it is idle) until it goes
    // back to the pool.
    const listeners = new WeakMap<PgPoolClient, { readonly listener: (error: Error) => void; broken?: Error }>()
    const giveBack = (client: PgPoolClient, cause: Error | undefined) => {
      const entry = listeners.get(client)
      listeners.delete(client)
      if (entry !== undefined) client.off("error", entry.listener)
      client.release(cause ?? entry?.broken)
    }
    // A connection is kept by the driver after a statement, not given back to the pool, unless the pool has callers
    // waiting: the next statement takes it at once, where a checkout of the pool's costs a turn of the event loop, two
    // events and a timer. A connection kept unused for the pool's idle time goes back to it, which closes it after
    // that time again; a broken one is given back (and so closed) when its turn comes.
    const usable = (client: PgPoolClient) =>
      listeners.get(client)?.broken === undefined && client._queryable !== false && client._ending !== true
    const reaper = setInterval(() => {
      const old = performance.now() - idleMillis
      while (kept.length > 0 && kept[0]!.since <= old) giveBack(kept.shift()!.client, undefined)
    }, idleMillis)
    reaper.unref()
    const driver: sqlPool.Driver<PgPoolClient> = {
      connect: (callback) => {
        for (let next = kept.pop(); next !== undefined; next = kept.pop()) {
          if (usable(next.client)) return callback(undefined, next.client)
          giveBack(next.client, new Error("the connection broke while it was kept"))
        }
        pool.connect((error, client) => {
          if (client !== undefined) {
            const entry: { readonly listener: (error: Error) => void; broken?: Error } = {
              listener: (error) => {
                entry.broken = error
              }
            }
            listeners.set(client, entry)
            client.on("error", entry.listener)
          }
          callback(error, client)
        })
      },
      query: (client, text, name, params, mode, callback) =>
        client.query(
          mode === "values"
            ? { text, name, rowMode: "array" }
            : name !== undefined
            ? { text, name }
            : text,
          params,
          (error: unknown, result: unknown) =>
            error !== undefined && error !== null
              ? callback(serverDeadline(error, config.commandTimeout), undefined)
              : callback(undefined, mode === "raw" ? result : rowsOf(result))
        ),
      destroy: (client, cause) => client.connection?.stream?.destroy(cause),
      release: (client, cause) => {
        if (cause === undefined && !closing && pool.waitingCount === 0 && usable(client)) {
          kept.push({ client, since: performance.now() })
        } else {
          giveBack(client, cause)
        }
      },
      session: () => undefined
    }

    const client = yield* sqlPool.make(driver, {
      connectTimeout: config.connectTimeout,
      commandTimeout: config.commandTimeout,
      compiler: PgClient.makeCompiler(),
      spanAttributes: [
        ["db.system.name", "postgresql"],
        ["db.namespace", config.database ?? config.username ?? "postgres"],
        ["server.address", config.host ?? "localhost"],
        ["server.port", config.port ?? 5432]
      ]
    })
    yield* client.unsafe("SELECT 1")
    return client
  })
