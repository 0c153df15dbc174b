/**
 * The index section: the index configuration (`SqliteStore.makeIndex`, a plain table with no expiry, tags, eviction or
 * counters triggers) against SqliteStore and two raw better-sqlite3 floors, at 10K and 100K prefilled entries of
 * 256-byte values: raw on SqliteStore's table and statements (`better-sqlite3`, the floor of the other sections) and
 * raw on the index's plain table and statements (`better-sqlite3 plain`, the index's own floor). Workloads: `get` of
 * random hits, `set` of fresh keys (removed again untimed), `set` overwriting random existing keys and `setMany` of
 * 1000 fresh entries. The figures are ops/s (entries/s for `setMany`) of the median trial, p50/p99 per call (a
 * `setMany` call is a batch), and the paired ratios to SqliteStore (index/store is the one to read) and to each
 * target's floor; written as `index.csv` and the bar chart `index.svg`.
 */
import * as Effect from "effect/Effect"
import * as path from "node:path"
import * as Chart from "../chart.js"
import * as Engine from "../drivers/engine.js"
import * as Raw from "../targets/raw.js"
import * as Sqlite from "../targets/sqliteStore.js"
import type { Figures, Options, Result, Section } from "./section.js"
import {
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
  probes,
  redraw,
  resultOf,
  runTrials,
  table,
  times,
  writeResults
} from "./section.js"

const SIZES: ReadonlyArray<number> = [10_000, 100_000]
const TRIALS = 5
const VALUE_BYTES = 256
const BATCH = 1000
/** Entries per `setMany` of the stores' prefill. */
const CHUNK = 10_000

const RAW = "better-sqlite3"
const PLAIN = "better-sqlite3 plain"
const STORE = "SqliteStore"
const INDEX = "SqliteStore.makeIndex"

/** Each target and the floor it is compared with. */
const TARGETS: ReadonlyArray<{ readonly name: string; readonly floor: string }> = [
  { name: RAW, floor: RAW },
  { name: PLAIN, floor: PLAIN },
  { name: STORE, floor: RAW },
  { name: INDEX, floor: PLAIN }
]

type Name = "get" | "set" | "overwrite" | "setMany"

const WORKLOADS: ReadonlyArray<
  { readonly name: Name; readonly label: string; readonly perCall: number; readonly maxOps: number }
> = [
  { name: "get", label: "get (random hit)", perCall: 1, maxOps: 100_000 },
  { name: "set", label: "set (fresh key)", perCall: 1, maxOps: 50_000 },
  { name: "overwrite", label: "set (overwrite)", perCall: 1, maxOps: 50_000 },
  { name: "setMany", label: `setMany (${BATCH} fresh)`, perCall: BATCH, maxOps: 200 }
]

const labelOf = (w: Name): string => WORKLOADS.find((x) => x.name === w)!.label

const workload = (name: Name, e: Engine.Engine, data: Engine.Data): Engine.Workload =>
  name === "get"
    ? Engine.get(e, data)
    : name === "set"
    ? Engine.set(e, data)
    : name === "overwrite"
    ? Engine.overwrite(e, data)
    : Engine.setMany(e, data, BATCH)

/** The same keys, value and read order for every target of one size. */
const data = (size: number): Engine.Data =>
  keyData(
    { seed: 0x1de7 + size, entries: size, valueBytes: VALUE_BYTES, reads: 1 << 20 },
    Math.min(20_000, Math.max(2000, Math.floor(size / 5)))
  )

interface Row extends Figures {
  readonly size: number
  readonly workload: Name
  readonly target: string
  readonly prefillSeconds: number
  /** Median over trials of ops/s over SqliteStore's, and of p50 over SqliteStore's. */
  readonly vsStore: number
  readonly p50VsStore: number
  /** Median over trials of ops/s over the target's floor's. */
  readonly vsFloor: number
}

const runSize = (size: number, o: Options) =>
  measured(`index ${count(size)}`, (dir) =>
    Effect.gen(function*() {
      const d = data(size)
      const opened = yield* openTargets(`index ${count(size)}`, o, d, [
        { name: RAW, acquire: Raw.engine(path.join(dir, "raw.db")), chunk: size },
        { name: PLAIN, acquire: Raw.plainEngine(path.join(dir, "plain.db")), chunk: size },
        { name: STORE, acquire: Sqlite.engine(path.join(dir, "store.db")), chunk: CHUNK },
        { name: INDEX, acquire: Sqlite.indexEngine(path.join(dir, "index.db")), chunk: CHUNK }
      ])
      const results = yield* runTrials(
        probes(o, WORKLOADS, opened.map((t) => t.engine), (w, engine) => workload(w.name, engine, d)),
        TRIALS
      )
      return results.map((r) => row(size, r, results, opened.find((t) => t.engine.name === r.target)!.prefill))
    }))

const row = (size: number, r: Result, all: ReadonlyArray<Result>, prefillSeconds: number): Row => {
  const store = resultOf(all, STORE, r.workload)
  const floor = resultOf(all, TARGETS.find((t) => t.name === r.target)?.floor ?? RAW, r.workload)
  return {
    size,
    workload: r.workload as Name,
    target: r.target,
    prefillSeconds,
    ...figures(r),
    vsStore: pairedRatio(r, store, (t) => t.entriesPerSec),
    p50VsStore: pairedRatio(r, store, (t) => t.p50Us),
    vsFloor: pairedRatio(r, floor, (t) => t.entriesPerSec)
  }
}

const report = (rows: ReadonlyArray<Row>): string => {
  const body = table(
    [
      { header: "entries" },
      { header: "workload" },
      { header: "target" },
      { header: "prefill s", right: true },
      { header: "ops/s", right: true },
      ...latencyColumns(),
      { header: "vs store", right: true },
      { header: "p50 vs store", right: true },
      { header: "vs floor", right: true }
    ],
    rows.map((r) => ({
      block: `${r.size}/${r.workload}`,
      cells: [
        count(r.size),
        labelOf(r.workload),
        r.target,
        fixed(r.prefillSeconds, 2),
        int(r.entriesPerSec),
        ...latencyCells(r),
        times(r.vsStore),
        times(r.p50VsStore),
        times(r.vsFloor)
      ]
    }))
  )
  const sizes = [...new Set(rows.map((r) => r.size))]
  const find = (size: number, w: Name, target: string) =>
    rows.find((r) => r.size === size && r.workload === w && r.target === target)
  const summary = table(
    [
      { header: "entries" },
      { header: "workload" },
      { header: "store ops/s", right: true },
      { header: "index ops/s", right: true },
      { header: "index/store", right: true },
      { header: "store p50", right: true },
      { header: "index p50", right: true },
      { header: "p50 index/store", right: true },
      { header: "index/plain raw", right: true }
    ],
    sizes.flatMap((size) =>
      WORKLOADS.filter((w) => rows.some((r) => r.size === size && r.workload === w.name)).map((w) => {
        const store = find(size, w.name, STORE)
        const index = find(size, w.name, INDEX)
        return {
          block: String(size),
          cells: [
            count(size),
            labelOf(w.name),
            int(store?.entriesPerSec ?? NaN),
            int(index?.entriesPerSec ?? NaN),
            index === undefined ? "-" : times(index.vsStore),
            micros(store?.p50Us ?? NaN),
            micros(index?.p50Us ?? NaN),
            index === undefined ? "-" : times(index.p50VsStore),
            index === undefined ? "-" : times(index.vsFloor)
          ]
        }
      })
    )
  )
  return [
    body,
    "",
    "The index configuration against SqliteStore (ops/s ratio above 1x: the index is faster; p50 ratio below 1x: the",
    "index is faster):",
    summary,
    "",
    "ops/s: median trial (setMany: entries/s); p50/p99: median over trials of each trial's latency per call (setMany:",
    "per batch); vs store / vs floor: median over trials of the paired ops/s ratio to SqliteStore / to the target's",
    `floor (SqliteStore: ${RAW}, on the store's table; the index: ${PLAIN}, on the index's`,
    "table), measured seconds apart in the same trial; p50 vs store: the same for p50. prefill s: raw in one",
    `transaction, the stores through setMany of ${CHUNK}.`
  ].join("\n")
}

const CHART: Chart.Chart = {
  name: "index",
  title: "Index configuration: SqliteStore.makeIndex vs SqliteStore vs raw",
  subtitle: `Entries per second, median trial, ${VALUE_BYTES}-byte values; setMany writes batches of ${BATCH} and ` +
    "counts each entry",
  series: [
    { target: RAW, label: "raw (store table)", color: Chart.FLOOR },
    { target: PLAIN, label: "raw (plain table)", color: "#94a3b8" },
    { target: STORE, label: "SqliteStore", color: Chart.OURS },
    { target: INDEX, label: "SqliteStore.makeIndex", color: Chart.THIRD }
  ],
  workloads: WORKLOADS.map((w) => w.name),
  notes: {
    get: ["random hits"],
    set: ["one fresh key", "per call"],
    overwrite: ["one existing key", "per call"],
    setMany: [`${BATCH} fresh keys`, "per call, per entry"]
  }
}

/** The index section. */
export const section: Section = {
  name: "index",
  redraw: (dir) => redraw(dir, "index", (csv, meta) => Chart.writeChart(dir, CHART, Chart.readCsv(csv), meta)),
  run: (o) =>
    Effect.gen(function*() {
      const rows = (yield* Effect.forEach(o.sizes ?? SIZES, (size) => runSize(size, o))).flat()
      return {
        text: report(rows),
        write: (dir, meta) =>
          writeResults(dir, "index", { ...meta, trials: TRIALS }, {
            header: [
              "size",
              "workload",
              "target",
              "prefill_seconds",
              "ops_per_sec",
              "p50_us",
              "p99_us",
              "ratio_vs_store",
              "p50_ratio_vs_store",
              "ratio_vs_floor"
            ],
            rows: rows.map((r) => [
              r.size,
              r.workload,
              r.target,
              r.prefillSeconds.toFixed(3),
              Math.round(r.entriesPerSec),
              ...latencyCsv(r),
              r.vsStore.toFixed(3),
              r.p50VsStore.toFixed(3),
              r.vsFloor.toFixed(3)
            ])
          }, (m) =>
            Chart.writeChart(
              dir,
              CHART,
              rows.map((r) => ({ size: r.size, workload: r.workload, target: r.target, opsPerSec: r.entriesPerSec })),
              m
            ))
      }
    })
}
