/**
 * The eviction section: what size limits cost, at 100K prefilled entries of 256-byte values, for SqliteStore and
 * MemoryStore. Each backend opens seven stores: one without a limit; one per policy (`lru`, `lfu`, `lrs`) with
 * `maxEntries` 10M, a limit never reached, so only the bookkeeping shows; and one per policy with `maxEntries` 100K,
 * full from the start, so every write of a fresh key evicts one entry. Workloads: `get` of a hot set of 500 keys and
 * `get` uniform over all 100K keys on the first four (under `lru`/`lfu` a read records a use: SqliteStore buffers
 * them and writes 1000 distinct keys per transaction, which the hot set never reaches), `set` of fresh keys (removed
 * again untimed) on the first four, and `set` of fresh keys that stay on the full stores, whose baseline is the `set`
 * of the store without a limit. Evictions come from each store's `stats` and are reported per write. The figures
 * are ops/s of the median trial, p50/p99 per call (median over trials) and the paired ratios to the store without a
 * limit (ops/s, and p50); the second table is the cost of the bookkeeping. Written as `eviction.csv` and the bar chart
 * `eviction.svg`.
 */
import type * as KeyValueStore from "effect-kv/KeyValueStore"
import * as MemoryStore from "effect-kv/MemoryStore"
import * as SqliteStore from "effect-kv/SqliteStore"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import * as Chart from "../chart.js"
import * as Engine from "../drivers/engine.js"
import { random } from "../harness.js"
import type { Figures, Options, Result, Section } from "./section.js"
import {
  budget,
  count,
  figures,
  fixed,
  int,
  latencyCells,
  latencyColumns,
  latencyCsv,
  measured,
  medianOf,
  micros,
  pairedRatio,
  prefill,
  redraw,
  runTrials,
  selected,
  table,
  times,
  writeResults
} from "./section.js"

const SIZE = 100_000
const HOT = 500
/** A limit the bench never reaches: only the bookkeeping of the policy shows. */
const NEVER = 10_000_000
const TRIALS = 5
const VALUE_BYTES = 256
/** Entries per `setMany` of the prefill. */
const CHUNK = 10_000

type Backend = "SqliteStore" | "MemoryStore"
const BACKENDS: ReadonlyArray<Backend> = ["SqliteStore", "MemoryStore"]

type Policy = "lru" | "lfu" | "lrs"
const POLICIES: ReadonlyArray<Policy> = ["lru", "lfu", "lrs"]
const NO_LIMIT = "no limit"

type Name = "get-hot" | "get-uniform" | "set" | "set-full"

const WORKLOADS: ReadonlyArray<{ readonly name: Name; readonly label: string; readonly maxOps: number }> = [
  { name: "get-hot", label: "get, 500 hot keys", maxOps: 100_000 },
  { name: "get-uniform", label: "get, uniform over 100K", maxOps: 100_000 },
  { name: "set", label: "set fresh key, limit not reached", maxOps: 50_000 },
  { name: "set-full", label: "set fresh key, store full", maxOps: 50_000 }
]

const labelOf = (w: Name): string => WORKLOADS.find((x) => x.name === w)!.label

/** The workload a row is compared with on the store without a limit. */
const baselineOf = (w: Name): Name => w === "set-full" ? "set" : w

interface Data {
  readonly uniform: Engine.Data
  readonly hot: Engine.Data
}

/** The same keys and value for every store; two read orders, uniform over all keys and over the hot set. */
const data = (): Data => {
  const next = random(0xe71c7)
  const keys = Array.from({ length: SIZE }, (_, i) => `key:${i}`)
  const value = Buffer.alloc(VALUE_BYTES)
  for (let i = 0; i < VALUE_BYTES; i++) value[i] = Math.floor(next() * 256)
  const uniform = new Uint32Array(1 << 20)
  for (let i = 0; i < uniform.length; i++) uniform[i] = Math.floor(next() * SIZE)
  // The hot keys are spread over the key space (every 200th key), so they are not neighbours in the table.
  const hot = new Uint32Array(1 << 20)
  for (let i = 0; i < hot.length; i++) hot[i] = Math.floor(next() * HOT) * (SIZE / HOT)
  const round = 20_000
  return { uniform: { keys, value, order: uniform, round }, hot: { keys, value, order: hot, round } }
}

/** One store of the section: its backend, policy (or none) and limit, its engine and its counters. */
interface Store {
  readonly backend: Backend
  readonly policy: Policy | typeof NO_LIMIT
  readonly maxEntries: number | undefined
  readonly engine: Engine.Engine
  readonly stats: KeyValueStore.Service["stats"]
  readonly prefill: number
  /** Writes made by the timed workloads (warm-up included), against which evictions are counted. */
  writes: number
}

const open = (
  backend: Backend,
  dir: string,
  d: Engine.Data,
  policy: Policy | typeof NO_LIMIT,
  maxEntries: number | undefined
) => {
  const limits = policy === NO_LIMIT ? {} : { maxEntries, eviction: policy }
  const name = `${backend} ${policy}${maxEntries === undefined ? "" : ` ${count(maxEntries)}`}`
  const file = path.join(dir, `${name.replace(/ /g, "-")}.db`)
  const acquire: Effect.Effect<KeyValueStore.Service, unknown, Scope.Scope> = backend === "SqliteStore"
    ? SqliteStore.make({ filename: file, ...limits })
    : MemoryStore.make(limits)
  return Effect.gen(function*() {
    const store = yield* acquire
    const engine = Engine.effect(name, store)
    const seconds = yield* prefill(engine, d, CHUNK)
    const opened: Store = { backend, policy, maxEntries, engine, stats: store.stats, prefill: seconds, writes: 0 }
    return opened
  })
}

interface Probe {
  readonly store: Store
  readonly workload: Name
}

interface Row extends Figures {
  readonly backend: Backend
  readonly workload: Name
  readonly policy: Policy | typeof NO_LIMIT
  readonly maxEntries: number | undefined
  readonly prefillSeconds: number
  /** Median over trials of each trial's slowest sampled call (a read that flushed the buffered uses). */
  readonly maxUs: number
  /** Median over trials of ops/s over the store without a limit's (on the baseline workload). */
  readonly ratio: number
  /** The same by this process's CPU time. */
  readonly cpuRatio: number
  /** Median over trials of p50 over the store without a limit's. */
  readonly p50Ratio: number
  /** Evictions and writes of the store over the whole section (set workloads only). */
  readonly evictions: number | undefined
  readonly writes: number | undefined
}

const measure = (o: Options) =>
  measured(`eviction ${count(SIZE)}`, (dir) =>
    Effect.gen(function*() {
      const d = data()
      const stores: Array<Store> = []
      for (const backend of BACKENDS) {
        if (!selected(o.only, backend)) continue
        stores.push(yield* open(backend, dir, d.uniform, NO_LIMIT, undefined))
        for (const policy of POLICIES) stores.push(yield* open(backend, dir, d.uniform, policy, NEVER))
        for (const policy of POLICIES) stores.push(yield* open(backend, dir, d.uniform, policy, SIZE))
      }
      console.log(
        `eviction ${count(SIZE)}: prefilled ` + BACKENDS.map((b) => {
          const mine = stores.filter((s) => s.backend === b)
          return `${b} ${mine.reduce((t, s) => t + s.prefill, 0).toFixed(2)}s (${mine.length} stores)`
        }).join(", ")
      )
      const before = yield* Effect.forEach(stores, (s) => s.stats)
      const plan: Array<Probe> = []
      for (const backend of BACKENDS) {
        for (const w of WORKLOADS) {
          if (!selected(o.workloads, w.name)) continue
          const full = w.name === "set-full"
          for (const store of stores) {
            if (store.backend === backend && (store.maxEntries === SIZE) === full) {
              plan.push({ store, workload: w.name })
            }
          }
        }
      }
      const probes = plan.map(({ store, workload }) => {
        const w = WORKLOADS.find((x) => x.name === workload)!
        const e = store.engine
        const run = workload === "get-hot"
          ? Engine.get(e, d.hot)
          : workload === "get-uniform"
          ? Engine.get(e, d.uniform)
          : workload === "set"
          ? Engine.set(e, d.uniform)
          : Engine.insert(e, d.uniform)
        const counted: Engine.Workload = workload === "set" || workload === "set-full"
          ? (rec) =>
            Effect.tap(run(rec), () => {
              store.writes += rec.ops
            })
          : run
        return {
          target: e.name,
          workload,
          perCall: 1,
          warmup: budget(o, w.maxOps / 5, 150),
          trial: budget(o, w.maxOps, 300),
          run: counted
        }
      })
      const results = yield* runTrials(probes, TRIALS)
      const after = yield* Effect.forEach(stores, (s) => s.stats)
      const evictions = new Map(stores.map((s, i) => [s, after[i]!.evictions - before[i]!.evictions]))
      return results.map((r, i) => row(plan[i]!, r, plan, results, evictions.get(plan[i]!.store)!))
    }))

const row = (
  probe: Probe,
  r: Result,
  plan: ReadonlyArray<Probe>,
  all: ReadonlyArray<Result>,
  evictions: number
): Row => {
  const { store, workload } = probe
  const at = plan.findIndex((p) =>
    p.store.backend === store.backend && p.store.policy === NO_LIMIT && p.workload === baselineOf(workload)
  )
  const base = at < 0 ? undefined : all[at]
  const writes = workload === "set" || workload === "set-full"
  return {
    backend: store.backend,
    workload,
    policy: store.policy,
    maxEntries: store.maxEntries,
    prefillSeconds: store.prefill,
    ...figures(r),
    maxUs: medianOf(r, (t) => t.maxUs),
    ratio: pairedRatio(r, base, (t) => t.entriesPerSec),
    cpuRatio: pairedRatio(r, base, (t) => t.cpuEntriesPerSec),
    p50Ratio: pairedRatio(r, base, (t) => t.p50Us),
    evictions: writes ? evictions : undefined,
    writes: writes ? store.writes : undefined
  }
}

const limitOf = (r: Row): string => r.maxEntries === undefined ? "-" : count(r.maxEntries)

const perWrite = (r: Row): string =>
  r.evictions === undefined || r.writes === undefined || r.writes === 0 ? "-" : fixed(r.evictions / r.writes, 2)

const report = (rows: ReadonlyArray<Row>): string => {
  const body = table(
    [
      { header: "backend" },
      { header: "workload" },
      { header: "policy" },
      { header: "maxEntries", right: true },
      { header: "prefill s", right: true },
      { header: "ops/s", right: true },
      ...latencyColumns(),
      { header: "max µs", right: true },
      { header: "vs none", right: true },
      { header: "cpu vs none", right: true },
      { header: "p50 vs none", right: true },
      { header: "evictions", right: true },
      { header: "per write", right: true }
    ],
    rows.map((r) => ({
      block: `${r.backend}/${r.workload}`,
      cells: [
        r.backend,
        labelOf(r.workload),
        r.policy,
        limitOf(r),
        fixed(r.prefillSeconds, 2),
        int(r.entriesPerSec),
        ...latencyCells(r),
        micros(r.maxUs),
        times(r.ratio),
        times(r.cpuRatio),
        times(r.p50Ratio),
        r.evictions === undefined ? "-" : int(r.evictions),
        perWrite(r)
      ]
    }))
  )
  const find = (backend: Backend, workload: Name, policy: Policy | typeof NO_LIMIT) =>
    rows.find((r) => r.backend === backend && r.workload === workload && r.policy === policy)
  const cost = table(
    [
      { header: "backend" },
      { header: "workload" },
      { header: "no limit ops/s", right: true },
      { header: "p50 µs", right: true },
      ...POLICIES.flatMap((p) => [{ header: `${p} ops/s`, right: true }, { header: `${p} p50`, right: true }])
    ],
    BACKENDS.flatMap((backend) =>
      WORKLOADS.filter((w) => rows.some((r) => r.backend === backend && r.workload === w.name)).map((w) => {
        const base = find(backend, baselineOf(w.name), NO_LIMIT)
        return {
          block: backend,
          cells: [
            backend,
            labelOf(w.name),
            int(base?.entriesPerSec ?? NaN),
            micros(base?.p50Us ?? NaN),
            ...POLICIES.flatMap((p) => {
              const r = find(backend, w.name, p)
              return r === undefined ? ["-", "-"] : [times(r.ratio), times(r.p50Ratio)]
            })
          ]
        }
      })
    )
  )
  return [
    body,
    "",
    "What the bookkeeping costs: ops/s and p50 of each policy over the same store without a limit (set, store full:",
    "over the set of the store without a limit):",
    cost,
    "",
    `${count(SIZE)} entries of ${VALUE_BYTES} bytes. maxEntries ${count(NEVER)}: a limit never reached (only the ` +
    `bookkeeping shows); ${count(SIZE)}: full`,
    "from the start, every write of a fresh key evicts one entry. ops/s: median trial; p50/p99/max: median over trials",
    "of each trial's latency per call (max: its slowest sampled call); vs none: median over trials of the paired ops/s",
    "ratio to the store without a limit measured seconds apart in the same trial (cpu: the same per second of this",
    "process's CPU time); p50 vs none: the same for p50 (above 1x is slower). evictions: counted by the store's stats",
    "over the whole section (warm-up included), per write of the set workloads."
  ].join("\n")
}

const CHART: Chart.Chart = {
  name: "eviction",
  title: "Size limits: what eviction bookkeeping costs",
  subtitle: `Entries per second, median trial, ${count(SIZE)} entries of ${VALUE_BYTES} bytes; policies with ` +
    `maxEntries ${count(NEVER)} (never reached) or ${count(SIZE)} (full)`,
  series: [
    { target: NO_LIMIT, label: "no limit", color: Chart.FLOOR },
    { target: "lru", label: "lru", color: Chart.OURS },
    { target: "lfu", label: "lfu", color: Chart.THIRD },
    { target: "lrs", label: "lrs", color: "#d97706" }
  ],
  workloads: WORKLOADS.map((w) => w.name),
  notes: {
    "get-hot": ["500 hot keys"],
    "get-uniform": [`random over ${count(SIZE)}`],
    "set": ["one fresh key,", "limit not reached"],
    "set-full": ["one fresh key into", "a full store: evicts", "(no limit: its set)"]
  }
}

/** The bars: each row's ops/s by backend, and the set of the store without a limit again in the store-full row. */
const chartPoints = (points: ReadonlyArray<Chart.Point>): Array<Chart.Point> => [
  ...points,
  ...points.filter((p) => p.target === NO_LIMIT && p.workload === "set").map((p) => ({ ...p, workload: "set-full" }))
]

const writeChart = (dir: string, points: ReadonlyArray<Chart.Point>, meta: Record<string, unknown>) =>
  Chart.writeChart(dir, CHART, chartPoints(points), meta)

/** The eviction section. */
export const section: Section = {
  name: "eviction",
  redraw: (dir) => redraw(dir, "eviction", (csv, meta) => writeChart(dir, Chart.readCsv(csv, "backend"), meta)),
  run: (o) =>
    Effect.map(measure(o), (rows) => ({
      text: report(rows),
      write: (dir, meta) =>
        writeResults(dir, "eviction", { ...meta, trials: TRIALS }, {
          header: [
            "backend",
            "size",
            "workload",
            "target",
            "max_entries",
            "prefill_seconds",
            "ops_per_sec",
            "p50_us",
            "p99_us",
            "max_us",
            "ratio_vs_no_limit",
            "cpu_ratio_vs_no_limit",
            "p50_ratio_vs_no_limit",
            "evictions",
            "writes"
          ],
          rows: rows.map((r) => [
            r.backend,
            SIZE,
            r.workload,
            r.policy,
            r.maxEntries ?? "",
            r.prefillSeconds.toFixed(3),
            Math.round(r.entriesPerSec),
            ...latencyCsv(r),
            r.maxUs.toFixed(3),
            r.ratio.toFixed(3),
            r.cpuRatio.toFixed(3),
            r.p50Ratio.toFixed(3),
            r.evictions ?? "",
            r.writes ?? ""
          ])
        }, (m) =>
          writeChart(
            dir,
            rows.map((r) => ({
              size: SIZE,
              workload: r.workload,
              target: r.policy,
              opsPerSec: r.entriesPerSec,
              column: r.backend
            })),
            m
          ))
    }))
}
