/**
 * The fibers section (issue 14, item 8): what 100 concurrent fibers lose against one fiber doing the same work on one
 * SqliteStore of 100K entries of 256-byte values. Workloads: `get` of random hits, `set` of fresh keys, and a mix of
 * four `get`s to one `set` overwriting a random key. In each trial, each workload runs `OPS` operations from one
 * fiber and the same number spread over 100 fibers (`Effect.forEach`, unbounded concurrency), in alternating order
 * from trial to trial; the figure is the median over trials of the paired ratio of the 100 fibers' throughput to the
 * one fiber's (goal: at least 0.9x), by the wall clock and by this process's CPU time (which other processes' load
 * inflates less; a `*` marks a verdict the CPU-time figure reverses). Written as `fibers.csv`.
 */
import * as SqliteStore from "effect-kv/SqliteStore"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Options, Section } from "./section.js"
import { seconds, selected, tempDir } from "./section.js"

const TRIALS = 7
const ENTRIES = 100_000
const FIBERS = 100
const OPS = 20_000
const GOAL = 0.9

type Name = "get" | "set" | "mixed"

const WORKLOADS: ReadonlyArray<Name> = ["get", "set", "mixed"]

interface Row {
  readonly workload: Name
  readonly oneOpsPerSec: number
  readonly manyOpsPerSec: number
  /** The per-trial ratios of 100 fibers' throughput to one fiber's. */
  readonly ratios: ReadonlyArray<number>
  readonly ratio: number
  /** The same by CPU time. */
  readonly cpuRatio: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const keyOf = (i: number) => `key:${String(i).padStart(7, "0")}`

const measure = (o: Options) =>
  Effect.scoped(Effect.gen(function*() {
    const started = performance.now()
    const dir = yield* tempDir
    const store = yield* SqliteStore.make({ filename: path.join(dir, "store.db") })
    const value = Buffer.alloc(256, 7)
    for (let at = 0; at < ENTRIES; at += 10_000) {
      yield* store.setMany(Array.from({ length: 10_000 }, (_, i) => [keyOf(at + i), value] as const))
    }
    console.log(`fibers: ${ENTRIES.toLocaleString("en-US")} entries prefilled in ${seconds(started)}s`)
    let fresh = 0
    // A fixed pseudo-random read order (a multiplicative step through the keys).
    const random = (i: number) => keyOf((i * 7919 + 13) % ENTRIES)
    const ops: Record<Name, (i: number) => Effect.Effect<unknown, unknown>> = {
      get: (i) => store.get(random(i)),
      set: () => store.set(`fresh:${fresh++}`, value),
      mixed: (i) => i % 5 === 4 ? store.set(random(i * 31), value) : store.get(random(i))
    }
    const ops1 = Math.max(1000, Math.round(OPS * o.scale))
    const per = Math.ceil(ops1 / FIBERS)
    const one = (op: (i: number) => Effect.Effect<unknown, unknown>, base: number) =>
      Effect.gen(function*() {
        for (let i = 0; i < per * FIBERS; i++) yield* op(base + i)
      })
    const many = (op: (i: number) => Effect.Effect<unknown, unknown>, base: number) =>
      Effect.forEach(
        Array.from({ length: FIBERS }, (_, f) => f),
        (f) =>
          Effect.gen(function*() {
            for (let i = 0; i < per; i++) yield* op(base + f * per + i)
          }),
        { concurrency: "unbounded", discard: true }
      )
    const cpu = () => {
      const used = process.cpuUsage()
      return (used.user + used.system) / 1e6
    }
    // Throughput by the wall clock and by CPU time.
    const timed = <E>(effect: Effect.Effect<void, E>) =>
      Effect.suspend(() => {
        const t0 = performance.now()
        const c0 = cpu()
        return Effect.map(effect, () => {
          const ops = per * FIBERS
          return { wall: ops / ((performance.now() - t0) / 1000), cpu: ops / Math.max(cpu() - c0, 1e-6) }
        })
      })
    type Figures = Effect.Effect.Success<ReturnType<typeof timed>>
    const names = WORKLOADS.filter((w) => selected(o.workloads, w))
    const trials = new Map<Name, Array<readonly [one: Figures, many: Figures]>>(names.map((n) => [n, []]))
    let base = 0
    for (let trial = 0; trial < TRIALS; trial++) {
      for (const name of names) {
        const op = ops[name]
        // Warm both paths once, untimed, then measure in alternating order.
        if (trial === 0) {
          yield* one(op, base)
          yield* many(op, base)
        }
        base += per * FIBERS
        const first = trial % 2 === 0
        const a = yield* timed(first ? one(op, base) : many(op, base))
        base += per * FIBERS
        const b = yield* timed(first ? many(op, base) : one(op, base))
        base += per * FIBERS
        trials.get(name)!.push(first ? [a, b] : [b, a])
      }
    }
    // Fresh keys written by `set` are left in: every trial's `set` writes new keys into a slightly larger table, for
    // both arms alike.
    console.log(`fibers: measured in ${seconds(started)}s`)
    return names.map((workload): Row => {
      const pairs = trials.get(workload)!
      const ratios = pairs.map(([a, b]) => b.wall / a.wall)
      return {
        workload,
        oneOpsPerSec: median(pairs.map(([a]) => a.wall)),
        manyOpsPerSec: median(pairs.map(([, b]) => b.wall)),
        ratios,
        ratio: median(ratios),
        cpuRatio: median(pairs.map(([a, b]) => b.cpu / a.cpu))
      }
    })
  }))

const text = (rows: ReadonlyArray<Row>): string =>
  [
    `SqliteStore, ${ENTRIES.toLocaleString("en-US")} entries: ${FIBERS} concurrent fibers against one fiber`,
    "workload  1 fiber ops/s  100 fibers ops/s  ratio (median of paired)  cpu ratio  goal      verdict  trials",
    ...rows.map((r) =>
      [
        r.workload.padEnd(8),
        Math.round(r.oneOpsPerSec).toLocaleString("en-US").padStart(14),
        Math.round(r.manyOpsPerSec).toLocaleString("en-US").padStart(17),
        `${r.ratio.toFixed(2)}x`.padStart(25),
        `${r.cpuRatio.toFixed(2)}x`.padStart(9),
        `>= ${GOAL}x`.padEnd(9),
        `${r.ratio >= GOAL ? "PASS" : "MISS"}${(r.ratio >= GOAL) === (r.cpuRatio >= GOAL) ? "" : "*"}`.padEnd(8),
        r.ratios.map((x) => x.toFixed(2)).join(" ")
      ].join("  ")
    )
  ].join("\n")

/** The fibers section. */
export const section: Section = {
  name: "fibers",
  redraw: () => [],
  run: (o) =>
    Effect.map(measure(o), (rows) => ({
      text: text(rows),
      write: (dir) => {
        const file = path.join(dir, "fibers.csv")
        fs.writeFileSync(
          file,
          ["workload,one_fiber_ops_per_sec,fibers_100_ops_per_sec,ratio,cpu_ratio,trial_ratios"].concat(
            rows.map((r) =>
              `${r.workload},${Math.round(r.oneOpsPerSec)},${Math.round(r.manyOpsPerSec)},${r.ratio.toFixed(3)},${
                r.cpuRatio.toFixed(3)
              },${r.ratios.map((x) => x.toFixed(3)).join(" ")}`
            )
          ).join("\n") + "\n"
        )
        return [file]
      }
    }))
}
