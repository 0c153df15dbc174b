/**
 * Helpers of the lock tests: settling fibers, a lock held until released, whether a lock is free, the tag of an exit.
 */
import { assert } from "@effect/vitest"
import type { KeyValueStore, KeyValueStoreError } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberImpl from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"

export type Store = KeyValueStore.Service
export type StoreError = KeyValueStoreError.KeyValueStoreError

export const settle = Effect.repeatN(Effect.yieldNow(), 50)

export const isRunning = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(FiberImpl.poll(fiber), Option.isNone)

/** A lock held until `release`. */
export const hold = (store: Store, name: string, options?: KeyValueStore.LockOptions) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const lock = yield* Scope.extend(store.lock(name, { timeout: 0, ...options }), scope).pipe(
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    return { lock, release: Scope.close(scope, Exit.void) }
  })

/** Whether `name` can be taken right now (tried once, released at once). */
export const free = (store: Store, name: string) =>
  Effect.scoped(store.lock(name, { timeout: 0 })).pipe(
    Effect.as(true),
    Effect.catchTag("LockTimeout", () => Effect.succeed(false))
  )

export const tagOf = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit)
    ? "success"
    : Exit.isInterrupted(exit)
    ? "interrupted"
    : Option.match(
      Option.fromNullable(
        (exit.cause as unknown as { readonly error?: { readonly _tag?: string } }).error
      ),
      { onNone: () => "defect/other", onSome: (e) => String(e._tag) }
    )

export const expectTag = (exit: Exit.Exit<unknown, unknown>, tag: string, what: string) =>
  assert.strictEqual(tagOf(exit), tag, what)
