/**
 * The fanout section: write throughput of several processes at once, on one SQLite file against a `FanoutStore` of 8
 * shards (8 files, 8 write locks). Four worker processes (`workers/fanoutWriter.ts`, bundled and started by the test
 * fixture `fixtures/workers.ts`) open the same fresh store, are released together, and each `set`s distinct fresh keys
 * (256-byte values) as fast as it can for 3 seconds, with `synchronous` `normal` (the default: a commit appends to the
 * write-ahead log without waiting for the disk, so the write lock is held briefly and the writers are bound by CPU)
 * and `full` (every commit waits for the disk while holding the write lock, which is where separate locks pay). The
 * figure of a trial is the sum over workers of each one's writes per second; trials alternate the targets (one file,
 * fan-out, fan-out, one file) on fresh directories, and the report gives every trial, the median, and the ratio of
 * the medians. Writes `fanout.csv` and the bar chart `fanout.svg`.
 */
import * as Effect from "effect/Effect"
import * as path from "node:path"
import * as Workers from "../../backends/fixtures/workers.js"
import * as Chart from "../chart.js"
import type { Section } from "./section.js"
import { fixed, int, measured, median, redraw, selected, table, times, writeResults } from "./section.js"

const WORKERS = 4
const SHARDS = 8
const RUN_MS = 3000
const SCRIPT = "test/bench/workers/fanoutWriter.ts"

const SQLITE = "SqliteStore"
const FANOUT = "FanoutStore"

const TARGETS: ReadonlyArray<{ readonly name: string; readonly label: string }> = [
  { name: SQLITE, label: "SqliteStore (1 file)" },
  { name: FANOUT, label: `FanoutStore (${SHARDS} shards)` }
]

type Synchronous = "normal" | "full"

/** Workload names (as `--workloads` selects them and the CSV names them) and the `synchronous` mode of each. */
const WORKLOADS: ReadonlyArray<{ readonly name: string; readonly synchronous: Synchronous }> = [
  { name: "set", synchronous: "normal" },
  { name: "set-full", synchronous: "full" }
]

interface Report {
  readonly ok: boolean
  readonly id: string
  readonly writes: number
  readonly seconds: number
  readonly cpuSeconds: number
  readonly tag?: string
  readonly cause?: string
}

interface Trial {
  readonly target: string
  readonly workload: string
  /** Writes per second of each worker. */
  readonly perWorker: ReadonlyArray<number>
  readonly total: number
  /** CPU time of the workers per write, microseconds. */
  readonly cpuUs: number
}

// One trial: the workers on a fresh store of `target`, released together.
const trial = (target: string, workload: string, synchronous: Synchronous, runMs: number) =>
  measured(`fanout ${workload} ${target}`, (dir) =>
    Effect.gen(function*() {
      const location = target === SQLITE ? [path.join(dir, "kv.db"), "1"] : [dir, String(SHARDS)]
      const kind = target === SQLITE ? "sqlite" : "fanout"
      const reports = yield* Workers.run<Report>(
        SCRIPT,
        Array.from({ length: WORKERS }, (_, i) => [kind, ...location, synchronous, `w${i}`, String(runMs)]),
        { timeout: "120 seconds" }
      )
      for (const report of reports) {
        if (!report.ok) return yield* Effect.fail(new Error(`worker ${report.id}: ${report.tag}\n${report.cause}`))
      }
      const perWorker = reports.map((r) => r.writes / r.seconds)
      const writes = reports.reduce((n, r) => n + r.writes, 0)
      const cpuUs = 1e6 * reports.reduce((n, r) => n + r.cpuSeconds, 0) / writes
      return { target, workload, perWorker, total: perWorker.reduce((a, b) => a + b, 0), cpuUs } satisfies Trial
    }))

const CHART: Chart.Chart = {
  name: "fanout",
  title: `Writes from ${WORKERS} processes: one SQLite file vs FanoutStore (${SHARDS} shards)`,
  subtitle: `Writes per second summed over ${WORKERS} processes, median trial, 256-byte values, distinct fresh keys`,
  series: [
    { target: SQLITE, label: TARGETS[0]!.label, color: Chart.FLOOR },
    { target: FANOUT, label: TARGETS[1]!.label, color: Chart.OURS }
  ],
  workloads: WORKLOADS.map((w) => w.name),
  notes: { set: ["synchronous=normal", "fresh keys"], "set-full": ["synchronous=full", "fresh keys"] }
}

const COLUMN = `${WORKERS} processes`

/** The fanout section. */
export const section: Section = {
  name: "fanout",
  redraw: (dir) =>
    redraw(dir, "fanout", (csv, meta) => Chart.writeChart(dir, CHART, Chart.readCsv(csv, "column"), meta)),
  run: (o) =>
    Effect.gen(function*() {
      const runMs = Math.round(RUN_MS * o.scale)
      const workloads = WORKLOADS.filter((w) => selected(o.workloads, w.name))
      const order = [SQLITE, FANOUT, FANOUT, SQLITE].filter((name) => selected(o.only, name))
      const trials: Array<Trial> = []
      for (const w of workloads) {
        for (const target of order) trials.push(yield* trial(target, w.name, w.synchronous, runMs))
      }
      const rows = workloads.flatMap((w) => {
        const of = (target: string) => trials.filter((x) => x.workload === w.name && x.target === target)
        const base = median(of(SQLITE).map((x) => x.total))
        return TARGETS.filter((t) => selected(o.only, t.name)).map((t) => {
          const mine = of(t.name)
          const total = median(mine.map((x) => x.total))
          return {
            ...t,
            workload: w.name,
            synchronous: w.synchronous,
            trials: mine.map((x) => x.total),
            median: total,
            perWorker: median(mine.flatMap((x) => x.perWorker)),
            slowestWorker: Math.min(...mine.flatMap((x) => x.perWorker)),
            cpuUs: median(mine.map((x) => x.cpuUs)),
            ratio: total / base
          }
        })
      })
      const body = table(
        [
          { header: "synchronous" },
          { header: "target" },
          { header: "trials (writes/s)", right: true },
          { header: "median writes/s", right: true },
          { header: "per worker", right: true },
          { header: "slowest worker", right: true },
          { header: "CPU µs/write", right: true },
          { header: "vs one file", right: true }
        ],
        rows.map((r) => ({
          block: r.workload,
          cells: [
            r.synchronous,
            r.label,
            r.trials.map(int).join(" / "),
            int(r.median),
            int(r.perWorker),
            int(r.slowestWorker),
            fixed(r.cpuUs, 1),
            times(r.ratio)
          ]
        }))
      )
      return {
        text: [
          body,
          "",
          `${WORKERS} processes each set distinct fresh keys for ${runMs} ms, released together; a trial's figure is`,
          "the sum over workers of writes/s; per worker: the median over every worker of every trial, slowest worker:",
          "the lowest (how fairly the write lock is shared); CPU µs/write: the workers' CPU time (user + system) per",
          "write, median over trials (near the wall time per write of 2 cores: CPU-bound); vs one file: the ratio of",
          "the medians."
        ].join("\n"),
        write: (dir, meta) =>
          writeResults(
            dir,
            "fanout",
            { ...meta, workers: WORKERS, shards: SHARDS, runMs },
            {
              header: [
                "size",
                "column",
                "workload",
                "target",
                "synchronous",
                "ops_per_sec",
                "trials",
                "per_worker",
                "slowest_worker",
                "cpu_us_per_write",
                "ratio_vs_one_file"
              ],
              rows: rows.map((r) => [
                WORKERS,
                COLUMN,
                r.workload,
                r.name,
                r.synchronous,
                Math.round(r.median),
                r.trials.map(Math.round).join(" "),
                Math.round(r.perWorker),
                Math.round(r.slowestWorker),
                r.cpuUs.toFixed(1),
                r.ratio.toFixed(3)
              ])
            },
            (m) =>
              Chart.writeChart(
                dir,
                CHART,
                rows.map((r) => ({
                  size: WORKERS,
                  column: COLUMN,
                  workload: r.workload,
                  target: r.name,
                  opsPerSec: r.median
                })),
                m
              )
          )
      }
    })
}
