/**
 * The batch section: `setMany` and `getMany` with batches of 1, 10, 100, 1000 and 10 000 entries at 100K prefilled
 * entries of 256-byte values, raw better-sqlite3 against SqliteStore. Raw runs a `setMany` as one `BEGIN IMMEDIATE`
 * transaction of prepared upserts and a `getMany` as the prepared `get` for each key inside one deferred transaction,
 * as SqliteStore does. `setMany` writes fresh keys (removed again untimed), `getMany` reads random hits. The figures
 * are entries/s of the median trial, p50/p99 per batch (median over trials) and the paired ratio to raw; written as
 * `batch.csv` and the line chart `batch.svg`.
 */
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { FLOOR, OURS } from "../chart.js"
import * as Engine from "../drivers/engine.js"
import type * as LineChart from "../lineChart.js"
import * as Raw from "../targets/raw.js"
import * as Sqlite from "../targets/sqliteStore.js"
import type { Figures, Options, Result, Section } from "./section.js"
import {
  budget,
  count,
  figures,
  fixed,
  int,
  keyData,
  latencyCells,
  latencyColumns,
  latencyCsv,
  measured,
  micros,
  openTargets,
  pairedRatio,
  redrawLine,
  resultOf,
  runTrials,
  selected,
  table,
  times,
  writeLine
} from "./section.js"

const SIZE = 100_000
const BATCHES: ReadonlyArray<number> = [1, 10, 100, 1000, 10_000]
const TRIALS = 5
const VALUE_BYTES = 256
const CHUNK = 10_000
const FLOOR_NAME = "better-sqlite3"

type Name = "setMany" | "getMany"

const WORKLOADS: ReadonlyArray<{ readonly name: Name; readonly label: string }> = [
  { name: "setMany", label: "setMany (fresh keys)" },
  { name: "getMany", label: "getMany (random hits)" }
]

const data = (): Engine.Data => keyData({ seed: 0xba7c4, entries: SIZE, valueBytes: VALUE_BYTES, reads: 1 << 20 }, 2000)

interface Row extends Figures {
  readonly batch: number
  readonly workload: Name
  readonly target: string
  /** Median over trials of this target's entries/s over raw's. */
  readonly ratio: number
  /** The same by this process's CPU time, which other processes' load inflates less. */
  readonly cpuRatio: number
}

const measure = (o: Options) =>
  measured(`batch ${count(SIZE)}`, (dir) =>
    Effect.gen(function*() {
      const d = data()
      const opened = yield* openTargets(`batch ${count(SIZE)}`, o, d, [
        { name: FLOOR_NAME, acquire: Raw.engine(path.join(dir, "raw.db")), chunk: SIZE },
        { name: "SqliteStore", acquire: Sqlite.engine(path.join(dir, "store.db")), chunk: CHUNK }
      ])
      const probes = WORKLOADS.filter((w) => selected(o.workloads, w.name)).flatMap((w) =>
        BATCHES.flatMap((batch) =>
          opened.map(({ engine }) => ({
            target: engine.name,
            workload: `${w.name}/${batch}`,
            perCall: batch,
            warmup: budget(o, Math.max(4, 20_000 / batch), 150),
            trial: budget(o, Math.max(64, 200_000 / batch), 400),
            run: w.name === "setMany" ? Engine.setMany(engine, d, batch) : Engine.getMany(engine, d, batch)
          }))
        )
      )
      const results = yield* runTrials(probes, TRIALS)
      return results.map((r) => row(r, results))
    }))

const row = (r: Result, all: ReadonlyArray<Result>): Row => {
  const base = resultOf(all, FLOOR_NAME, r.workload)
  return {
    batch: r.perCall,
    workload: r.workload.split("/")[0] as Name,
    target: r.target,
    ...figures(r),
    ratio: pairedRatio(r, base, (t) => t.entriesPerSec),
    cpuRatio: pairedRatio(r, base, (t) => t.cpuEntriesPerSec)
  }
}

const report = (rows: ReadonlyArray<Row>): string =>
  [
    table(
      [
        { header: "workload" },
        { header: "batch", right: true },
        { header: "target" },
        { header: "entries/s", right: true },
        ...latencyColumns("/batch"),
        { header: "p50 µs/entry", right: true },
        { header: "vs raw", right: true },
        { header: "cpu vs raw", right: true }
      ],
      rows.map((r) => ({
        block: `${r.workload}/${r.batch}`,
        cells: [
          r.workload,
          int(r.batch),
          r.target,
          int(r.entriesPerSec),
          ...latencyCells(r),
          micros(r.p50Us / r.batch),
          times(r.ratio),
          times(r.cpuRatio)
        ]
      }))
    ),
    "",
    "entries/s: median trial; p50/p99: median over trials of each trial's latency per batch; vs raw: median over",
    "trials of the paired entries/s ratio to raw better-sqlite3 measured seconds apart in the same trial; cpu: the",
    "same per second of this process's CPU time, which other processes' load inflates less."
  ].join("\n")

const CHART: LineChart.LineChart = {
  name: "batch",
  title: "Batch size: SqliteStore vs raw better-sqlite3",
  subtitle: `Entries per second, median trial, ${count(SIZE)} entries of 256 bytes; one transaction per batch`,
  lines: [
    { target: FLOOR_NAME, label: "better-sqlite3 (raw floor)", color: FLOOR },
    { target: "SqliteStore", label: "SqliteStore", color: OURS }
  ],
  panels: WORKLOADS.map((w) => ({ workload: w.name, title: w.label })),
  xLabel: count,
  xTitle: "entries per call, log scale",
  yTitle: "entries/s, log scale (higher is faster)",
  yLabel: (y) => y >= 1000 ? `${fixed(y / 1000, y >= 100_000 ? 0 : 1)}K` : int(y)
}

/** The batch section. */
export const section: Section = {
  name: "batch",
  redraw: (dir) => redrawLine(dir, CHART, "batch", "entries_per_sec"),
  run: (o) =>
    Effect.map(measure(o), (rows) => ({
      text: report(rows),
      write: (dir, meta) =>
        writeLine(dir, meta, CHART, {
          header: [
            "workload",
            "batch",
            "target",
            "entries_per_sec",
            "p50_us_per_batch",
            "p99_us_per_batch",
            "ratio_vs_raw",
            "cpu_ratio_vs_raw"
          ],
          rows: rows.map((r) => [
            r.workload,
            r.batch,
            r.target,
            Math.round(r.entriesPerSec),
            ...latencyCsv(r),
            r.ratio.toFixed(3),
            r.cpuRatio.toFixed(3)
          ])
        }, rows.map((r) => ({ target: r.target, workload: r.workload, x: r.batch, y: r.entriesPerSec })))
    }))
}
