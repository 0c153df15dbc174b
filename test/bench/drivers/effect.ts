/**
 * The workloads for our stores: the same rounds as the synchronous driver, against a `KeyValueStore.Service` inside
 * the bench's one Effect program. Every operation is built and yielded inside the timed window; there is no
 * `runPromise` per operation. Also the untimed prefill through `setMany` in batches.
 */
import type * as KeyValueStore from "effect-kv/KeyValueStore"
import type { KeyValueStoreError } from "effect-kv/KeyValueStoreError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Fixture, Measure, Recorder, Workload } from "../harness.js"
import { chunks, freshKeys, missing, probes, readBatches, timeEffect } from "../harness.js"

/** The part of `KeyValueStore.Service` the workloads use (a bare `Map` in `Effect.sync` provides it too). */
export type Store = Pick<KeyValueStore.Service, "get" | "set" | "setMany" | "removeMany"> & {
  /** Only targets that list the `getMany` workload need it. */
  readonly getMany?: KeyValueStore.Service["getMany"] | undefined
}

type Fresh = (n: number) => Array<string>
type Step = (store: Store, fx: Fixture, rec: Recorder, fresh: Fresh) => Effect.Effect<void, KeyValueStoreError>

const gets: Step = (store, fx, rec) =>
  Effect.gen(function*() {
    const { keys, order } = fx
    while (!rec.full) yield* timeEffect(rec, order.length, (i) => store.get(keys[order[i]!]!))
  })

const sets: Step = (store, fx, rec, fresh) =>
  Effect.gen(function*() {
    while (!rec.full) {
      const keys = fresh(fx.round)
      const done = yield* timeEffect(rec, keys.length, (i) => store.set(keys[i]!, fx.bytes))
      yield* store.removeMany(keys.slice(0, done))
    }
  })

const setManys: Step = (store, fx, rec, fresh) =>
  Effect.gen(function*() {
    while (!rec.full) {
      const keys = fresh(fx.round)
      const batches = chunks(keys.map((key) => [key, fx.bytes] as const), fx.batch)
      const done = yield* timeEffect(rec, batches.length, (i) => store.setMany(batches[i]!))
      yield* store.removeMany(keys.slice(0, done * fx.batch))
    }
  })

const getManys: Step = (store, fx, rec) =>
  Effect.gen(function*() {
    const batches = readBatches(fx)
    const getMany = store.getMany ?? ((keys: ReadonlyArray<string>) => Effect.forEach(keys, (key) => store.get(key)))
    while (!rec.full) yield* timeEffect(rec, batches.length, (i) => getMany(batches[i]!))
  })

const workloads: Record<Workload, Step> = { get: gets, set: sets, setMany: setManys, getMany: getManys }

/** Writes the fixture's entries through `setMany` in batches (untimed). */
export const prefill = (store: Store, fx: Fixture): Effect.Effect<void, KeyValueStoreError> =>
  Effect.forEach(
    chunks(fx.keys, fx.batch),
    (keys) => store.setMany(keys.map((key) => [key, fx.bytes] as const)),
    { discard: true }
  )

/** Checks that a prefilled store finds the probe keys, then measures it. */
export const ready = (store: Store, fx: Fixture): Effect.Effect<Measure, Error | KeyValueStoreError> =>
  Effect.gen(function*() {
    for (const key of probes(fx)) {
      if (Option.isNone(yield* store.get(key))) return yield* Effect.fail(missing(key))
    }
    const fresh = freshKeys(fx)
    return (workload, rec) => workloads[workload](store, fx, rec, fresh)
  })
