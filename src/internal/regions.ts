/**
 * Transaction regions of one store: `withTransaction` and the scoped `transaction`, over an engine that can begin,
 * commit and roll back one level of a stack of nested transactions (a transaction, then savepoints). While a region
 * is open, the store admits only the fibers that belong to it (the fiber that opened it and every fiber forked inside
 * it while it is open, recognised by a token they carry in a `FiberRef`); any other fiber's operation waits until the
 * region ends, so it neither joins the transaction by accident nor reads its uncommitted writes. A nested region is
 * a savepoint. The region's fibers keep running while one of them holds a savepoint, and what they write meanwhile
 * belongs to it (as on any single connection; making them wait would hang a savepoint that joins a sibling), but a
 * second nested region waits for the first to end, so savepoints always close innermost first. A scoped transaction
 * whose scope outlives the region around it ends with that region.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import type * as Scope from "effect/Scope"
import { isKeyValueStoreError, type KeyValueStoreError } from "../KeyValueStoreError.js"

/**
 * One level of nesting of the engine's transactions: `depth` 0 is the transaction itself, deeper ones savepoints.
 * Each throws on failure (the store maps the throw with its `toError`).
 *
 * @internal
 */
export interface Engine {
  readonly begin: (depth: number) => void
  readonly commit: (depth: number) => void
  readonly rollback: (depth: number) => void
  /**
   * Whether the open transaction is still open (SQLite rolls the whole transaction back by itself after some
   * failures: a full disk, an I/O error). When it answers false, the region's operations fail instead of running
   * outside any transaction, and so does its commit.
   */
  readonly alive?: (() => boolean) | undefined
}

/**
 * A store's counts of removals it made itself (`stats.evictions`, `stats.expirations`).
 *
 * @internal
 */
export interface Counts {
  evictions: number
  expirations: number
}

/**
 * Puts back the counts of a level that rolled back (its evictions and expirations were undone), unless the counters
 * were reset meanwhile.
 *
 * @internal
 */
export const restoreCounts = (counters: Counts, saved: Readonly<Counts>): void => {
  counters.evictions = Math.min(counters.evictions, saved.evictions)
  counters.expirations = Math.min(counters.expirations, saved.expirations)
}

/**
 * Who may use the store now.
 *
 * @internal
 */
export interface Gate {
  /** Whether no region is open, or `fiber` belongs to an open one (and the transaction is still alive). */
  readonly admits: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => boolean
  /**
   * Runs `effect` once the running fiber is admitted; fails with `BackendError` when the fiber's region was rolled
   * back by the engine.
   */
  readonly guard: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | KeyValueStoreError, R>
  /** Whether `fiber` belongs to an open region of this store. */
  readonly inRegion: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => boolean
}

/** @internal */
export interface Regions extends Gate {
  readonly withTransaction: <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | KeyValueStoreError, R>
  readonly transaction: Effect.Effect<void, KeyValueStoreError, Scope.Scope>
}

// The open regions a fiber belongs to (tokens of every store). A forked fiber starts with its parent's; a joined
// fiber's value never replaces its parent's (a child forked before a region must not drop the parent out of it).
const membership = FiberRef.unsafeMake<ReadonlySet<object>>(new Set(), {
  fork: (parent) => parent,
  join: (parent) => parent
})

/**
 * What the stores on one engine (one SQLite file, in this process) share: which of their regions holds the engine
 * now, and the waiters woken whenever a region of any of them ends. A fiber outside that region waits for it in every
 * store of the engine, asynchronously, instead of meeting the engine's lock (which blocks the thread up to the busy
 * timeout, then fails with `Busy`).
 *
 * @internal
 */
export interface Shared {
  holder: Regions | undefined
  version: number
  readonly waiters: Set<() => void>
}

/** @internal */
export const newShared = (): Shared => ({ holder: undefined, version: 0, waiters: new Set() })

/**
 * Runs `effect` as a fiber of no region (a background fiber forked inside a region that must not join it, such as a
 * lock's heartbeat): its operations wait for open regions like any other fiber's.
 *
 * @internal
 */
export const outside = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, membership, new Set())

const member = (token: object) => (tokens: ReadonlySet<object>): ReadonlySet<object> => new Set(tokens).add(token)

/**
 * Whether `fiber` belongs to the region of `token`, for region implementations other than `make` (SqlStore's, whose
 * engine is asynchronous): they share this membership, so `outside` takes a fiber out of their regions too.
 *
 * @internal
 */
export const isMember = (fiber: Fiber.RuntimeFiber<unknown, unknown>, token: object): boolean =>
  fiber.getFiberRef(membership).has(token)

/**
 * Runs `effect` as a member of the region of `token` (and of every region it already belongs to).
 *
 * @internal
 */
export const joining = <A, E, R>(effect: Effect.Effect<A, E, R>, token: object): Effect.Effect<A, E, R> =>
  Effect.locallyWith(effect, membership, member(token))

/**
 * Makes the running fiber a member of the region of `token` for the rest of the scope.
 *
 * @internal
 */
export const joiningScoped = (token: object): Effect.Effect<void, never, Scope.Scope> =>
  Effect.locallyScopedWith(membership, member(token))

/**
 * The regions of one store over `engine`; `toError` maps what the engine throws.
 *
 * @internal
 */
export const make = (
  engine: Engine,
  toError: (method: string, cause: unknown) => KeyValueStoreError,
  shared?: Shared | undefined
): Regions => {
  const stack: Array<object> = []
  // The regions of the other stores on the same engine, and where waiters of all of them are woken.
  const peers = shared ?? newShared()
  // Another store's regions holding the engine while one of its regions is open (only with `shared`).
  const heldByPeer = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
    peers.holder !== undefined && peers.holder !== self && !peers.holder.inRegion(fiber)

  const alive = engine.alive ?? (() => true)
  const inInnermost = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
    fiber.getFiberRef(membership).has(stack[stack.length - 1]!)
  const inRegion = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
    if (stack.length === 0) return false
    const tokens = fiber.getFiberRef(membership)
    return stack.some((token) => tokens.has(token))
  }
  const admits = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
    stack.length === 0 ? !heldByPeer(fiber) : inRegion(fiber) && alive()
  const aborted = (method: string) =>
    toError(method, new Error("the engine rolled the transaction back after a failed statement"))

  // Resumes once a region ends after the caller saw `seen`: at once when one already has, so a region ending between
  // the caller's check and this registration is never missed.
  const changedSince = (seen: number): Effect.Effect<void> =>
    Effect.async<void>((resume) => {
      if (peers.version !== seen) return resume(Effect.void)
      const wake = () => resume(Effect.void)
      peers.waiters.add(wake)
      return Effect.sync(() => {
        peers.waiters.delete(wake)
      })
    })

  const notify = (): void => {
    peers.version++
    const woken = Array.from(peers.waiters)
    peers.waiters.clear()
    for (const wake of woken) wake()
  }

  // Operations of any fiber of an open region run (in the innermost level: a savepoint opened by one fiber of a
  // region also holds what its siblings write meanwhile, as on any single connection); others wait.
  const guard = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyValueStoreError, R> =>
    Effect.withFiberRuntime((fiber) => {
      if (stack.length === 0) {
        return heldByPeer(fiber)
          ? Effect.zipRight(changedSince(peers.version), guard(effect))
          : effect
      }
      if (!inRegion(fiber)) return Effect.zipRight(changedSince(peers.version), guard(effect))
      return alive() ? effect : Effect.fail(aborted("transaction"))
    })

  const open = (method: string): object | KeyValueStoreError => {
    try {
      engine.begin(stack.length)
    } catch (cause) {
      return toError(method, cause)
    }
    const token = {}
    stack.push(token)
    if (stack.length === 1) peers.holder = self
    return token
  }

  // Ends the region of `token`, and before it any region opened inside it that is still open (a scoped transaction
  // whose scope outlives the region around it): all of them commit on success (into the enclosing levels, as the
  // engine's own COMMIT would), or roll back. A failed commit rolls back what is left and is returned. A region
  // already ended with an enclosing one ends as a no-op.
  const close = (method: string, token: object, commit: boolean): KeyValueStoreError | undefined => {
    const depth = stack.indexOf(token)
    if (depth < 0) return undefined
    let failure: KeyValueStoreError | undefined
    try {
      for (let level = stack.length - 1; level >= depth; level--) {
        try {
          if (commit && failure === undefined) engine.commit(level)
          else engine.rollback(level)
        } catch (cause) {
          if (failure === undefined) failure = toError(method, cause)
          if (commit) {
            try {
              engine.rollback(level)
            } catch {
              // the first failure is the one reported
            }
          }
        } finally {
          stack.pop()
          if (stack.length === 0 && peers.holder === self) peers.holder = undefined
        }
      }
    } finally {
      notify()
    }
    return failure
  }

  // Waits (interruptibly) until the running fiber is admitted, then opens a region in the same step: an interruption
  // can never fall between the engine's `begin` and the region's bookkeeping.
  const enter = (
    method: string,
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  ): Effect.Effect<object, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) => {
      if (stack.length > 0 ? !inInnermost(fiber) : heldByPeer(fiber)) {
        return Effect.zipRight(restore(changedSince(peers.version)), enter(method, restore))
      }
      if (stack.length > 0 && !alive()) return Effect.fail(aborted(method))
      const token = open(method)
      return isKeyValueStoreError(token) ? Effect.fail(token) : Effect.succeed(token)
    })

  const withTransaction = <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | KeyValueStoreError, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        enter("withTransaction", restore),
        (token) =>
          restore(Effect.locallyWith(effect, membership, member(token))).pipe(
            Effect.exit,
            Effect.flatMap((exit): Effect.Effect<A, E | KeyValueStoreError> => {
              const failure = close("withTransaction", token, Exit.isSuccess(exit))
              return failure === undefined ? exit : Effect.fail(failure)
            })
          )
      )
    )

  // A failed commit cannot fail the scope's closing: it is rolled back and surfaces as a defect of the scope.
  const transaction: Effect.Effect<void, KeyValueStoreError, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(enter("transaction", restore), (token) =>
      Effect.zipRight(
        Effect.addFinalizer((exit) =>
          Effect.suspend(() => {
            const failure = close("transaction", token, Exit.isSuccess(exit))
            return failure === undefined ? Effect.void : Effect.die(failure)
          })
        ),
        Effect.locallyScopedWith(membership, member(token))
      ))
  )

  const self: Regions = { admits, guard, inRegion, withTransaction, transaction }
  return self
}
