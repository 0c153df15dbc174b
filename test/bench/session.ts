/**
 * Runs the measurements of one store size. Every target is opened and prefilled first, then warmed up, then measured
 * in interleaved trials: each trial runs every workload on every target back to back, in alternating order, so a
 * target and its floor always run seconds apart and a burst of load from other processes hits both. That pairing is
 * what keeps the ratios meaningful on a busy machine.
 */
import * as Effect from "effect/Effect"
import type { Fixture, Measure, Measurement, Workload } from "./harness.js"
import { perSample, Recorder, summarize } from "./harness.js"

/** Which floor a target is compared with. */
export type Group = "sqlite" | "memory" | "redis" | "postgres"

/** A target opened and prefilled, ready to measure. */
export interface Subject {
  readonly name: string
  readonly group: Group
  readonly workloads: ReadonlyArray<Workload>
  readonly measure: Measure
  /** What opening the target found out (e.g. the journal mode Keyv's file runs in). */
  readonly notes?: Record<string, string> | undefined
}

/** Every trial of one workload on one target. */
export interface Result {
  readonly group: Group
  readonly size: number
  readonly target: string
  readonly workload: Workload
  /** In trial order, so trial `k` of a target pairs with trial `k` of its floor. */
  readonly trials: ReadonlyArray<Measurement>
}

const WORKLOADS: ReadonlyArray<Workload> = ["get", "set", "setMany", "getMany"]

const pairs = (subjects: ReadonlyArray<Subject>): Array<readonly [Subject, Workload]> =>
  WORKLOADS.flatMap((workload) =>
    subjects.filter((s) => s.workloads.includes(workload)).map((s) => [s, workload] as const)
  )

const warmUp = (subjects: ReadonlyArray<Subject>, fx: Fixture) =>
  Effect.forEach(pairs(subjects), ([s, workload]) => s.measure(workload, new Recorder(fx.plans[workload].warmup)), {
    discard: true
  })

const trial = (subjects: ReadonlyArray<Subject>, fx: Fixture, reversed: boolean) =>
  Effect.forEach(pairs(reversed ? [...subjects].reverse() : subjects), ([s, workload]) => {
    const rec = new Recorder(fx.plans[workload].trial)
    return Effect.map(s.measure(workload, rec), () => ({
      target: s.name,
      measurement: summarize(workload, rec, perSample(fx, workload))
    }))
  })

/** Warms every target up, then runs `trials` interleaved trials; returns every trial of every target and workload. */
export const run = (
  subjects: ReadonlyArray<Subject>,
  fx: Fixture,
  trials: number
): Effect.Effect<Array<Result>, unknown> =>
  Effect.gen(function*() {
    yield* warmUp(subjects, fx)
    const done: Array<{ readonly target: string; readonly measurement: Measurement }> = []
    for (let k = 0; k < trials; k++) done.push(...yield* trial(subjects, fx, k % 2 === 1))
    return pairs(subjects).map(([s, workload]) => ({
      group: s.group,
      size: fx.size,
      target: s.name,
      workload,
      trials: done.filter((d) => d.target === s.name && d.measurement.workload === workload).map((d) => d.measurement)
    }))
  })
