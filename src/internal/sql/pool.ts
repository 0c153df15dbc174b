/**
 * The `@effect/sql` client of a store that owns its connection pool (PostgresStore, MysqlStore), over a small
 * callback interface to the driver's pool (`sql/pgPool.ts`, `sql/mysqlPool.ts`), with deadlines that the drivers' own clients
 * (`@effect/sql-pg`, `@effect/sql-mysql2`) do not give:
 *
 * - Getting a connection (waiting for a free one, or connecting) fails with `DeadlineExceeded` after the connect
 *   timeout; a connection that comes later goes straight back to the pool.
 * - A statement whose answer has not come within the command timeout fails with `DeadlineExceeded`, and its connection
 *   is discarded: its socket destroyed (so the statements queued behind it fail at once) and never returned to the
 *   pool, whose next user would otherwise wait behind the unanswered statement.
 * - Interrupting a statement does not wait for it: the statement runs on in the background and its connection is
 *   released when the answer comes, or discarded at the deadline. (`@effect/sql-pg` cancels it through another
 *   connection of the pool, which on a stalled link waits for a connection that cannot come.)
 * - A new connection first runs the driver's session statement, if any (MySQL's session time limits).
 *
 * A connection reserved for a transaction (`sql.reserve`, `withTransaction`) is released when its scope closes, or
 * discarded if one of its statements passed its deadline or is still running.
 *
 * @internal
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { DeadlineExceeded } from "./deadline.js"

/**
 * The connection fields both drivers' pools take (`pgPool.Config`, `mysqlPool.Config`); times in milliseconds.
 *
 * @internal
 */
export interface ConnectionConfig {
  readonly host: string | undefined
  readonly port: number | undefined
  readonly database: string | undefined
  readonly username: string | undefined
  readonly password: Redacted.Redacted | undefined
  readonly maxConnections: number
  readonly connectTimeout: number
  readonly commandTimeout: number
  /** Milliseconds a connection may stay idle inside a transaction; undefined: no limit. */
  readonly idleInTransactionTimeout: number | undefined
}

/**
 * How a statement's result is wanted: `rows` (prepared where the driver prepares), `unprepared` (MySQL's text
 * protocol, several statements allowed), `values` (rows as arrays) or `raw` (the driver's own result).
 *
 * @internal
 */
export type Mode = "rows" | "unprepared" | "values" | "raw"

/**
 * What the pool needs of a driver. Each callback is called once.
 *
 * @internal
 */
export interface Driver<C> {
  /** Takes a connection from the pool, connecting one when needed. */
  readonly connect: (callback: (error: unknown, connection: C | undefined) => void) => void
  /**
   * Runs one statement on `connection`; with a `name`, as the connection's prepared statement of that name (parsed
   * and planned by the server once per connection), where the driver names statements.
   */
  readonly query: (
    connection: C,
    text: string,
    name: string | undefined,
    params: ReadonlyArray<unknown>,
    mode: Mode,
    callback: (error: unknown, result: unknown) => void
  ) => void
  /** Destroys the connection's socket at once, failing what runs or waits on it with `cause`. */
  readonly destroy: (connection: C, cause: Error) => void
  /** Gives the connection back to the pool, or (with `cause`) takes it out of the pool for good. */
  readonly release: (connection: C, cause: Error | undefined) => void
  /** The statement a new connection runs first (undefined: none, for now). */
  readonly session: () => string | undefined
}

/** @internal */
export interface Settings {
  readonly connectTimeout: number
  readonly commandTimeout: number
  readonly compiler: Statement.Compiler
  readonly spanAttributes: ReadonlyArray<readonly [string, unknown]>
}

const failed = (error: unknown): boolean => error !== undefined && error !== null

/** A time limit of `deadlines`: `expire` runs once it has passed, unless the work was settled first. */
interface Deadline {
  readonly at: number
  settled: boolean
  readonly expire: () => void
}

/**
 * Time limits of one length (the command or the connect timeout), which come due in the order they were set: one
 * timer, for the earliest unsettled limit, stands for them all, where a timer each cost a statement more than its own
 * work on the client (setting a timer and clearing it, twice per statement). Work settled before its limit is dropped
 * when the next limit is set or when the timer fires. The timer does not hold the process open: what waits for a
 * limit waits on a socket of the pool, which does.
 */
const deadlines = (millis: number) => {
  let queue: Array<Deadline> = []
  let head = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let firing = false
  const drop = () => {
    while (head < queue.length && queue[head]!.settled) head++
    if (head === queue.length) {
      queue = []
      head = 0
    } else if (head > 64 && head * 2 > queue.length) {
      queue = queue.slice(head)
      head = 0
    }
  }
  const arm = (at: number) => {
    timer = setTimeout(fire, Math.max(0, Math.ceil(at - performance.now())))
    timer.unref()
  }
  const fire = () => {
    timer = undefined
    firing = true
    try {
      const now = performance.now()
      for (drop(); head < queue.length && queue[head]!.at <= now; drop()) {
        const due = queue[head]!
        due.settled = true
        due.expire()
      }
    } finally {
      firing = false
      if (timer === undefined && head < queue.length) arm(queue[head]!.at)
    }
  }
  return {
    add: (expire: () => void): Deadline => {
      drop()
      const deadline: Deadline = { at: performance.now() + millis, settled: false, expire }
      queue.push(deadline)
      if (timer === undefined && !firing) arm(deadline.at)
      return deadline
    }
  }
}

// Reports the answer of a statement unless its deadline came first.
const settle = (
  deadline: Deadline,
  done: (error: unknown, result: unknown) => void,
  error: unknown,
  result: unknown
): void => {
  if (deadline.settled) return
  deadline.settled = true
  done(error, result)
}

const sqlFailure = (cause: unknown) => Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))

/**
 * Runs `start`, driver work that reports once through `done` and ends by itself (its timers bound it), as an
 * Effect. Interruption does not wait for it; a result that comes after the fiber gave up goes to `late`.
 */
const detached = <A>(
  start: (done: (error: unknown, result: A | undefined) => void) => void,
  late?: (result: A) => void
): Effect.Effect<A, SqlError> =>
  Effect.async<A, SqlError>((resume) => {
    let waiting = true
    start((error, result) => {
      if (!waiting) {
        if (!failed(error) && late !== undefined) late(result as A)
        return
      }
      waiting = false
      resume(failed(error) ? sqlFailure(error) : Effect.succeed(result as A))
    })
    return Effect.sync(() => {
      waiting = false
    })
  })

/**
 * A client over `driver`.
 *
 * @internal
 */
export const make = <C extends object>(
  driver: Driver<C>,
  settings: Settings
): Effect.Effect<SqlClient.SqlClient, never, Reactivity.Reactivity> => {
  const { commandTimeout, connectTimeout } = settings
  // Connections that ran the session statement.
  const ready = new WeakSet<C>()
  // The prepared statements' names, by text (`Direct.prepare`).
  const names = new Map<string, string>()

  const answers = deadlines(commandTimeout)
  const connections = deadlines(connectTimeout)

  // One statement on `connection`, failing with `DeadlineExceeded` (after `expire`) once the command timeout passed.
  const statement = (
    connection: C,
    text: string,
    params: ReadonlyArray<unknown>,
    mode: Mode,
    expire: (cause: DeadlineExceeded) => void,
    done: (error: unknown, result: unknown) => void
  ): void => {
    const deadline = answers.add(() => {
      const cause = new DeadlineExceeded("answer", commandTimeout)
      expire(cause)
      done(cause, undefined)
    })
    // (Callbacks of a statement are written in place, not named: a named closure costs a call more under tsx.)
    try {
      driver.query(
        connection,
        text,
        mode === "unprepared" ? undefined : names.get(text),
        params,
        mode,
        (error, result) => settle(deadline, done, error, result)
      )
    } catch (error) {
      settle(deadline, done, error, undefined)
    }
  }

  // A connection of the pool, ready (its session statement run), or `DeadlineExceeded` after the connect timeout (set
  // only when the connection does not come at once).
  interface Wait {
    deadline: Deadline | undefined
    settled: boolean
    readonly done: (error: unknown, connection: C | undefined) => void
  }
  const got = (wait: Wait, error: unknown, connection: C | undefined): void => {
    if (wait.settled) {
      if (connection !== undefined) driver.release(connection, failed(error) ? toError(error) : undefined)
      return
    }
    wait.settled = true
    if (wait.deadline !== undefined) wait.deadline.settled = true
    wait.done(error, connection)
  }
  const acquire = (done: (error: unknown, connection: C | undefined) => void): void => {
    const wait: Wait = { deadline: undefined, settled: false, done }
    driver.connect((error, connection) => {
      if (failed(error) || connection === undefined) {
        return got(wait, failed(error) ? error : new Error("the pool gave no connection"), undefined)
      }
      const session = driver.session()
      if (session === undefined || ready.has(connection)) return got(wait, undefined, connection)
      statement(connection, session, [], "unprepared", (cause) => driver.destroy(connection, cause), (error) => {
        if (failed(error)) {
          driver.release(connection, toError(error))
          return got(wait, error, undefined)
        }
        ready.add(connection)
        got(wait, undefined, connection)
      })
    })
    if (!wait.settled) {
      wait.deadline = connections.add(() => {
        wait.settled = true
        done(new DeadlineExceeded("connection", connectTimeout), undefined)
      })
    }
  }

  const connectionOf = (
    run: (text: string, params: ReadonlyArray<unknown>, mode: Mode) => Effect.Effect<any, SqlError>
  ) => {
    const rows = (
      text: string,
      params: ReadonlyArray<unknown>,
      mode: Mode,
      transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
    ): Effect.Effect<ReadonlyArray<any>, SqlError> =>
      transformRows === undefined ? run(text, params, mode) : Effect.map(run(text, params, mode), transformRows)
    const connection: Connection = {
      execute: (text, params, transformRows) => rows(text, params, "rows", transformRows),
      executeRaw: (text, params) => run(text, params, "raw"),
      executeValues: (text, params) => run(text, params, "values"),
      executeUnprepared: (text, params, transformRows) => rows(text, params, "unprepared", transformRows),
      // Read whole: the store never streams.
      executeStream: (text, params, transformRows) =>
        Stream.flatMap(Stream.fromEffect(rows(text, params, "rows", transformRows)), Stream.fromIterable)
    }
    return connection
  }

  // A statement on a connection of the pool, released when the answer comes, discarded at the deadline. Interrupted,
  // it runs on, and its answer goes nowhere.
  const runPooled = (text: string, params: ReadonlyArray<unknown>, mode: Mode): Effect.Effect<unknown, SqlError> =>
    Effect.async<unknown, SqlError>((resume) =>
      acquire((error, connection) => {
        if (failed(error) || connection === undefined) return resume(sqlFailure(error))
        let discarded = false
        statement(connection, text, params, mode, (cause) => {
          discarded = true
          driver.destroy(connection, cause)
          driver.release(connection, cause)
        }, (error, result) => {
          if (!discarded) driver.release(connection, undefined)
          resume(failed(error) ? sqlFailure(error) : Effect.succeed(result))
        })
      })
    )
  const pooled = connectionOf(runPooled)

  interface Reserved {
    readonly connection: C
    running: number
    discarded: DeadlineExceeded | undefined
  }

  // A connection of its own for the scope: released at its end, or discarded if a statement passed its deadline or
  // is still running.
  const reserve: Effect.Effect<Connection, SqlError, Scope.Scope> = Effect.map(
    Effect.acquireRelease(
      detached<Reserved>(
        (done) =>
          acquire((error, connection) =>
            done(error, connection === undefined ? undefined : { connection, running: 0, discarded: undefined })
          ),
        (late) => driver.release(late.connection, undefined)
      ),
      (reserved) =>
        Effect.sync(() => {
          const cause = reserved.discarded ??
            (reserved.running > 0 ? new Error("released while a statement was still running") : undefined)
          if (cause !== undefined) driver.destroy(reserved.connection, cause)
          driver.release(reserved.connection, cause)
        })
    ),
    (reserved) =>
      connectionOf((text, params, mode) =>
        detached((done) => {
          if (reserved.discarded !== undefined) return done(reserved.discarded, undefined)
          reserved.running++
          statement(reserved.connection, text, params, mode, (cause) => {
            reserved.discarded = cause
            driver.destroy(reserved.connection, cause)
          }, (error, result) => {
            reserved.running--
            done(error, result)
          })
        })
      )
  )

  const direct: Direct = {
    prepare: (texts) => {
      for (const text of texts) if (!names.has(text)) names.set(text, `effect_kv_${names.size}`)
    },
    run: (text, params, mode) =>
      Effect.withFiberRuntime((fiber) => {
        const transaction = Context.getOption(fiber.currentContext, SqlClient.TransactionConnection)
        if (transaction._tag === "None") return runPooled(text, params, mode)
        const [connection] = transaction.value
        return mode === "raw" ? connection.executeRaw(text, params) : connection.execute(text, params, undefined)
      })
  }
  return Effect.tap(
    SqlClient.make({
      acquirer: Effect.succeed(pooled),
      transactionAcquirer: reserve,
      compiler: settings.compiler,
      spanAttributes: settings.spanAttributes
    }),
    (client) => {
      directs.set(client, direct)
    }
  )
}

/**
 * The way of a store to the pool under its own client (`directOf`), beside `@effect/sql`'s statements: for the
 * statements it runs most, which need neither the statement compiler nor a span nor a scope of their own.
 *
 * @internal
 */
export interface Direct {
  /**
   * Makes each of `texts` a prepared statement of every connection, under a name of its own (`Driver.query`):
   * parsed and planned once per connection, whether it runs through `run` or through the client.
   */
  readonly prepare: (texts: Iterable<string>) => void
  /**
   * Runs one statement, as the client would: on the connection of the transaction in the fiber's context (the
   * application's `withTransaction`, a region of the store), or else on a connection of the pool, under the same
   * deadlines; `rows` answers the rows, `raw` the driver's result.
   */
  readonly run: (
    text: string,
    params: ReadonlyArray<unknown>,
    mode: "rows" | "raw"
  ) => Effect.Effect<unknown, SqlError>
}

const directs = new WeakMap<SqlClient.SqlClient, Direct>()

/**
 * The direct way to the pool of a client this module made; undefined for any other client (an application's own).
 *
 * @internal
 */
export const directOf = (client: SqlClient.SqlClient): Direct | undefined => directs.get(client)

const toError = (cause: unknown): Error => cause instanceof Error ? cause : new Error(String(cause))

/**
 * Ends a pool: `end` (the driver's graceful end, reporting through its callback) waited for at most a second, then
 * `destroyAll` for the connections still open (a stalled link never answers their goodbye).
 *
 * @internal
 */
export const close = (end: (done: () => void) => void, destroyAll: () => void): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    let settled = false
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      destroyAll()
      resume(Effect.void)
    }
    const timer = setTimeout(finish, 1000)
    try {
      end(finish)
    } catch {
      finish()
    }
  })
