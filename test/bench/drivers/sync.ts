/**
 * The workloads for engines called synchronously (raw better-sqlite3, a bare `Map`): the floors the library is
 * compared with. A whole workload runs inside one `Effect.sync`, so each operation is a plain call with no effect
 * around it. Writes go to fresh keys in rounds that are removed again (untimed) so the store stays near its
 * prefilled size.
 */
import * as Effect from "effect/Effect"
import type { Fixture, Measure, Recorder, Workload } from "../harness.js"
import { chunks, freshKeys, missing, probes, readBatches, timeSync } from "../harness.js"

/** A synchronous engine as the workloads see it. */
export interface SyncTarget {
  readonly get: (key: string) => unknown
  readonly set: (key: string, value: Buffer) => void
  /** Writes all entries in one transaction. */
  readonly setMany: (entries: ReadonlyArray<readonly [string, Buffer]>) => void
  /** Untimed cleanup of a round's fresh keys. */
  readonly removeMany: (keys: ReadonlyArray<string>) => void
  /** Reads many keys at once (only targets that list the `getMany` workload need it). */
  readonly getMany?: (keys: ReadonlyArray<string>) => unknown
}

type Fresh = (n: number) => Array<string>

const gets = (t: SyncTarget, fx: Fixture, rec: Recorder): void => {
  const { keys, order } = fx
  while (!rec.full) timeSync(rec, order.length, (i) => t.get(keys[order[i]!]!))
}

const sets = (t: SyncTarget, fx: Fixture, rec: Recorder, fresh: Fresh): void => {
  while (!rec.full) {
    const keys = fresh(fx.round)
    const done = timeSync(rec, keys.length, (i) => t.set(keys[i]!, fx.bytes))
    t.removeMany(keys.slice(0, done))
  }
}

const setManys = (t: SyncTarget, fx: Fixture, rec: Recorder, fresh: Fresh): void => {
  while (!rec.full) {
    const keys = fresh(fx.round)
    const batches = chunks(keys.map((key) => [key, fx.bytes] as const), fx.batch)
    const done = timeSync(rec, batches.length, (i) => t.setMany(batches[i]!))
    t.removeMany(keys.slice(0, done * fx.batch))
  }
}

const getManys = (t: SyncTarget, fx: Fixture, rec: Recorder): void => {
  const batches = readBatches(fx)
  const getMany = t.getMany ?? ((keys: ReadonlyArray<string>) => keys.map((key) => t.get(key)))
  while (!rec.full) timeSync(rec, batches.length, (i) => getMany(batches[i]!))
}

const workloads: Record<Workload, (t: SyncTarget, fx: Fixture, rec: Recorder, fresh: Fresh) => void> = {
  get: gets,
  set: sets,
  setMany: setManys,
  getMany: getManys
}

/** Writes the fixture's entries through `setMany` in batches (untimed). */
export const prefill = (t: SyncTarget, fx: Fixture): void => {
  for (const keys of chunks(fx.keys, fx.batch)) t.setMany(keys.map((key) => [key, fx.bytes] as const))
}

/** Checks that a prefilled engine finds the probe keys, then measures it. */
export const ready = (t: SyncTarget, fx: Fixture): Effect.Effect<Measure, Error> => {
  const absent = probes(fx).find((key) => t.get(key) === undefined)
  if (absent !== undefined) return Effect.fail(missing(absent))
  const fresh = freshKeys(fx)
  return Effect.succeed((workload, rec) => Effect.sync(() => workloads[workload](t, fx, rec, fresh)))
}
