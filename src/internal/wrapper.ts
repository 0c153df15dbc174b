/**
 * The one way to build a wrapper (a store over a store). A wrapper states a decision for every member of `Service`
 * and of `Primitives`: its own version, or `inherit` (the inner store's). The decision tables are exhaustive mapped
 * types, so adding a member to `Service` or `Primitives` stops every wrapper from compiling until it decides about the
 * new member: no wrapper silently bypasses an operation. Three builders, by what the wrapper changes:
 *
 * - `service(store, decisions)`: member by member, for the whole shape (the store's `primitives` included);
 * - `around(store, policy)`: an aspect (retry, timeout, logging, statistics, ...) applied to every operation the
 *   policy's tables classify, and to the primitives alike, so a store built later over this one's primitives (a
 *   namespace) keeps the aspect;
 * - `rebuild(store, decisions)`: maps the primitives and derives the whole service from them with `make` (keys,
 *   values, ttls: a namespace, a ttl clamp, compression), so every derived operation keeps its semantics.
 *
 * A store over several stores (a router) has no single inner store to inherit from: `combine(primitives)` takes a
 * primitive set that decides every member itself (`OwnPrimitives`, exhaustive too) and derives the service with `make`.
 *
 * A mapped primitive set whose calls all go through the inner store's primitives stays behind that store's
 * transaction gate (`gated.inherit`): `make` does not guard it twice.
 *
 * @internal
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import type { Primitives, Service } from "../KeyValueStore.js"
import { KeyValueStore, make, TypeId } from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import * as Cache from "./cache/getOrSet.js"
import * as gated from "./gated.js"

/** The decision "keep the inner store's member as it is". */
export const inherit: unique symbol = Symbol.for("effect-kv/Wrapper/inherit")
export type Inherit = typeof inherit

/** The decision "leave this optional primitive out" (`make` derives it, or reports `Unsupported`). */
export const drop: unique symbol = Symbol.for("effect-kv/Wrapper/drop")
export type Drop = typeof drop

/**
 * The members derived from a finished store's own operations (`getOrSet`): every builder attaches them over the
 * store it builds, so no wrapper decides about them and none can bypass the wrapper's own operations.
 */
export type DerivedMember = "getOrSet"

/** The derived members, as a list. */
export const derivedMembers: ReadonlyArray<DerivedMember> = ["getOrSet"]

/** Every member of the service a wrapper decides about (all but the type id and the derived members). */
export type ServiceMember = Exclude<keyof Service, typeof TypeId | DerivedMember>

/** The operations of the service: what an aspect applies to. */
export type Operation = Exclude<ServiceMember, "backend" | "capabilities" | "separator" | "primitives">

/** A decision for every member of `Service`: the wrapper's own, or `inherit`. */
export type ServiceDecisions = { readonly [K in ServiceMember]-?: Service[K] | Inherit }

/** A decision for every member of `Primitives`: the wrapper's own (`undefined` leaves an optional one out), or `inherit`. */
export type PrimitiveDecisions = { readonly [K in keyof Primitives]-?: Primitives[K] | Inherit }

/** How each operation of the service is called, which tells an aspect where its key is and how to wrap it. */
export type OperationShape =
  /** `(key, ...) => Effect` */
  | "keyed"
  /** `(...) => Effect`, no single key */
  | "function"
  /** `(...) => Stream` */
  | "stream"
  /** an `Effect` value */
  | "value"
  /** `(name, options) => Effect<Lock, _, Scope>`: the name is the key */
  | "lock"
  /** `(name, options) => (effect) => Effect`: the name is the key */
  | "withLock"
  /** `(effect) => Effect` */
  | "region"

/** The shape of every operation: the one table that must grow with `Service`. */
export const operationShapes: { readonly [K in Operation]-?: OperationShape } = {
  get: "keyed",
  getString: "keyed",
  getOrFail: "keyed",
  getEntry: "keyed",
  set: "keyed",
  has: "keyed",
  remove: "keyed",
  pop: "keyed",
  add: "keyed",
  touch: "keyed",
  ttl: "keyed",
  setMetadata: "keyed",
  increment: "keyed",
  decrement: "keyed",
  compareAndSwap: "keyed",
  append: "keyed",
  update: "keyed",
  getMany: "function",
  setMany: "function",
  removeMany: "function",
  keys: "stream",
  entries: "stream",
  getPattern: "stream",
  countPattern: "function",
  removePattern: "function",
  removeTag: "function",
  expire: "value",
  clear: "value",
  size: "value",
  volume: "value",
  stats: "value",
  resetStats: "value",
  withTransaction: "region",
  transaction: "value",
  lock: "lock",
  withLock: "withLock",
  check: "function"
}

/** The members of `Primitives` that return an `Effect` (or are one), with where their key is. */
export type PrimitiveShape = "keyed" | "function" | "value" | "region" | "other"

/** The shape of every primitive: the one table that must grow with `Primitives`. */
export const primitiveShapes = {
  backend: "other",
  capabilities: "other",
  separator: "other",
  maxKeyBytes: "other",
  maxValueBytes: "other",
  get: "keyed",
  getEntry: "keyed",
  set: "keyed",
  remove: "keyed",
  modify: "keyed",
  expire: "function",
  clear: "value",
  size: "function",
  has: "keyed",
  unsafe: "other",
  getMany: "function",
  setMany: "function",
  removeMany: "function",
  expiresAt: "keyed",
  touch: "keyed",
  volume: "value",
  counters: "other",
  resetCounters: "other",
  scanKeys: "function",
  scanEntries: "function",
  countRange: "function",
  removeRange: "function",
  removeTag: "function",
  gate: "other",
  withTransaction: "region",
  transaction: "value",
  leases: "other",
  check: "function"
} as const satisfies { readonly [K in keyof Primitives]-?: PrimitiveShape }

/**
 * Maps a primitive set member by member. The result stays behind `p`'s transaction gate when `p` is: every mapped
 * member must call through `p`'s own.
 */
export const mapPrimitives = (p: Primitives, decisions: PrimitiveDecisions): Primitives => {
  const out: Record<string, unknown> = {}
  for (const name of Object.keys(primitiveShapes) as Array<keyof Primitives>) {
    const decision = decisions[name]
    const value = decision === inherit ? p[name] : decision
    if (value !== undefined) out[name] = value
  }
  return gated.inherit(p, out as unknown as Primitives)
}

/** Builds a store member by member over `store`. */
export const service = (store: Service, decisions: ServiceDecisions): Service => {
  const out: Record<string | symbol, unknown> = { [TypeId]: TypeId }
  for (const name of Object.keys(decisions) as Array<ServiceMember>) {
    const decision = decisions[name]
    out[name] = decision === inherit ? store[name] : decision
  }
  return Cache.attach(out as unknown as Omit<Service, DerivedMember>)
}

/**
 * Maps `store`'s primitives and derives the whole service from them with `make`: argument checks, statistics, spans,
 * enumeration and every read-modify-write operation come from `make`, over the mapped primitives.
 */
export const rebuild = (store: Service, decisions: PrimitiveDecisions): Service =>
  make(mapPrimitives(store.primitives, decisions))

/**
 * A decision of its own for every member of `Primitives`, none inherited: the primitives of a store over several
 * stores (a router), where no single inner store has members to inherit.
 */
export type OwnPrimitives = { readonly [K in keyof Primitives]-?: Primitives[K] }

/**
 * Derives the whole service with `make` from primitives that decide every member themselves (`OwnPrimitives`), so a
 * store over several stores also stops compiling when `Primitives` grows.
 */
export const combine = (primitives: OwnPrimitives): Service => make(primitives)

/** One call an aspect wraps. */
export interface Call<C> {
  /** The public operation (`get`, `setMany`, ...) or, for a primitive, its name (`modify`, `scanKeys`, ...). */
  readonly method: string
  /** The key (a lock's name for `lock`/`withLock`), when the operation has one. */
  readonly key: string | undefined
  /** The policy's class of the operation. */
  readonly decision: C
  /** Whether this is a primitive (called by a store built over this one's primitives) rather than an operation. */
  readonly primitive: boolean
  /** The arguments, as given. */
  readonly args: ReadonlyArray<unknown>
}

/**
 * A policy applied around operations: a class (`C`, the policy's own vocabulary, e.g. "idempotent" / "ambiguous")
 * or `inherit` for every operation and every effectful primitive, and what to do around one call. The unsynchronous
 * fast paths (`unsafe`) cannot be wrapped: a policy keeps them (`inherit`) or drops them (`drop`, so that `make` over
 * these primitives takes the wrapped effectful ones).
 */
export interface Policy<C> {
  readonly operations: { readonly [K in Operation]-?: C | Inherit }
  readonly primitives: {
    readonly [K in keyof Primitives]-?: (typeof primitiveShapes)[K] extends "other" ?
      K extends "unsafe" ? Inherit | Drop
      : Inherit
      : C | Inherit
  }
  readonly effect: <A, E, R>(call: Call<C>, self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | KeyValueStoreError, R>
  readonly stream: <A>(
    call: Call<C>,
    self: Stream.Stream<A, KeyValueStoreError>
  ) => Stream.Stream<A, KeyValueStoreError>
}

/** The members of `Primitives` that are not effects (configuration, the fast paths, the gate, the lease table). */
export type OtherPrimitive = {
  readonly [K in keyof Primitives]-?: (typeof primitiveShapes)[K] extends "other" ? K : never
}[keyof Primitives]

/**
 * The decisions about the non-effect primitives for an aspect that must see every call (logging, statistics): the
 * synchronous fast paths dropped, so that a store built over these primitives takes the wrapped effectful ones, and
 * the rest inherited.
 */
export const observeEveryCall: { readonly [K in OtherPrimitive]-?: K extends "unsafe" ? Drop : Inherit } = {
  backend: inherit,
  capabilities: inherit,
  separator: inherit,
  maxKeyBytes: inherit,
  maxValueBytes: inherit,
  unsafe: drop,
  counters: inherit,
  resetCounters: inherit,
  gate: inherit,
  leases: inherit
}

const keyOf = (args: ReadonlyArray<unknown>): string | undefined => typeof args[0] === "string" ? args[0] : undefined

type AnyFunction = (...args: Array<any>) => any

/** Applies `policy` to every operation and primitive of `store` that its tables classify. */
export const around = <C>(store: Service, policy: Policy<C>): Service => {
  const operations: Record<string, unknown> = {}
  for (const name of Object.keys(operationShapes) as Array<Operation>) {
    const decision = policy.operations[name]
    if (decision === inherit) {
      operations[name] = inherit
      continue
    }
    const inner = store[name] as unknown
    const call = (args: ReadonlyArray<unknown>, key: string | undefined): Call<C> => ({
      method: name,
      key,
      decision,
      primitive: false,
      args
    })
    switch (operationShapes[name]) {
      case "keyed":
      case "function":
      case "lock":
        operations[name] = (...args: Array<unknown>) =>
          policy.effect(call(args, keyOf(args)), (inner as AnyFunction)(...args))
        break
      case "stream":
        operations[name] = (...args: Array<unknown>) =>
          policy.stream(call(args, undefined), (inner as AnyFunction)(...args))
        break
      case "value":
        operations[name] = policy.effect(call([], undefined), inner as Effect.Effect<unknown>)
        break
      case "region":
        operations[name] = (effect: Effect.Effect<unknown>) =>
          policy.effect(call([effect], undefined), (inner as AnyFunction)(effect))
        break
      case "withLock":
        operations[name] = (lockName: string, options: unknown) => (effect: Effect.Effect<unknown>) =>
          policy.effect(call([lockName, options, effect], lockName), (inner as AnyFunction)(lockName, options)(effect))
        break
    }
  }
  const p = store.primitives
  const primitives: Record<string, unknown> = {}
  for (const name of Object.keys(primitiveShapes) as Array<keyof Primitives>) {
    const decision = policy.primitives[name] as C | Inherit | Drop
    const inner = p[name] as unknown
    if (decision === inherit || inner === undefined) {
      primitives[name] = inherit
      continue
    }
    if (decision === drop) {
      primitives[name] = undefined
      continue
    }
    const call = (args: ReadonlyArray<unknown>): Call<C> => ({
      method: name,
      key: primitiveShapes[name] === "keyed" ? keyOf(args) : undefined,
      decision: decision as C,
      primitive: true,
      args
    })
    switch (primitiveShapes[name]) {
      case "keyed":
      case "function":
      case "region":
        primitives[name] = (...args: Array<unknown>) => policy.effect(call(args), (inner as AnyFunction)(...args))
        break
      case "value":
        primitives[name] = policy.effect(call([]), inner as Effect.Effect<unknown>)
        break
      case "other":
        primitives[name] = inherit
    }
  }
  return service(store, {
    ...(operations as unknown as { readonly [K in Operation]: Service[K] | Inherit }),
    backend: inherit,
    capabilities: inherit,
    separator: inherit,
    primitives: mapPrimitives(p, primitives as unknown as PrimitiveDecisions)
  })
}

/** The layer of a wrapper from its `make`: needs a store, gives the wrapped one. */
export const layer = <O, E>(
  make: (store: Service, options: O) => Effect.Effect<Service, E>,
  options: O
): Layer.Layer<KeyValueStore, E, KeyValueStore> =>
  Layer.effect(KeyValueStore, Effect.flatMap(KeyValueStore, (store) => make(store, options)))

/** The layer of a wrapper with its options read from `Config`. */
export const layerConfig = <O, E, R>(
  config: Config.Config.Wrap<O>,
  layer: (options: O) => Layer.Layer<KeyValueStore, E, R>
): Layer.Layer<KeyValueStore, E | ConfigError.ConfigError, R> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
