/**
 * The wrappers section: what each wrapper costs when it never acts, over MemoryStore and SqliteStore (a temporary
 * file) at 10K prefilled entries of 256-byte values. Each backend opens one store, the bare store, and builds every
 * wrapper over that same store, inert: Retry at its defaults with no failure to retry, Timeout with a limit of one
 * minute, Fallback with a MemoryStore secondary never used, TtlClamp with no bounds (`{}`) and with `max` 1 day (which
 * does act on `set`: a write without a ttl gets one day, so it is reported but held to no goal), LimitSize with a
 * `maxBytes` of 1 GiB, Statistics, Logging at its default options (lines of successes at `Debug`, of failures at
 * `Warning`, both under the fiber's default minimum level `Info`, so nothing is logged), ReadOnly (`get` only: its
 * `set` fails), Routing with one route `x.**` to a second store of the same backend and the store under test as the
 * default, and `KeyValueStore.prefix(store, "ns.")` (its entries are prefilled through it, under `ns.`, so the shared
 * store holds the 10K entries twice); and the stack of five of the README, Statistics ∘ Logging ∘ Retry ∘ Timeout ∘
 * TtlClamp (Timeout inside Retry, Statistics outermost, the inert options above). The bare store is measured twice,
 * the second time (`bare again`) as if it were a wrapper, so its figures show the noise of the comparison. Workloads: `get` of random
 * prefilled keys (all hits) and `set` of fresh keys (removed again untimed), every target in the same interleaved
 * trials as the bare store. The figures are ops/s of the median trial, p50 per call (median over trials), the paired
 * ratio of ops/s to the bare store's (median over trials), and the time the wrapper adds per operation: the median over
 * trials of `1/ops_wrapped − 1/ops_bare` from each trial's throughput (bulk phases, by the wall clock; also by this
 * process's CPU time), in µs. Goals: every inert wrapper adds at most 0.3 µs per operation; the stack of five stays
 * within 1.2x of the bare SqliteStore's time on `get`. Written as `wrappers.csv` and the bar chart `wrappers.svg`.
 */
import * as Fallback from "effect-kv/Fallback"
import * as KeyValueStore from "effect-kv/KeyValueStore"
import * as LimitSize from "effect-kv/LimitSize"
import * as Logging from "effect-kv/Logging"
import * as MemoryStore from "effect-kv/MemoryStore"
import * as ReadOnly from "effect-kv/ReadOnly"
import * as Retry from "effect-kv/Retry"
import * as Routing from "effect-kv/Routing"
import * as SqliteStore from "effect-kv/SqliteStore"
import * as Statistics from "effect-kv/Statistics"
import * as Timeout from "effect-kv/Timeout"
import * as TtlClamp from "effect-kv/TtlClamp"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import * as Chart from "../chart.js"
import * as Engine from "../drivers/engine.js"
import type { Figures, Options, Result, Section, Trial } from "./section.js"
import {
  budget,
  count,
  figures,
  fixed,
  int,
  keyData,
  latencyCsv,
  measured,
  median,
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

const SIZE = 10_000
const VALUE_BYTES = 256
const TRIALS = 7
/** Entries per `setMany` of the prefill. */
const CHUNK = 5_000
/** The most an inert wrapper may add per operation, in µs. */
const GOAL_US = 0.3
/** The most the stack of five may take over the bare SqliteStore on `get`, as a ratio of times. */
const GOAL_STACK = 1.2

type Backend = "MemoryStore" | "SqliteStore"
const BACKENDS: ReadonlyArray<Backend> = ["MemoryStore", "SqliteStore"]

type Name = "get" | "set"

const WORKLOADS: ReadonlyArray<{ readonly name: Name; readonly label: string; readonly maxOps: number }> = [
  { name: "get", label: "get, random hits", maxOps: 200_000 },
  { name: "set", label: "set fresh key", maxOps: 100_000 }
]

const labelOf = (w: Name): string => WORKLOADS.find((x) => x.name === w)!.label

const BARE = "bare"
const STACK = "stack of 5"
/** The bare store measured a second time, as if it were a wrapper: what "no cost" looks like in these trials. */
const AGAIN = "bare again"

/** How a wrapped target is held to its goal: added µs (inert), a ratio to the bare store (the stack) or none. */
type Goal = "inert" | "stack" | "none"

/** One target: its name (as `--only` selects it), what it is, how it is built over the store, and its workloads. */
interface Variant {
  readonly name: string
  readonly config: string
  readonly goal: Goal
  /** Workloads it runs (both when undefined). */
  readonly workloads?: ReadonlyArray<Name>
  /** Whether it is prefilled through itself (its keys are not the bare store's). */
  readonly ownKeys?: boolean
  readonly build: (
    store: KeyValueStore.Service,
    second: Effect.Effect<KeyValueStore.Service, unknown, Scope.Scope>
  ) => Effect.Effect<KeyValueStore.Service, unknown, Scope.Scope>
}

const ONE_MINUTE = "1 minute"
const ONE_GIB = 1 << 30

const statistics = (store: KeyValueStore.Service) => Effect.map(Statistics.make(store), (s) => s.store)

const VARIANTS: ReadonlyArray<Variant> = [
  { name: BARE, config: "the store itself", goal: "none", build: Effect.succeed },
  { name: AGAIN, config: "the store itself again: the noise", goal: "none", build: Effect.succeed },
  { name: "Retry", config: "defaults, nothing fails", goal: "inert", build: (s) => Retry.make(s) },
  { name: "Timeout", config: ONE_MINUTE, goal: "inert", build: (s) => Timeout.make(s, ONE_MINUTE) },
  {
    name: "Fallback",
    config: "MemoryStore secondary, never used",
    goal: "inert",
    build: (s) => Effect.flatMap(MemoryStore.make(), (secondary) => Fallback.make(s, secondary))
  },
  { name: "TtlClamp", config: "{} (no bounds)", goal: "inert", build: (s) => TtlClamp.make(s, {}) },
  {
    name: "TtlClamp max",
    config: "max 1 day (set gets a ttl)",
    goal: "none",
    build: (s) => TtlClamp.make(s, { max: "1 day" })
  },
  {
    name: "LimitSize",
    config: "maxBytes 1 GiB",
    goal: "inert",
    build: (s) => LimitSize.make(s, { maxBytes: ONE_GIB })
  },
  { name: "Statistics", config: "defaults", goal: "inert", build: statistics },
  { name: "Logging", config: "defaults (Debug/Warning < Info)", goal: "inert", build: (s) => Logging.make(s) },
  {
    name: "ReadOnly",
    config: "defaults (get only)",
    goal: "inert",
    workloads: ["get"],
    build: (s) => ReadOnly.make(s)
  },
  {
    name: "Routing",
    config: "x.** to a 2nd store, default this",
    goal: "inert",
    build: (s, second) => Effect.flatMap(second, (other) => Routing.make({ routes: [["x.**", other]], default: s }))
  },
  {
    name: "Prefix",
    config: "KeyValueStore.prefix(\"ns.\")",
    goal: "inert",
    ownKeys: true,
    build: (s) => Effect.try(() => KeyValueStore.prefix(s, "ns."))
  },
  {
    name: STACK,
    config: "Statistics(Logging(Retry(Timeout(TtlClamp))))",
    goal: "stack",
    build: (s) =>
      TtlClamp.make(s, {}).pipe(
        Effect.flatMap((t) => Timeout.make(t, ONE_MINUTE)),
        Effect.flatMap((t) => Retry.make(t)),
        Effect.flatMap((t) => Logging.make(t)),
        Effect.flatMap(statistics)
      )
  }
]

/** A store of the backend on a fresh file of `dir` (SqliteStore), or in memory. */
const openStore = (backend: Backend, dir: string, name: string) =>
  backend === "SqliteStore"
    ? SqliteStore.make({ filename: path.join(dir, `${backend}-${name}.db`) })
    : MemoryStore.make()

/** One target of the section: its backend, variant and engine. */
interface Target {
  readonly backend: Backend
  readonly variant: Variant
  readonly engine: Engine.Engine
}

interface Probe {
  readonly target: Target
  readonly workload: Name
}

interface Row extends Figures {
  readonly backend: Backend
  readonly workload: Name
  readonly variant: Variant
  /** Median over trials of ops/s over the bare store's (paired by trial). */
  readonly ratio: number
  /** Median over trials of p50 over the bare store's. */
  readonly p50Ratio: number
  /** Median over trials of the added time per operation, µs, by the wall clock and by CPU time. */
  readonly addedUs: number
  readonly addedCpuUs: number
}

const measure = (o: Options) =>
  measured(`wrappers ${count(SIZE)}`, (dir) =>
    Effect.gen(function*() {
      const d = keyData({ seed: 0x3a9e5, entries: SIZE, valueBytes: VALUE_BYTES, reads: 1 << 20 }, 20_000)
      const targets: Array<Target> = []
      for (const backend of BACKENDS) {
        if (!selected(o.only, backend)) continue
        const store = yield* openStore(backend, dir, "main")
        const started = performance.now()
        for (const variant of VARIANTS) {
          const wrapped = yield* variant.build(store, openStore(backend, dir, "second"))
          const engine = Engine.effect(`${backend} ${variant.name}`, wrapped)
          if (variant === VARIANTS[0] || variant.ownKeys === true) yield* prefill(engine, d, CHUNK)
          else yield* Engine.check(engine, d)
          targets.push({ backend, variant, engine })
        }
        console.log(
          `wrappers ${count(SIZE)}: ${backend} prefilled and wrapped in ${
            ((performance.now() - started) / 1000).toFixed(2)
          }s`
        )
      }
      const plan: Array<Probe> = []
      for (const backend of BACKENDS) {
        for (const w of WORKLOADS) {
          if (!selected(o.workloads, w.name)) continue
          for (const target of targets) {
            const runs = target.variant.workloads === undefined || target.variant.workloads.includes(w.name)
            if (target.backend === backend && runs) plan.push({ target, workload: w.name })
          }
        }
      }
      const probes = plan.map(({ target, workload }) => {
        const w = WORKLOADS.find((x) => x.name === workload)!
        return {
          target: target.engine.name,
          workload,
          perCall: 1,
          warmup: budget(o, w.maxOps / 5, 150),
          trial: budget(o, w.maxOps, 300),
          run: workload === "get" ? Engine.get(target.engine, d) : Engine.set(target.engine, d)
        }
      })
      const results = yield* runTrials(probes, TRIALS)
      return results.map((r, i) => row(plan[i]!, r, plan, results))
    }))

/** The median over trials of `1/mine − 1/base` (seconds per operation) in µs, trial `k` paired with trial `k`. */
const pairedAddedUs = (mine: Result, base: Result | undefined, figure: (t: Trial) => number): number =>
  base === undefined ? Number.NaN : median(mine.trials.map((t, k) => {
    const b = base.trials[k]
    return b === undefined ? Number.NaN : 1e6 * (1 / figure(t) - 1 / figure(b))
  }))

const row = (probe: Probe, r: Result, plan: ReadonlyArray<Probe>, all: ReadonlyArray<Result>): Row => {
  const { target, workload } = probe
  const at = plan.findIndex((p) =>
    p.target.backend === target.backend && p.target.variant.name === BARE && p.workload === workload
  )
  const base = at < 0 ? undefined : all[at]
  return {
    backend: target.backend,
    workload,
    variant: target.variant,
    ...figures(r),
    ratio: pairedRatio(r, base, (t) => t.entriesPerSec),
    p50Ratio: pairedRatio(r, base, (t) => t.p50Us),
    addedUs: pairedAddedUs(r, base, (t) => t.entriesPerSec),
    addedCpuUs: pairedAddedUs(r, base, (t) => t.cpuEntriesPerSec)
  }
}

/** PASS/MISS of a row against its goal, or `-`. */
const verdict = (r: Row): string => {
  const goal = r.variant.goal
  if (goal === "inert") return Number.isFinite(r.addedUs) ? r.addedUs <= GOAL_US ? "PASS" : "MISS" : "-"
  if (goal === "stack" && r.backend === "SqliteStore" && r.workload === "get") {
    return Number.isFinite(r.ratio) ? 1 / r.ratio <= GOAL_STACK ? "PASS" : "MISS" : "-"
  }
  return "-"
}

/** The goal a row is held to, as the table prints it. */
const goalOf = (r: Row): string =>
  r.variant.goal === "inert"
    ? `+${GOAL_US} µs`
    : r.variant.goal === "stack" && r.backend === "SqliteStore" && r.workload === "get"
    ? `${GOAL_STACK}x time`
    : "-"

const signed = (n: number): string => !Number.isFinite(n) ? "-" : `${n >= 0 ? "+" : ""}${n.toFixed(2)}`

const report = (rows: ReadonlyArray<Row>): string => {
  const body = table(
    [
      { header: "backend" },
      { header: "workload" },
      { header: "wrapper" },
      { header: "configured" },
      { header: "ops/s", right: true },
      { header: "spread", right: true },
      { header: "p50 µs", right: true },
      { header: "vs bare", right: true },
      { header: "p50 vs bare", right: true },
      { header: "+µs/op", right: true },
      { header: "+µs/op cpu", right: true },
      { header: "goal", right: true },
      { header: "" }
    ],
    rows.map((r) => ({
      block: `${r.backend}/${r.workload}`,
      cells: [
        r.backend,
        labelOf(r.workload),
        r.variant.name,
        r.variant.config,
        int(r.entriesPerSec),
        r.spread,
        micros(r.p50Us),
        r.variant.name === BARE ? "-" : times(r.ratio),
        r.variant.name === BARE ? "-" : times(r.p50Ratio),
        r.variant.name === BARE ? "-" : signed(r.addedUs),
        r.variant.name === BARE ? "-" : signed(r.addedCpuUs),
        goalOf(r),
        verdict(r)
      ]
    }))
  )
  const held = rows.filter((r) => verdict(r) !== "-")
  const missed = held.filter((r) => verdict(r) === "MISS")
  const inert = held.filter((r) => r.variant.goal === "inert")
  const stack = held.filter((r) => r.variant.goal === "stack")
  const summary = [
    `goal: every inert wrapper adds at most ${GOAL_US} µs per operation: ` +
    `${inert.length - missed.filter((r) => r.variant.goal === "inert").length}/${inert.length} PASS` +
    (missed.some((r) => r.variant.goal === "inert")
      ? ` (MISS: ${
        missed.filter((r) => r.variant.goal === "inert").map((r) =>
          `${r.variant.name} ${r.backend} ${r.workload} ${signed(r.addedUs)}`
        ).join(", ")
      })`
      : ""),
    ...stack.map((r) =>
      `goal: the stack of five within ${GOAL_STACK}x of the bare SqliteStore on get: ${
        fixed(1 / r.ratio, 2)
      }x the time: ${verdict(r)}`
    )
  ]
  return [
    body,
    "",
    ...summary,
    "",
    `${count(SIZE)} entries of ${VALUE_BYTES} bytes; every wrapper over the same store as the bare row, in the same ` +
    `${TRIALS} interleaved trials.`,
    "ops/s: median trial; p50: median over trials of each trial's p50 per call; vs bare: median over trials of the",
    "paired ops/s ratio to the bare store (below 1x is slower); p50 vs bare: the same for p50 (above 1x is slower);",
    "+µs/op: median over trials of 1/ops_wrapped - 1/ops_bare from each trial's throughput (bulk phases, wall clock;",
    "cpu: by this process's CPU time), in µs. The goal of the inert wrappers is judged on +µs/op (wall clock), the",
    "stack's on 1 / vs bare. bare again: the bare store measured a second time, the noise of these figures.",
    "TtlClamp max acts on set (a write gets a ttl of one day) and is held to no goal; Prefix",
    "reads and writes its own entries under ns. (the store holds both sets)."
  ].join("\n")
}

const CHART: Chart.Chart = {
  name: "wrappers",
  title: "Wrappers: what each costs when it never acts",
  subtitle: `Entries per second, median trial, ${count(SIZE)} entries of ${VALUE_BYTES} bytes; each inert wrapper ` +
    "and a stack of five over the bare store",
  series: VARIANTS.map((v, i) => ({
    target: v.name,
    label: v.name,
    color: v.name === BARE || v.name === AGAIN
      ? Chart.FLOOR
      : v.name === STACK
      ? "#b91c1c"
      : i % 2 === 0
      ? Chart.OURS
      : Chart.THIRD
  })),
  workloads: WORKLOADS.map((w) => w.name),
  notes: { get: ["random hits"], set: ["one fresh key", "per call"] }
}

const writeChart = (dir: string, points: ReadonlyArray<Chart.Point>, meta: Record<string, unknown>) =>
  Chart.writeChart(dir, CHART, points, meta)

/** The wrappers section. */
export const section: Section = {
  name: "wrappers",
  redraw: (dir) => redraw(dir, "wrappers", (csv, meta) => writeChart(dir, Chart.readCsv(csv, "backend"), meta)),
  run: (o) =>
    Effect.map(measure(o), (rows) => ({
      text: report(rows),
      write: (dir, meta) =>
        writeResults(dir, "wrappers", { ...meta, trials: TRIALS }, {
          header: [
            "backend",
            "size",
            "workload",
            "target",
            "ops_per_sec",
            "p50_us",
            "p99_us",
            "ratio_vs_bare",
            "p50_ratio_vs_bare",
            "added_us",
            "added_cpu_us",
            "goal",
            "verdict",
            "configured"
          ],
          rows: rows.map((r) => [
            r.backend,
            SIZE,
            r.workload,
            r.variant.name,
            Math.round(r.entriesPerSec),
            ...latencyCsv(r),
            r.ratio.toFixed(3),
            r.p50Ratio.toFixed(3),
            r.addedUs.toFixed(3),
            r.addedCpuUs.toFixed(3),
            goalOf(r),
            verdict(r),
            r.variant.config
          ])
        }, (m) =>
          writeChart(
            dir,
            rows.map((r) => ({
              size: SIZE,
              workload: r.workload,
              target: r.variant.name,
              opsPerSec: r.entriesPerSec,
              column: r.backend
            })),
            m
          ))
    }))
}
