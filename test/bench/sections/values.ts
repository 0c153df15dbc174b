/**
 * The values section: throughput by value size, from 64 B to 64 MiB, raw better-sqlite3 (values always inline in the
 * row) against SqliteStore opened through its public API, so whatever the store does with large values (files beside
 * the database, their checksums) shows here. `--sizes=65536,67108864` runs only the value sizes given. Each value
 * size gets fresh files with `max(4, min(10 000, 256 MiB / size))` entries, deleted when it is done. Workloads:
 * `get` of random hits and `set` of fresh keys (in rounds of at most 32 MiB, removed again untimed). The figures are
 * ops/s and MB/s (10^6 bytes of values) of the median trial, p50/p99 per call (median over trials), the paired ratio
 * to raw, and what each target left on disk after its prefill (bytes, and files beside the database); written as
 * `values.csv` and the line chart `values.svg`.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { FLOOR, OURS } from "../chart.js"
import * as Engine from "../drivers/engine.js"
import type * as LineChart from "../lineChart.js"
import * as Raw from "../targets/raw.js"
import * as Sqlite from "../targets/sqliteStore.js"
import type { Figures, Options, Result, Section } from "./section.js"
import {
  bytes,
  count,
  figures,
  fixed,
  int,
  keyData,
  latencyCells,
  latencyColumns,
  latencyCsv,
  measured,
  openTargets,
  pairedRatio,
  probes,
  redrawLine,
  resultOf,
  runTrials,
  table,
  times,
  writeLine
} from "./section.js"

const MiB = 1 << 20
const VALUE_SIZES: ReadonlyArray<number> = [
  64,
  1024,
  16 * 1024,
  64 * 1024,
  256 * 1024,
  MiB,
  4 * MiB,
  16 * MiB,
  64 * MiB
]
const TRIALS = 5
const FLOOR_NAME = "better-sqlite3"

type Name = "get" | "set"

const WORKLOADS: ReadonlyArray<{ readonly name: Name; readonly label: string; readonly maxOps: number }> = [
  { name: "get", label: "get (random hit)", maxOps: 50_000 },
  { name: "set", label: "set (fresh key)", maxOps: 20_000 }
]

/** Entries prefilled at one value size: 10K, fewer for large values so a file stays near 256 MiB (at least 4). */
const entriesOf = (size: number): number => Math.max(4, Math.min(10_000, Math.floor(256 * MiB / size)))

/** Entries per prefill transaction: at most 10K and at most 32 MiB. */
const chunkOf = (size: number): number => Math.max(1, Math.min(10_000, Math.floor(32 * MiB / size)))

const data = (size: number): Engine.Data => {
  const entries = entriesOf(size)
  return keyData(
    { seed: 0x7a1 + size, entries, valueBytes: size, reads: 1 << 16 },
    Math.max(32, Math.min(2000, Math.floor(32 * MiB / size)))
  )
}

/** Bytes of every file under `dir`, and how many of them are not the database, its WAL or its shared memory. */
const disk = (dir: string): { readonly bytes: number; readonly sideFiles: number } => {
  let total = 0
  let sideFiles = 0
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    total += fs.statSync(path.join(entry.parentPath, entry.name)).size
    if (!/\.db(-wal|-shm)?$/.test(entry.name)) sideFiles++
  }
  return { bytes: total, sideFiles }
}

interface Row extends Figures {
  readonly valueBytes: number
  readonly entries: number
  readonly workload: Name
  readonly target: string
  readonly prefillSeconds: number
  readonly diskBytes: number
  readonly sideFiles: number
  readonly mbPerSec: number
  /** Median over trials of this target's ops/s over raw's. */
  readonly ratio: number
  /** The same by this process's CPU time, which other processes' load inflates less. */
  readonly cpuRatio: number
}

/** Each target's directory under the size's temporary directory (its database is `<home>/<home>.db`). */
const HOMES: Readonly<Record<string, string>> = { [FLOOR_NAME]: "raw", SqliteStore: "store" }

const runSize = (size: number, o: Options) =>
  measured(`values ${bytes(size)}`, (dir) =>
    Effect.gen(function*() {
      const d = data(size)
      const home = (name: string) => path.join(dir, HOMES[name]!)
      const at = (name: string, acquire: (file: string) => Effect.Effect<Engine.Engine, unknown, Scope.Scope>) => ({
        name,
        acquire: Effect.suspend(() => {
          fs.mkdirSync(home(name))
          return acquire(path.join(home(name), `${HOMES[name]}.db`))
        }),
        chunk: chunkOf(size)
      })
      const opened = yield* openTargets(`values ${bytes(size)} x ${count(d.keys.length)}`, o, d, [
        at(FLOOR_NAME, Raw.engine),
        at("SqliteStore", Sqlite.engine)
      ])
      // Measured before the trials: what each target left on disk after its prefill.
      const disks = new Map(opened.map((t) => [t.engine.name, disk(home(t.engine.name))]))
      const results = yield* runTrials(
        probes(
          o,
          WORKLOADS,
          opened.map((t) => t.engine),
          (w, engine) => w.name === "get" ? Engine.get(engine, d) : Engine.set(engine, d)
        ),
        TRIALS
      )
      const prefills = new Map(opened.map((t) => [t.engine.name, t.prefill]))
      return results.map((r) => row(size, d.keys.length, r, results, prefills.get(r.target)!, disks.get(r.target)!))
    }))

const row = (
  size: number,
  entries: number,
  r: Result,
  all: ReadonlyArray<Result>,
  prefillSeconds: number,
  onDisk: ReturnType<typeof disk>
): Row => {
  const base = resultOf(all, FLOOR_NAME, r.workload)
  const f = figures(r)
  return {
    valueBytes: size,
    entries,
    workload: r.workload as Name,
    target: r.target,
    prefillSeconds,
    diskBytes: onDisk.bytes,
    sideFiles: onDisk.sideFiles,
    ...f,
    mbPerSec: f.entriesPerSec * size / 1e6,
    ratio: pairedRatio(r, base, (x) => x.entriesPerSec),
    cpuRatio: pairedRatio(r, base, (x) => x.cpuEntriesPerSec)
  }
}

const labelOf = (w: Name): string => WORKLOADS.find((x) => x.name === w)!.label

const report = (rows: ReadonlyArray<Row>): string =>
  [
    table(
      [
        { header: "value" },
        { header: "entries", right: true },
        { header: "workload" },
        { header: "target" },
        { header: "prefill s", right: true },
        { header: "disk MB", right: true },
        { header: "side files", right: true },
        { header: "ops/s", right: true },
        { header: "MB/s", right: true },
        ...latencyColumns(),
        { header: "vs raw", right: true },
        { header: "cpu vs raw", right: true }
      ],
      rows.map((r) => ({
        block: `${r.valueBytes}/${r.workload}`,
        cells: [
          bytes(r.valueBytes),
          count(r.entries),
          labelOf(r.workload),
          r.target,
          fixed(r.prefillSeconds, 2),
          fixed(r.diskBytes / 1e6, 1),
          String(r.sideFiles),
          int(r.entriesPerSec),
          r.mbPerSec >= 100 ? int(r.mbPerSec) : fixed(r.mbPerSec, 1),
          ...latencyCells(r),
          times(r.ratio),
          times(r.cpuRatio)
        ]
      }))
    ),
    "",
    "ops/s and MB/s (10^6 bytes of values per second): median trial; p50/p99: median over trials of each trial's",
    "latency per call; vs raw: median over trials of the paired ops/s ratio to raw better-sqlite3 (cpu: the same per",
    "second of this process's CPU time, which other processes' load inflates less). disk MB and side files: what the",
    "target's directory held after the prefill (side files: anything but the database, WAL and shm)."
  ].join("\n")

const CHART: LineChart.LineChart = {
  name: "values",
  title: "Throughput by value size: SqliteStore vs raw better-sqlite3",
  subtitle: "MB/s of values, median trial; max(4, min(10K, 256 MiB / size)) entries; raw keeps every value inline",
  lines: [
    { target: FLOOR_NAME, label: "better-sqlite3 (raw floor)", color: FLOOR },
    { target: "SqliteStore", label: "SqliteStore", color: OURS }
  ],
  panels: WORKLOADS.map((w) => ({ workload: w.name, title: w.label })),
  xLabel: (x) => bytes(x).replace(" ", ""),
  xTitle: "value size, log scale",
  yTitle: "MB/s, log scale (higher is faster)",
  yLabel: (y) => y >= 100 ? int(y) : fixed(y, 1)
}

/** The values section. */
export const section: Section = {
  name: "values",
  redraw: (dir) => redrawLine(dir, CHART, "value_bytes", "mb_per_sec"),
  run: (o) =>
    Effect.gen(function*() {
      const sizes = o.sizes === undefined ? VALUE_SIZES : VALUE_SIZES.filter((size) => o.sizes!.includes(size))
      if (sizes.length === 0) return yield* Effect.fail(new Error(`--sizes: values measures ${VALUE_SIZES.join(", ")}`))
      const rows = (yield* Effect.forEach(sizes, (size) => runSize(size, o))).flat()
      return {
        text: report(rows),
        write: (dir, meta) =>
          writeLine(dir, meta, CHART, {
            header: [
              "value_bytes",
              "entries",
              "workload",
              "target",
              "prefill_seconds",
              "disk_bytes",
              "side_files",
              "ops_per_sec",
              "mb_per_sec",
              "p50_us",
              "p99_us",
              "ratio_vs_raw",
              "cpu_ratio_vs_raw"
            ],
            rows: rows.map((r) => [
              r.valueBytes,
              r.entries,
              r.workload,
              r.target,
              r.prefillSeconds.toFixed(3),
              r.diskBytes,
              r.sideFiles,
              Math.round(r.entriesPerSec),
              r.mbPerSec.toFixed(1),
              ...latencyCsv(r),
              r.ratio.toFixed(3),
              r.cpuRatio.toFixed(3)
            ])
          }, rows.map((r) => ({ target: r.target, workload: r.workload, x: r.valueBytes, y: r.mbPerSec })))
      }
    })
}
