/**
 * What the result of an operation or primitive says about the store, for the observing wrappers (`Statistics`,
 * `Logging`): each operation and effectful primitive has a kind (an exhaustive table, so a new member of `Service` or
 * `Primitives` must be classified), and `tally` reads a successful result as hits, misses, writes and removes;
 * `failureTag` names a failure. A batch of `setMany` given as an iterable that is not an array is counted while the
 * store reads it (`Counting`), since it can be read only once.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import type { Primitives } from "../KeyValueStore.js"
import type { Operation, primitiveShapes } from "./wrapper.js"

/** How a result is read. */
export type Kind =
  /** `Option`: some is a hit, none a miss */
  | "read"
  /** a value is a hit; `KeyNotFound` a miss (and a failure) */
  | "readOrFail"
  /** `boolean`: true is a hit, false a miss */
  | "exists"
  /** an array of `Option`s: one hit or miss each */
  | "readMany"
  /** one write */
  | "write"
  /** a batch: one write per entry */
  | "writeMany"
  /** `boolean`: true is one write */
  | "writeIf"
  /** `Option`: some is one write (the value written), none nothing */
  | "update"
  /** `boolean`: true is one remove */
  | "remove"
  /** `Option`: some is a hit and one remove, none a miss */
  | "pop"
  /** a count of removed entries */
  | "removeCount"
  /** nothing to tell beyond the call */
  | "other"

/** The kind of every operation. */
export const operationKinds: { readonly [K in Operation]-?: Kind } = {
  get: "read",
  getString: "read",
  getOrFail: "readOrFail",
  getEntry: "read",
  set: "write",
  has: "exists",
  remove: "remove",
  pop: "pop",
  add: "writeIf",
  touch: "writeIf",
  ttl: "read",
  setMetadata: "writeIf",
  increment: "write",
  decrement: "write",
  compareAndSwap: "writeIf",
  append: "write",
  update: "update",
  getMany: "readMany",
  setMany: "writeMany",
  removeMany: "removeCount",
  keys: "other",
  entries: "other",
  getPattern: "other",
  countPattern: "other",
  removePattern: "removeCount",
  removeTag: "removeCount",
  expire: "other",
  clear: "other",
  size: "other",
  volume: "other",
  stats: "other",
  resetStats: "other",
  withTransaction: "other",
  transaction: "other",
  lock: "other",
  withLock: "other",
  check: "other"
}

/** The primitives that are (or return) an effect. */
export type EffectfulPrimitive = {
  readonly [K in keyof Primitives]-?: (typeof primitiveShapes)[K] extends "other" ? never : K
}[keyof Primitives]

/**
 * The kind of every effectful primitive. `modify` is `other`: its result is whatever its function chose, so a counter
 * or compare-and-swap of a store built over these primitives counts as a call only.
 */
export const primitiveKinds: { readonly [K in EffectfulPrimitive]-?: Kind } = {
  get: "read",
  getEntry: "read",
  set: "write",
  remove: "remove",
  modify: "other",
  expire: "other",
  clear: "other",
  size: "other",
  has: "exists",
  getMany: "readMany",
  setMany: "writeMany",
  removeMany: "removeCount",
  expiresAt: "read",
  touch: "writeIf",
  volume: "other",
  scanKeys: "other",
  scanEntries: "other",
  countRange: "other",
  removeRange: "removeCount",
  removeTag: "removeCount",
  withTransaction: "other",
  transaction: "other",
  check: "other"
}

/** What one result says; reused by its owner between calls (not reentrant: filled and read synchronously). */
export interface Tally {
  hits: number
  misses: number
  writes: number
  removes: number
}

/** A fresh, zeroed tally. */
export const makeTally = (): Tally => ({ hits: 0, misses: 0, writes: 0, removes: 0 })

/**
 * An iterable batch that counts the items the store reads from it, so that a batch given as a generator is counted
 * exactly without being read twice.
 */
export class Counting<A> implements Iterable<A> {
  count = 0
  constructor(readonly source: Iterable<A>) {}
  *[Symbol.iterator](): Iterator<A> {
    for (const item of this.source) {
      this.count++
      yield item
    }
  }
}

/**
 * `entries` wrapped in `Counting` when it is an iterable object that is not an array (an array is counted by its
 * length); anything else is left as it is, for the store to refuse.
 */
export const counting = <A>(entries: Iterable<A>): Iterable<A> =>
  typeof entries === "object" && entries !== null && !Array.isArray(entries) && Symbol.iterator in entries
    ? new Counting(entries)
    : entries

const batchSize = (batch: unknown): number =>
  Array.isArray(batch) ? batch.length : batch instanceof Counting ? batch.count : 0

/** Fills `into` (zeroing it first) with what the successful `value` of a call of `kind` with `args` says. */
export const tally = (kind: Kind, value: unknown, args: ReadonlyArray<unknown>, into: Tally): void => {
  into.hits = 0
  into.misses = 0
  into.writes = 0
  into.removes = 0
  switch (kind) {
    case "read":
      if (Option.isOption(value) && Option.isSome(value)) into.hits = 1
      else into.misses = 1
      return
    case "readOrFail":
      into.hits = 1
      return
    case "exists":
      if (value === true) into.hits = 1
      else into.misses = 1
      return
    case "readMany":
      if (Array.isArray(value)) {
        for (const option of value) {
          if (Option.isOption(option) && Option.isSome(option)) into.hits++
          else into.misses++
        }
      }
      return
    case "write":
      into.writes = 1
      return
    case "writeMany":
      into.writes = batchSize(args[0])
      return
    case "writeIf":
      if (value === true) into.writes = 1
      return
    case "update":
      if (Option.isOption(value) && Option.isSome(value)) into.writes = 1
      return
    case "remove":
      if (value === true) into.removes = 1
      return
    case "pop":
      if (Option.isOption(value) && Option.isSome(value)) {
        into.hits = 1
        into.removes = 1
      } else {
        into.misses = 1
      }
      return
    case "removeCount":
      if (typeof value === "number") into.removes = value
      return
    case "other":
      return
  }
}

/**
 * The name of a failure: the `_tag` of a typed error (`BackendError`, `KeyNotFound`, or a caller's own error inside
 * `withTransaction`/`withLock`), `Interrupted` for an interruption, `Defect` for a defect.
 */
export const failureTag = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    return typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
      ? error._tag
      : "UnknownError"
  }
  return Cause.isInterruptedOnly(cause) ? "Interrupted" : "Defect"
}
