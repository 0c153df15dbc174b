/**
 * Transaction regions of one store: `withTransaction` and the scoped `transaction`, over an engine that can begin,
 * commit and roll back one level of a stack of nested transactions (a transaction, then savepoints). While a region
 * is open, the store admits only the fibers that belong to it (the fiber that opened it and every fiber forked inside
 * it while it is open, recognised by a token they carry in a `FiberRef`); any other fiber's operation waits until the
 * region ends, so it neither joins the transaction by accident nor reads its uncommitted writes. A nested region is
 * a savepoint and, while it is open, the outer region's other fibers wait for it in the same way, so a savepoint
 * never holds a sibling's writes.
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
 * Who may use the store now.
 *
 * @internal
 */
export interface Gate {
  /** Whether no region is open, or `fiber` belongs to the innermost one (and it is still alive). */
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
 * Runs `effect` as a fiber of no region (a background fiber forked inside a region that must not join it, such as a
 * lock's heartbeat): its operations wait for open regions like any other fiber's.
 *
 * @internal
 */
export const outside = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locally(effect, membership, new Set())

const member = (token: object) => (tokens: ReadonlySet<object>): ReadonlySet<object> => new Set(tokens).add(token)

/**
 * The regions of one store over `engine`; `toError` maps what the engine throws.
 *
 * @internal
 */
export const make = (
  engine: Engine,
  toError: (method: string, cause: unknown) => KeyValueStoreError
): Regions => {
  const stack: Array<object> = []
  const waiters = new Set<() => void>()

  const alive = engine.alive ?? (() => true)
  const inInnermost = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
    fiber.getFiberRef(membership).has(stack[stack.length - 1]!)
  const admits = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
    stack.length === 0 || (inInnermost(fiber) && alive())
  const aborted = (method: string) =>
    toError(method, new Error("the engine rolled the transaction back after a failed statement"))

  const changed: Effect.Effect<void> = Effect.async<void>((resume) => {
    const wake = () => resume(Effect.void)
    waiters.add(wake)
    return Effect.sync(() => {
      waiters.delete(wake)
    })
  })

  const notify = (): void => {
    const woken = Array.from(waiters)
    waiters.clear()
    for (const wake of woken) wake()
  }

  const guard = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | KeyValueStoreError, R> =>
    Effect.withFiberRuntime((fiber) => {
      if (stack.length === 0) return effect
      if (!inInnermost(fiber)) return Effect.zipRight(changed, guard(effect))
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
    return token
  }

  // Ends the innermost region (the one of `token`): commits on success, rolls back otherwise. A failed commit is
  // rolled back and returned.
  const close = (method: string, token: object, commit: boolean): KeyValueStoreError | undefined => {
    const depth = stack.indexOf(token)
    if (depth !== stack.length - 1) throw new Error(`effect-kv: regions closed out of order (${depth})`)
    let failure: KeyValueStoreError | undefined
    try {
      if (commit) engine.commit(depth)
      else engine.rollback(depth)
    } catch (cause) {
      failure = toError(method, cause)
      if (commit) {
        try {
          engine.rollback(depth)
        } catch {
          // the commit's failure is the one reported
        }
      }
    } finally {
      stack.pop()
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
      if (stack.length > 0 && !inInnermost(fiber)) return Effect.zipRight(restore(changed), enter(method, restore))
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

  const inRegion = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => {
    if (stack.length === 0) return false
    const tokens = fiber.getFiberRef(membership)
    return stack.some((token) => tokens.has(token))
  }

  return { admits, guard, inRegion, withTransaction, transaction }
}
