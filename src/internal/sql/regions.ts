/**
 * Transaction regions of a SqlStore (`withTransaction` and the scoped `transaction`) over an `@effect/sql` client,
 * with the semantics of `regions.ts`: while a region is open, only its fibers (the one that opened it and those forked
 * inside it) use the store, every other fiber's operation waits for the region to end; nested regions are savepoints;
 * a scoped transaction whose scope outlives the region around it ends with that region. The engine is asynchronous
 * here, so this module keeps its own stack of levels (sharing `regions.ts`' membership of fibers, so that
 * `regions.outside` works for both).
 *
 * A region is a real transaction on one connection: reserved from the pool for the region (or, when the fiber is
 * already inside the application's `sql.withTransaction`, a savepoint of that transaction). The connection is put in
 * the region's context as `@effect/sql`'s `TransactionConnection`, so the store's statements, and the application's
 * own statements in the region, run in it, and a read-modify-write inside it is a savepoint. The store's operations
 * from the region's fibers run one at a time on the connection (a savepoint of one fiber must not interleave with
 * another's). A fiber forked in the region that outlives it still carries the connection in its context: the gate
 * takes it out before the fiber's operations run.
 *
 * Across processes, a region holds the table's region lock for its whole length (`sqlSchema.Statements.regionLock`):
 * PostgreSQL's advisory transaction lock, taken right after `BEGIN` (polled with `pg_try_advisory_xact_lock`, so
 * that an interrupted wait never leaves a statement to cancel) and released by the transaction's end; MySQL's
 * `GET_LOCK`, taken before `START TRANSACTION` (polled a second at a time, so that the wait stays interruptible
 * without leaving a lock behind) and released after it. So regions of one table serialize across processes as
 * SQLite's `BEGIN IMMEDIATE` makes them, which SQLite's region uses. A failure that ends the engine's transaction
 * (a MySQL deadlock, a lost connection) makes the region's later operations and its commit fail, and PostgreSQL's
 * `COMMIT` of a transaction a failed statement aborted (answered by `ROLLBACK`) fails the region instead of passing
 * for a commit.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Scope from "effect/Scope"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import * as regions from "../regions.js"
import * as sqlSchema from "./schema.js"

type Tuple = readonly [conn: Connection, counter: number]

interface Level {
  readonly token: object
  /** The connection and the savepoint counter the level's fibers run with (`TransactionConnection`). */
  readonly tuple: Tuple
  /** The savepoint of the level; undefined when the level is a transaction of its own. */
  readonly savepoint: string | undefined
  /** The scope holding the reserved connection of a transaction of its own. */
  readonly scope: Scope.CloseableScope | undefined
  /** A session lock to release once the level ended (the outermost level, on MySQL). */
  readonly unlock: string | undefined
}

/** @internal */
export interface Options {
  readonly sql: SqlClient.SqlClient
  readonly dialect: sqlSchema.Dialect
  readonly statements: Pick<sqlSchema.Statements, "begin" | "regionLock">
  readonly toError: (method: string, cause: unknown) => KeyValueStoreError
}

const retry: unique symbol = Symbol("retry")

const unprepared = (conn: Connection, text: string) =>
  conn.executeUnprepared(text, [], undefined) as Effect.Effect<ReadonlyArray<Record<string, unknown>>, unknown>

/**
 * Takes a session lock (MySQL's `GET_LOCK`, whose statement waits a bounded time): each attempt runs to its end (an
 * attempt cut short could take the lock after the caller gave up), the wait can be interrupted between attempts, and
 * it fails after `attempts` attempts.
 *
 * @internal
 */
export const takeSessionLock = (
  conn: Connection,
  text: string,
  restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
  attempts: number
): Effect.Effect<void, unknown> =>
  Effect.flatMap(unprepared(conn, text), (rows) => {
    const acquired = rows[0]?.acquired
    if (acquired === 1 || acquired === 1n || acquired === "1") return Effect.void
    if ((acquired === 0 || acquired === 0n || acquired === "0") && attempts > 1) {
      // A short pause between attempts: a server that rounds a wait below a second down to none answers at once.
      return Effect.zipRight(restore(pause(10)), takeSessionLock(conn, text, restore, attempts - 1))
    }
    return Effect.fail(
      new Error(
        acquired === 0 || acquired === 0n || acquired === "0"
          ? "timed out waiting for a lock held by another connection"
          : `the lock could not be taken (${String(acquired)})`
      )
    )
  })

// Waits `millis` of real time (never the test clock: the other process does not follow it), interruptibly.
const pause = (millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * Takes a transaction lock with a statement that does not wait (`ServerLock.poll`, answering `acquired`), polled
 * with a growing pause of at most 20 ms that can be interrupted: no statement is ever in flight when the caller gives
 * up, so nothing has to be cancelled (PostgreSQL's cancellation needs a free connection of the pool).
 *
 * @internal
 */
export const pollLock = (
  conn: Connection,
  text: string,
  restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>,
  wait = 1
): Effect.Effect<void, unknown> =>
  Effect.flatMap(unprepared(conn, text), (rows) => {
    const acquired = rows[0]?.acquired
    if (acquired === true || acquired === 1 || acquired === "t" || acquired === "true") return Effect.void
    if (acquired !== false && acquired !== 0 && acquired !== "f" && acquired !== "false") {
      return Effect.fail(new Error(`the lock could not be taken (${String(acquired)})`))
    }
    return Effect.zipRight(restore(pause(wait)), pollLock(conn, text, restore, Math.min(20, wait * 2)))
  })

// Takes a region lock held by the transaction (`session: false`), by polling where the dialect can.
const takeTransactionLock = (
  conn: Connection,
  lock: sqlSchema.ServerLock,
  restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
): Effect.Effect<void, unknown> =>
  lock.poll === undefined ? Effect.asVoid(restore(unprepared(conn, lock.acquire))) : pollLock(conn, lock.poll, restore)

/**
 * The regions of one store.
 *
 * @internal
 */
export const make = (options: Options): regions.Regions => {
  const { dialect, sql, statements, toError } = options
  const lock = statements.regionLock
  const levels: Array<Level> = []
  // Outermost regions being opened or closed: nobody else may use the store meanwhile.
  let transitions = 0
  let dead: KeyValueStoreError | undefined
  // The tuples this store put in contexts, so that a fiber carrying one after its region ended is recognised.
  const ours = new WeakSet<Tuple>()
  const permits = Effect.unsafeMakeSemaphore(1)
  let version = 0
  const waiters = new Set<() => void>()

  const notify = (): void => {
    version++
    const woken = Array.from(waiters)
    waiters.clear()
    for (const wake of woken) wake()
  }

  const changedSince = (seen: number): Effect.Effect<void> =>
    Effect.async<void>((resume) => {
      if (version !== seen) return resume(Effect.void)
      const wake = () => resume(Effect.void)
      waiters.add(wake)
      return Effect.sync(() => {
        waiters.delete(wake)
      })
    })

  const inRegion = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
    levels.some((level) => regions.isMember(fiber, level.token))
  const inInnermost = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
    levels.length > 0 && regions.isMember(fiber, levels[levels.length - 1]!.token)
  const admits = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
    levels.length === 0 ? transitions === 0 : inRegion(fiber) && dead === undefined

  const transactionOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Tuple | undefined => {
    const found = Context.getOption(fiber.currentContext, SqlClient.TransactionConnection)
    return found._tag === "Some" ? found.value : undefined
  }

  // Marks the region dead when `cause` holds a failure after which the engine's transaction is gone.
  const watch = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.onError(effect, (cause) =>
      Effect.sync(() => {
        if (dead !== undefined || levels.length === 0) return
        for (const failure of [...Cause.failures(cause), ...Cause.defects(cause)]) {
          if (sqlSchema.endsTransaction(dialect, failure)) {
            dead = toError("transaction", failure)
            return
          }
        }
      }))

  // A fiber outside every open region: its context may still carry the connection of a region of this store that
  // ended (it was forked inside it), which its statements must not use.
  const outside = <A, E, R>(fiber: Fiber.RuntimeFiber<unknown, unknown>, effect: Effect.Effect<A, E, R>) => {
    const carried = transactionOf(fiber)
    return carried !== undefined && ours.has(carried)
      ? Effect.locallyWith(effect, FiberRef.currentContext, Context.omit(SqlClient.TransactionConnection))
      : effect
  }

  const guard = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyValueStoreError, R> =>
    Effect.withFiberRuntime((fiber) => {
      if (levels.length === 0) {
        return transitions > 0 ? Effect.zipRight(changedSince(version), guard(effect)) : outside(fiber, effect)
      }
      if (!inRegion(fiber)) return Effect.zipRight(changedSince(version), guard(effect))
      if (dead !== undefined) return Effect.fail(dead)
      // One operation of the region at a time; the region may have ended while this one waited for its turn.
      return Effect.flatMap(
        permits.withPermits(1)(
          Effect.withFiberRuntime<A | typeof retry, E | KeyValueStoreError, R>((current) =>
            !inRegion(current) ? Effect.succeed(retry) : dead !== undefined ? Effect.fail(dead) : watch(effect)
          )
        ),
        (result): Effect.Effect<A, E | KeyValueStoreError, R> =>
          result === retry ? guard(effect) : Effect.succeed(result)
      )
    })

  // Ends the engine's transaction of a level that is one; PostgreSQL answers `COMMIT` with `ROLLBACK` when a failed
  // statement had aborted the transaction.
  const commit = (conn: Connection): Effect.Effect<void, unknown> =>
    sqlSchema.specs[dialect].abortedCommitRollsBack
      ? Effect.flatMap(conn.executeRaw("COMMIT", []), (raw) =>
        (raw as { readonly command?: unknown }).command === "ROLLBACK"
          ? Effect.fail(new Error("the transaction was rolled back after a failed statement"))
          : Effect.void)
      : Effect.asVoid(unprepared(conn, "COMMIT"))

  const ignore = (effect: Effect.Effect<unknown, unknown>) => Effect.ignore(effect)

  // Opens the outermost level: a savepoint of the application's transaction the fiber is in, or a transaction of its
  // own on a reserved connection; either way holding the region lock.
  const beginOuter = (
    method: string,
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
  ): Effect.Effect<Level, KeyValueStoreError> => {
    const fail = (cause: unknown) => Effect.fail(toError(method, cause))
    const carried = transactionOf(fiber)
    const application = carried !== undefined && !ours.has(carried) ? carried : undefined
    if (application !== undefined) {
      const [conn, counter] = application
      const savepoint = `kv_region_${counter + 1}`
      const undo = ignore(unprepared(conn, `ROLLBACK TO SAVEPOINT ${savepoint}`))
      return Effect.gen(function*() {
        const opened = yield* Effect.exit(unprepared(conn, `SAVEPOINT ${savepoint}`))
        if (Exit.isFailure(opened)) return yield* fail(Cause.squash(opened.cause))
        if (lock !== undefined) {
          const locked = yield* Effect.exit(
            lock.session
              ? takeSessionLock(conn, lock.acquire, restore, Infinity)
              : takeTransactionLock(conn, lock, restore)
          )
          if (Exit.isFailure(locked)) {
            yield* undo
            return yield* (Exit.isInterrupted(locked) ? Effect.interrupt : fail(Cause.squash(locked.cause)))
          }
        }
        return {
          token: {},
          tuple: [conn, counter + 1] as const,
          savepoint,
          scope: undefined,
          unlock: lock?.session ? lock.release : undefined
        }
      })
    }
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const abandon = (exit: Exit.Exit<unknown, unknown>) => Scope.close(scope, exit)
      const reserved = yield* Effect.exit(Scope.extend(sql.reserve, scope))
      if (Exit.isFailure(reserved)) {
        yield* abandon(reserved)
        return yield* fail(Cause.squash(reserved.cause))
      }
      const conn = reserved.value
      if (lock?.session) {
        const locked = yield* Effect.exit(takeSessionLock(conn, lock.acquire, restore, Infinity))
        if (Exit.isFailure(locked)) {
          yield* abandon(locked)
          return yield* (Exit.isInterrupted(locked) ? Effect.interrupt : fail(Cause.squash(locked.cause)))
        }
      }
      const unlock = lock?.session ? ignore(unprepared(conn, lock.release!)) : Effect.void
      const began = yield* Effect.exit(unprepared(conn, statements.begin))
      if (Exit.isFailure(began)) {
        yield* unlock
        yield* abandon(began)
        return yield* fail(Cause.squash(began.cause))
      }
      if (lock !== undefined && !lock.session) {
        const locked = yield* Effect.exit(takeTransactionLock(conn, lock, restore))
        if (Exit.isFailure(locked)) {
          yield* ignore(unprepared(conn, "ROLLBACK"))
          yield* abandon(locked)
          return yield* (Exit.isInterrupted(locked) ? Effect.interrupt : fail(Cause.squash(locked.cause)))
        }
      }
      return {
        token: {},
        tuple: [conn, 0] as const,
        savepoint: undefined,
        scope,
        unlock: lock?.session ? lock.release : undefined
      }
    })
  }

  const push = (level: Level): Level => {
    levels.push(level)
    ours.add(level.tuple)
    notify()
    return level
  }

  // A nested level: a savepoint on the region's connection, opened in the region's turn.
  const beginNested = (
    method: string,
    parent: Level,
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
  ): Effect.Effect<Level, KeyValueStoreError> =>
    Effect.flatMap(
      permits.withPermits(1)(Effect.suspend((): Effect.Effect<Level | typeof retry, KeyValueStoreError> => {
        if (!levels.includes(parent)) {
          return Effect.fail(toError(method, new Error("the transaction around this one has ended")))
        }
        // Another fiber of the region opened a savepoint meanwhile: wait for it to end.
        if (levels[levels.length - 1] !== parent) return Effect.succeed(retry)
        if (dead !== undefined) return Effect.fail(dead)
        const [conn, counter] = parent.tuple
        const savepoint = `kv_region_${counter + 1}`
        return Effect.mapBoth(unprepared(conn, `SAVEPOINT ${savepoint}`), {
          onFailure: (cause) => toError(method, cause),
          onSuccess: () =>
            push({ token: {}, tuple: [conn, counter + 1] as const, savepoint, scope: undefined, unlock: undefined })
        })
      })),
      (level) => level === retry ? enter(method, restore) : Effect.succeed(level)
    )

  // Waits (interruptibly) until the running fiber may open a region, then opens it; its bookkeeping is done in the
  // same uninterruptible stretch as the engine's statements.
  const enter = (
    method: string,
    restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
  ): Effect.Effect<Level, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) => {
      if (transitions > 0 || (levels.length > 0 && !inInnermost(fiber))) {
        return Effect.zipRight(restore(changedSince(version)), enter(method, restore))
      }
      if (levels.length > 0) {
        return dead !== undefined ? Effect.fail(dead) : beginNested(method, levels[levels.length - 1]!, restore)
      }
      transitions++
      return beginOuter(method, fiber, restore).pipe(
        Effect.map(push),
        Effect.ensuring(Effect.sync(() => {
          transitions--
          notify()
        }))
      )
    })

  // Ends `level` and every level opened inside it that is still open (a scoped transaction whose scope outlives the
  // region around it), innermost first: all commit on success, or roll back. A failed commit rolls back what is left
  // and is returned. A level already ended with an enclosing one ends as a no-op.
  const close = (method: string, level: Level, success: boolean): Effect.Effect<KeyValueStoreError | undefined> =>
    permits.withPermits(1)(Effect.suspend(() => {
      const index = levels.indexOf(level)
      if (index < 0) return Effect.succeed(undefined)
      const closing = levels.splice(index).reverse()
      const outermost = levels.length === 0
      if (outermost) transitions++
      let failure: KeyValueStoreError | undefined = success ? dead : undefined
      const endLevel = (current: Level): Effect.Effect<void> => {
        const [conn] = current.tuple
        const keep = success && failure === undefined
        const rollback = current.savepoint === undefined
          ? ignore(unprepared(conn, "ROLLBACK"))
          : ignore(Effect.zipRight(
            unprepared(conn, `ROLLBACK TO SAVEPOINT ${current.savepoint}`),
            unprepared(conn, `RELEASE SAVEPOINT ${current.savepoint}`)
          ))
        const end = !keep
          ? rollback
          : Effect.catchAll(
            current.savepoint === undefined
              ? commit(conn)
              : Effect.asVoid(unprepared(conn, `RELEASE SAVEPOINT ${current.savepoint}`)),
            (cause) =>
              Effect.zipRight(
                Effect.sync(() => {
                  failure = toError(method, cause)
                }),
                rollback
              )
          )
        return Effect.zipRight(
          end,
          Effect.zipRight(
            current.unlock === undefined ? Effect.void : ignore(unprepared(conn, current.unlock)),
            current.scope === undefined ? Effect.void : Scope.close(current.scope, Exit.void)
          )
        )
      }
      return Effect.forEach(closing, endLevel, { discard: true }).pipe(
        Effect.ensuring(Effect.sync(() => {
          if (outermost) {
            transitions--
            dead = undefined
          }
          notify()
        })),
        Effect.map(() => failure)
      )
    }))

  // The region's effect, run with the region's connection and membership.
  const joined = <A, E, R>(effect: Effect.Effect<A, E, R>, level: Level): Effect.Effect<A, E, R> =>
    regions.joining(
      Effect.locallyWith(effect, FiberRef.currentContext, Context.add(SqlClient.TransactionConnection, level.tuple)),
      level.token
    )

  const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyValueStoreError, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(enter("withTransaction", restore), (level) =>
        restore(joined(effect, level)).pipe(
          Effect.exit,
          Effect.flatMap((exit): Effect.Effect<A, E | KeyValueStoreError> =>
            Effect.flatMap(
              close("withTransaction", level, Exit.isSuccess(exit)),
              (failure): Effect.Effect<A, E | KeyValueStoreError> => failure === undefined ? exit : Effect.fail(failure)
            )
          )
        ))
    )

  // A failed commit cannot fail the scope's closing: it is rolled back and surfaces as a defect of the scope.
  const transaction: Effect.Effect<void, KeyValueStoreError, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(enter("transaction", restore), (level) =>
      Effect.zipRight(
        Effect.addFinalizer((exit) =>
          Effect.flatMap(
            close("transaction", level, Exit.isSuccess(exit)),
            (failure) => failure === undefined ? Effect.void : Effect.die(failure)
          )
        ),
        Effect.zipRight(
          Effect.locallyScopedWith(FiberRef.currentContext, Context.add(SqlClient.TransactionConnection, level.tuple)),
          regions.joiningScoped(level.token)
        )
      ))
  )

  return { admits, guard, inRegion, withTransaction, transaction }
}
