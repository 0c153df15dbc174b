/**
 * Locks as leases over a backend's lease table: acquisition with retry and timeout, a heartbeat fiber renewing the
 * lease while it is held, release when the scope closes, fencing tokens, `LockLost`, and semaphores of `n` holders.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Lock, LockOptions } from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import type * as regions from "./regions.js"

/**
 * What a backend implements for locks: slots of a named lock, each held by an `owner` (a fresh random id per
 * acquisition) until `expiresAt` (epoch ms of the store's `Clock`). Every call is atomic across the processes sharing
 * the engine.
 *
 * @internal
 */
export interface LeaseTable {
  /**
   * Takes a slot of `name` for `owner` if fewer than `holders` unexpired slots are held (expired ones are removed on
   * the way); returns the new fencing token (strictly greater than every token ever issued for `name`), or
   * `undefined` when every slot is taken.
   */
  readonly acquire: (
    name: string,
    owner: string,
    holders: number,
    now: number,
    expiresAt: number
  ) => Effect.Effect<bigint | undefined, KeyValueStoreError>
  /** Extends the slot of `owner` to `expiresAt`; false when it expired or is gone (the lease is lost). */
  readonly renew: (
    name: string,
    owner: string,
    now: number,
    expiresAt: number
  ) => Effect.Effect<boolean, KeyValueStoreError>
  /** Frees the slot of `owner` (nothing when it is gone). */
  readonly release: (name: string, owner: string) => Effect.Effect<void, KeyValueStoreError>
}

/**
 * A lease table in memory (MemoryStore's, and any single-process store's).
 *
 * @internal
 */
export const memory = (): LeaseTable => {
  throw new Error("not implemented yet")
}

/**
 * The table with every call behind the store's gate (a transaction region of other fibers holds it back).
 *
 * @internal
 */
export const guarded = (table: LeaseTable, gate: regions.Gate): LeaseTable => ({
  acquire: (name, owner, holders, now, expiresAt) => gate.guard(table.acquire(name, owner, holders, now, expiresAt)),
  renew: (name, owner, now, expiresAt) => gate.guard(table.renew(name, owner, now, expiresAt)),
  release: (name, owner) => gate.guard(table.release(name, owner))
})

/**
 * The table of a namespace: lock names carry the prefix.
 *
 * @internal
 */
export const prefixed = (table: LeaseTable, ns: string): LeaseTable => ({
  acquire: (name, owner, holders, now, expiresAt) => table.acquire(ns + name, owner, holders, now, expiresAt),
  renew: (name, owner, now, expiresAt) => table.renew(ns + name, owner, now, expiresAt),
  release: (name, owner) => table.release(ns + name, owner)
})

/**
 * The service's `lock` over a table.
 *
 * @internal
 */
export const lock = (
  _table: LeaseTable,
  _backend: string,
  _gate: regions.Gate | undefined
) =>
(_name: string, _options?: LockOptions): Effect.Effect<Lock, KeyValueStoreError, Scope.Scope> =>
  Effect.dieMessage("not implemented yet")

/**
 * The service's `withLock`: `effect` holding the lock, interrupted with `LockLost` if the lease is lost.
 *
 * @internal
 */
export const withLock = <A, E, R>(
  _lock: (name: string, options?: LockOptions) => Effect.Effect<Lock, KeyValueStoreError, Scope.Scope>,
  _name: string,
  _options: LockOptions | undefined,
  _effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | KeyValueStoreError, R> => Effect.dieMessage("not implemented yet")
