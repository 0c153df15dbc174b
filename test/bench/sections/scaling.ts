/**
 * The scaling section: how single-operation latency grows with the store, at 1K, 10K, 100K and 1M prefilled entries
 * of 256-byte values. Targets: raw better-sqlite3 (`targets/raw.ts`, the floor on SqliteStore's schema), the plain
 * `WITHOUT ROWID` key/value table with the same pragmas (`sqlite kv`, what SqliteStore's data model costs: the column
 * "vs kv", the median of the per-trial kv p50 / store p50, goals 0.85x for `get` and 0.8x for `set`), SqliteStore and
 * MemoryStore.
 * Workloads: `get` of random hits, `set` of fresh keys and `set` overwriting random existing keys. Each size gets
 * fresh files, deleted when it is done; the raw file is prefilled in one transaction of prepared upserts, the stores
 * through `setMany` in chunks of 10 000, and the prefill times are reported. The figures are p50 and p99 per call
 * (median over trials) and the ratio of SqliteStore's p50 to raw's (median of the per-trial ratios), checked against
 * the goal "<= 2x"; written as `scaling.csv` and the line chart `scaling.svg`.
 */
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { FLOOR, OURS, THIRD } from "../chart.js"
import * as Engine from "../drivers/engine.js"
import type * as LineChart from "../lineChart.js"
import * as Memory from "../targets/memory.js"
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
  redrawLine,
  resultOf,
  runTrials,
  table,
  writeLine
} from "./section.js"

const SIZES: ReadonlyArray<number> = [1_000, 10_000, 100_000, 1_000_000]
const TRIALS = 5
const VALUE_BYTES = 256
/** Entries per `setMany` of the stores' prefill. */
const CHUNK = 10_000
/** The goal: SqliteStore's p50 at most this many times raw's. */
const GOAL = 2
const FLOOR_NAME = "better-sqlite3"

type Name = "get" | "set" | "overwrite"

const WORKLOADS: ReadonlyArray<{ readonly name: Name; readonly label: string; readonly maxOps: number }> = [
  { name: "get", label: "get (random hit)", maxOps: 100_000 },
  { name: "set", label: "set (fresh key)", maxOps: 50_000 },
  { name: "overwrite", label: "set (overwrite)", maxOps: 50_000 }
]

const workload = (name: Name, e: Engine.Engine, data: Engine.Data): Engine.Workload =>
  name === "get" ? Engine.get(e, data) : name === "set" ? Engine.set(e, data) : Engine.overwrite(e, data)

const TARGETS = [
  { name: FLOOR_NAME, color: FLOOR, label: "better-sqlite3 (raw floor)" },
  { name: "SqliteStore", color: OURS, label: "SqliteStore" },
  { name: Raw.KV_NAME, color: "#94a3b8", label: "plain WITHOUT ROWID table" },
  { name: "MemoryStore", color: THIRD, label: "MemoryStore" }
] as const

/** The same keys, value and read order for every target of one size. */
const data = (size: number): Engine.Data =>
  keyData(
    { seed: 0x5ca1e + size, entries: size, valueBytes: VALUE_BYTES, reads: 1 << 20 },
    Math.min(20_000, Math.max(200, Math.floor(size / 5)))
  )

interface Row extends Figures {
  readonly size: number
  readonly workload: Name
  readonly target: string
  readonly prefillSeconds: number
  /** Median over trials of this target's p50 over the floor's (NaN without the floor). */
  readonly ratio: number
  /** Median over trials of the plain key/value table's p50 over this target's (its speed relative to it). */
  readonly kvRatio: number
  readonly verdict: "PASS" | "MISS" | ""
}

const runSize = (size: number, o: Options) =>
  measured(`scaling ${count(size)}`, (dir) =>
    Effect.gen(function*() {
      const d = data(size)
      const opened = yield* openTargets(`scaling ${count(size)}`, o, d, [
        { name: FLOOR_NAME, acquire: Raw.engine(path.join(dir, "raw.db")), chunk: size },
        { name: "SqliteStore", acquire: Sqlite.engine(path.join(dir, "store.db")), chunk: CHUNK },
        { name: Raw.KV_NAME, acquire: Raw.kvEngine(path.join(dir, "kv.db")), chunk: size },
        { name: "MemoryStore", acquire: Memory.engine, chunk: CHUNK }
      ])
      const results = yield* runTrials(
        probes(o, WORKLOADS, opened.map((t) => t.engine), (w, engine) => workload(w.name, engine, d)),
        TRIALS
      )
      return results.map((r) => row(size, r, results, opened.find((t) => t.engine.name === r.target)!.prefill))
    }))

const row = (size: number, r: Result, all: ReadonlyArray<Result>, prefillSeconds: number): Row => {
  const ratio = pairedRatio(r, resultOf(all, FLOOR_NAME, r.workload), (t) => t.p50Us)
  const kv = resultOf(all, Raw.KV_NAME, r.workload)
  const kvRatio = kv === undefined ? Number.NaN : 1 / pairedRatio(r, kv, (t) => t.p50Us)
  return {
    size,
    workload: r.workload as Name,
    target: r.target,
    prefillSeconds,
    ...figures(r),
    ratio,
    kvRatio,
    verdict: r.target !== "SqliteStore" || Number.isNaN(ratio) ? "" : ratio <= GOAL ? "PASS" : "MISS"
  }
}

const labelOf = (w: Name): string => WORKLOADS.find((x) => x.name === w)!.label

const report = (rows: ReadonlyArray<Row>): string => {
  const body = table(
    [
      { header: "entries" },
      { header: "workload" },
      { header: "target" },
      { header: "prefill s", right: true },
      { header: "ops/s", right: true },
      ...latencyColumns(),
      { header: "p50 vs raw", right: true },
      { header: "vs kv", right: true },
      { header: "goal" },
      { header: "verdict" }
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
        r.target === FLOOR_NAME ? "1.00x" : `${fixed(r.ratio, 2)}x`,
        r.target === Raw.KV_NAME ? "1.00x" : `${fixed(r.kvRatio, 2)}x`,
        r.verdict === "" ? "" : `<= ${GOAL}x raw`,
        r.verdict
      ]
    }))
  )
  const sizes = [...new Set(rows.map((r) => r.size))]
  const p50 = (size: number, w: Name, target: string) =>
    rows.find((r) => r.size === size && r.workload === w && r.target === target)
  const summary = table(
    [
      { header: "workload" },
      ...sizes.flatMap((s) => [
        { header: `${count(s)} raw`, right: true },
        { header: "store", right: true },
        { header: "ratio", right: true },
        { header: "kv", right: true },
        { header: "vs kv", right: true },
        { header: "memory", right: true }
      ])
    ],
    WORKLOADS.filter((w) => rows.some((r) => r.workload === w.name)).map((w) => ({
      block: "",
      cells: [
        labelOf(w.name),
        ...sizes.flatMap((s) => {
          const store = p50(s, w.name, "SqliteStore")
          return [
            micros(p50(s, w.name, FLOOR_NAME)?.p50Us ?? NaN),
            micros(store?.p50Us ?? NaN),
            store === undefined ? "-" : `${fixed(store.ratio, 2)}x${store.verdict === "MISS" ? "!" : ""}`,
            micros(p50(s, w.name, Raw.KV_NAME)?.p50Us ?? NaN),
            store === undefined ? "-" : `${fixed(store.kvRatio, 2)}x`,
            micros(p50(s, w.name, "MemoryStore")?.p50Us ?? NaN)
          ]
        })
      ]
    }))
  )
  return [
    body,
    "",
    "p50 µs per call by store size (raw better-sqlite3, SqliteStore, SqliteStore/raw p50 ratio, plain kv table,",
    "SqliteStore's speed relative to it (kv p50 / store p50; goals 0.85x get, 0.8x set), MemoryStore; ! = MISS):",
    summary,
    "",
    "ops/s: fastest trial; p50/p99: median over trials of each trial's latency per call; p50 vs raw: median over",
    "trials of the paired ratio to raw better-sqlite3 measured seconds apart in the same trial. Goal: SqliteStore p50",
    `at most ${GOAL}x raw's. prefill s: raw in one transaction, the stores through setMany of ${CHUNK} entries.`
  ].join("\n")
}

const CHART: LineChart.LineChart = {
  name: "scaling",
  title: "Latency by store size: SqliteStore vs raw better-sqlite3 vs MemoryStore",
  subtitle: "p50 per call, median over trials, 256-byte values; the dashed line is the goal, 2x raw's p50",
  lines: TARGETS.map((t) => ({ target: t.name, label: t.label, color: t.color })),
  panels: WORKLOADS.map((w) => ({ workload: w.name, title: w.label })),
  xLabel: count,
  xTitle: "entries in the store, log scale",
  yTitle: "p50 µs, log scale (lower is faster)",
  yLabel: micros,
  reference: { target: FLOOR_NAME, factor: GOAL, label: "2x raw (goal)" }
}

/** The scaling section. */
export const section: Section = {
  name: "scaling",
  redraw: (dir) => redrawLine(dir, CHART, "entries", "p50_us"),
  run: (o) =>
    Effect.gen(function*() {
      const rows = (yield* Effect.forEach(o.sizes ?? SIZES, (size) => runSize(size, o))).flat()
      return {
        text: report(rows),
        write: (dir, meta) =>
          writeLine(dir, meta, CHART, {
            header: [
              "entries",
              "workload",
              "target",
              "prefill_seconds",
              "ops_per_sec",
              "p50_us",
              "p99_us",
              "p50_ratio_vs_raw",
              "goal",
              "verdict"
            ],
            rows: rows.map((r) => [
              r.size,
              r.workload,
              r.target,
              r.prefillSeconds.toFixed(3),
              Math.round(r.entriesPerSec),
              ...latencyCsv(r),
              r.ratio.toFixed(3),
              r.verdict === "" ? "" : `<= ${GOAL}x raw`,
              r.verdict
            ])
          }, rows.map((r) => ({ target: r.target, workload: r.workload, x: r.size, y: r.p50Us })))
      }
    })
}
