/**
 * What the sections of `npm run bench` share: the command-line options, the `Section` each module exports (a run that
 * returns its printed report and the result files it would write), how a section opens and prefills its targets in a
 * temporary directory, the interleaved trials of every section but core and the figures taken from them, and how their
 * results are printed (aligned tables) and written (CSV, a git-ignored `<name>.json` of the run's environment, and the
 * chart, which `redraw` and `redrawLine` draw again from those two). Trials interleave like the core section's: every
 * probe (one workload on one target) runs once per trial, probes of the same workload back to back, in reversed order
 * on odd trials, so a target and its floor always run seconds apart.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Chart from "../chart.js"
import * as Engine from "../drivers/engine.js"
import type { Budget } from "../harness.js"
import { quantile, random, Recorder } from "../harness.js"
import * as LineChart from "../lineChart.js"

/** The command line, shared by every section. */
export interface Options {
  /** Targets to run (all when undefined). */
  readonly only: ReadonlyArray<string> | undefined
  /** Workloads to run (all when undefined). */
  readonly workloads: ReadonlyArray<string> | undefined
  /** Prefilled sizes of the core and scaling sections (their own defaults when undefined). */
  readonly sizes: ReadonlyArray<number> | undefined
  /** Budgets are scaled by this (0.2 with `--quick`). */
  readonly scale: number
}

/** What a section produced: its report for stdout and a writer of its result files. */
export interface Output {
  readonly text: string
  /** Writes the section's files into `dir` (run metadata for the charts' note); returns the paths. */
  readonly write: (dir: string, meta: Record<string, unknown>) => Array<string>
}

/** One section of the bench. */
export interface Section {
  readonly name: string
  readonly run: (options: Options) => Effect.Effect<Output, unknown>
  /** Redraws the section's charts in `dir` from its result files there; returns the paths written. */
  readonly redraw: (dir: string) => Array<string>
}

/** Whether a target or workload is selected by the command line. */
export const selected = (filter: ReadonlyArray<string> | undefined, name: string): boolean =>
  filter === undefined || filter.includes(name)

/** A fresh temporary directory, deleted with everything in it when the scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-bench-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Seconds since `since` (a `performance.now()` time), one decimal. */
export const seconds = (since: number): string => ((performance.now() - since) / 1000).toFixed(1)

/** Runs `effect` and reports how long it took, in seconds. */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, number], E, R> =>
  Effect.suspend(() => {
    const started = performance.now()
    return Effect.map(effect, (a) => [a, (performance.now() - started) / 1000] as const)
  })

/**
 * Runs `body` in a fresh temporary directory (deleted when it is done) and logs how long it took, data and prefill
 * included, as `<label>: measured in <s>s`.
 */
export const measured = <A>(
  label: string,
  body: (dir: string) => Effect.Effect<A, unknown, Scope.Scope>
): Effect.Effect<A, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const started = performance.now()
    const a = yield* body(yield* tempDir)
    console.log(`${label}: measured in ${seconds(started)}s`)
    return a
  }))

// --- targets ---

/** A target of a section: its name (as `--only` selects it), how to open it, and entries per prefill transaction. */
export interface Target {
  readonly name: string
  readonly acquire: Effect.Effect<Engine.Engine, unknown, Scope.Scope>
  readonly chunk: number
}

/** An open, prefilled target and how long its prefill took, in seconds. */
export interface Opened {
  readonly engine: Engine.Engine
  readonly prefill: number
}

/** Prefills `engine` with `data` in transactions of `chunk` entries, timed, then checks it; returns the seconds. */
export const prefill = (engine: Engine.Engine, data: Engine.Data, chunk: number): Effect.Effect<number, unknown> =>
  Effect.gen(function*() {
    const [, took] = yield* timed(Engine.prefill(engine, data, chunk))
    yield* Engine.check(engine, data)
    return took
  })

/** Opens and prefills the targets `--only` selects, one after the other, and logs their prefill times under `label`. */
export const openTargets = (
  label: string,
  o: Options,
  data: Engine.Data,
  targets: ReadonlyArray<Target>
): Effect.Effect<Array<Opened>, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const opened: Array<Opened> = []
    for (const target of targets) {
      if (!selected(o.only, target.name)) continue
      const engine = yield* target.acquire
      opened.push({ engine, prefill: yield* prefill(engine, data, target.chunk) })
    }
    console.log(`${label}: prefilled ${opened.map((t) => `${t.engine.name} ${t.prefill.toFixed(2)}s`).join(", ")}`)
    return opened
  })

/** The same keys, one random value and a random read order over the keys, for every target of one run. */
export const keyData = (
  options: { readonly seed: number; readonly entries: number; readonly valueBytes: number; readonly reads: number },
  round: number
): Engine.Data => {
  const next = random(options.seed)
  const order = new Uint32Array(options.reads)
  for (let i = 0; i < order.length; i++) order[i] = Math.floor(next() * options.entries)
  const value = Buffer.alloc(options.valueBytes)
  for (let i = 0; i < options.valueBytes; i++) value[i] = Math.floor(next() * 256)
  return { keys: Array.from({ length: options.entries }, (_, i) => `key:${i}`), value, order, round }
}

// --- trials ---

/** One workload on one target, ready to run into a recorder. */
export interface Probe {
  readonly target: string
  readonly workload: string
  /** Entries per timed call (a batch size, or 1). */
  readonly perCall: number
  readonly warmup: Budget
  readonly trial: Budget
  readonly run: Engine.Workload
}

/** One trial of one probe. */
export interface Trial {
  /** Entries per second by the wall clock, and per second of this process's CPU time. */
  readonly entriesPerSec: number
  readonly cpuEntriesPerSec: number
  /** Latency per call, microseconds. */
  readonly p50Us: number
  readonly p99Us: number
  /** The slowest call sampled (latency is sampled in every other chunk of calls). */
  readonly maxUs: number
  readonly calls: number
  readonly samples: number
}

/** Every trial of one probe, in trial order. */
export interface Result {
  readonly target: string
  readonly workload: string
  readonly perCall: number
  readonly trials: ReadonlyArray<Trial>
}

const summarize = (probe: Probe, rec: Recorder): Trial => {
  if (rec.count === 0) throw new Error(`${probe.target} ${probe.workload}: no sample was taken`)
  const sorted = rec.samples.slice(0, rec.count).sort()
  return {
    entriesPerSec: rec.opsPerSec() * probe.perCall,
    cpuEntriesPerSec: rec.cpuOpsPerSec() * probe.perCall,
    p50Us: quantile(sorted, 0.5) * 1000,
    p99Us: quantile(sorted, 0.99) * 1000,
    maxUs: sorted[sorted.length - 1]! * 1000,
    calls: rec.ops,
    samples: rec.count
  }
}

/** A budget of `maxOps` calls in `ms` milliseconds, scaled by `--quick`. */
export const budget = (o: Options, maxOps: number, ms: number): Budget => ({ maxOps, budgetMs: ms * o.scale })

/** A workload as the sections list it: its name (as `--workloads` selects it), entries per call and calls per trial. */
export interface Work {
  readonly name: string
  readonly maxOps: number
  /** Entries per call (1 when undefined). */
  readonly perCall?: number | undefined
}

/**
 * A probe per workload `--workloads` selects and per engine, workload by workload: a warm-up of a fifth of the trial's
 * calls in 150 ms, and trials of `maxOps` calls in 300 ms.
 */
export const probes = <W extends Work>(
  o: Options,
  workloads: ReadonlyArray<W>,
  engines: ReadonlyArray<Engine.Engine>,
  run: (w: W, engine: Engine.Engine) => Engine.Workload
): Array<Probe> =>
  workloads.filter((w) => selected(o.workloads, w.name)).flatMap((w) =>
    engines.map((engine) => ({
      target: engine.name,
      workload: w.name,
      perCall: w.perCall ?? 1,
      warmup: budget(o, Math.max(4, w.maxOps / 5), 150),
      trial: budget(o, w.maxOps, 300),
      run: run(w, engine)
    }))
  )

/** Warms every probe up, then runs `trials` interleaved trials of all of them. */
export const runTrials = (probes: ReadonlyArray<Probe>, trials: number): Effect.Effect<Array<Result>, unknown> =>
  Effect.gen(function*() {
    for (const probe of probes) yield* probe.run(new Recorder(probe.warmup))
    const done = probes.map((): Array<Trial> => [])
    for (let k = 0; k < trials; k++) {
      const order = probes.map((_, i) => i)
      if (k % 2 === 1) order.reverse()
      for (const i of order) {
        const rec = new Recorder(probes[i]!.trial)
        yield* probes[i]!.run(rec)
        done[i]!.push(summarize(probes[i]!, rec))
      }
    }
    return probes.map((p, i) => ({ target: p.target, workload: p.workload, perCall: p.perCall, trials: done[i]! }))
  })

/** The median of some numbers (NaN when there are none). */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The median over trials of one figure. */
export const medianOf = (r: Result, figure: (t: Trial) => number): number => median(r.trials.map(figure))

/** The median over trials of `mine / base` for one figure, trial `k` paired with trial `k` (NaN without a base). */
export const pairedRatio = (mine: Result, base: Result | undefined, figure: (t: Trial) => number): number =>
  base === undefined
    ? Number.NaN
    : median(mine.trials.map((t, k) => {
      const b = base.trials[k]
      return b === undefined ? Number.NaN : figure(t) / figure(b)
    }))

/** The result of `target` on `workload` among `all` (e.g. the floor a row is compared with). */
export const resultOf = (all: ReadonlyArray<Result>, target: string, workload: string): Result | undefined =>
  all.find((r) => r.target === target && r.workload === workload)

/** How far the slowest trial fell below the fastest, in percent: a noise gauge. */
export const spread = (r: Result): string => {
  const all = r.trials.map((t) => t.entriesPerSec)
  const max = Math.max(...all)
  return all.length < 2 ? "-" : `${Math.round(100 * (max - Math.min(...all)) / max)}%`
}

/**
 * What every section reports of a probe: the median over trials of its throughput (the fastest trial is the one the
 * machine's noise spared most, which a rerun does not reproduce), its spread, and the median p50 and p99.
 */
export interface Figures {
  /** Entries per second (ops/s for single operations). */
  readonly entriesPerSec: number
  readonly spread: string
  /** Per call, microseconds. */
  readonly p50Us: number
  readonly p99Us: number
}

/** The figures of one probe's trials. */
export const figures = (r: Result): Figures => ({
  entriesPerSec: medianOf(r, (t) => t.entriesPerSec),
  spread: spread(r),
  p50Us: medianOf(r, (t) => t.p50Us),
  p99Us: medianOf(r, (t) => t.p99Us)
})

// --- text ---

/** A whole number with thousands separators, or `-`. */
export const int = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-"

/** A number with `digits` decimals, or `-`. */
export const fixed = (n: number, digits: number): string => Number.isFinite(n) ? n.toFixed(digits) : "-"

/** A ratio with two decimals: `1.23x`, or `-x`. */
export const times = (n: number): string => `${fixed(n, 2)}x`

/** A latency in microseconds with three significant digits. */
export const micros = (n: number): string =>
  !Number.isFinite(n) ? "-" : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)

/** An entry count: 1K, 100K, 1M. */
export const count = (n: number): string =>
  n >= 1_000_000 && n % 1_000_000 === 0
    ? `${n / 1_000_000}M`
    : n >= 1000 && n % 1000 === 0
    ? `${n / 1000}K`
    : n.toLocaleString("en-US")

/** A size in bytes: 64 B, 1 KiB, 256 KiB, 1 MiB. */
export const bytes = (n: number): string =>
  n >= 1 << 20 && n % (1 << 20) === 0 ? `${n >> 20} MiB` : n >= 1024 && n % 1024 === 0 ? `${n >> 10} KiB` : `${n} B`

/** A table column: its header and whether its cells are right-aligned (numbers). */
export interface Column {
  readonly header: string
  readonly right?: boolean
}

/** The columns of `latencyCells`: spread, p50 and p99, per `unit` (e.g. `/batch`) when given. */
export const latencyColumns = (unit = ""): Array<Column> => [
  { header: "spread", right: true },
  { header: `p50 µs${unit}`, right: true },
  { header: `p99 µs${unit}`, right: true }
]

/** The spread, p50 and p99 of a row, as table cells. */
export const latencyCells = (f: Figures): Array<string> => [f.spread, micros(f.p50Us), micros(f.p99Us)]

/** The p50 and p99 of a row, as CSV cells (microseconds, three decimals). */
export const latencyCsv = (f: Figures): Array<string> => [f.p50Us.toFixed(3), f.p99Us.toFixed(3)]

/** Rows as an aligned text table; a blank line goes between rows whose `block` differs. */
export const table = (
  columns: ReadonlyArray<Column>,
  rows: ReadonlyArray<{ readonly block: string; readonly cells: ReadonlyArray<string> }>
): string => {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => r.cells[i]?.length ?? 0)))
  const line = (values: ReadonlyArray<string>) =>
    values.map((v, i) => columns[i]?.right === true ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)).join("  ")
      .trimEnd()
  const out = [line(columns.map((c) => c.header)), line(widths.map((w) => "-".repeat(w)))]
  rows.forEach((r, i) => {
    if (i > 0 && r.block !== rows[i - 1]!.block) out.push("")
    out.push(line(r.cells))
  })
  return out.join("\n")
}

/** Writes a CSV file (header and rows; cells with commas or quotes are quoted); returns its path. */
export const writeCsv = (
  file: string,
  header: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string | number>>
): string => {
  const cell = (v: string | number) => /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, "\"\"")}"` : String(v)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, [header, ...rows].map((r) => r.map(cell).join(",")).join("\n") + "\n")
  return file
}

/** Writes `<name>.json` with the run's metadata (git-ignored, like `latest.json`); returns its path. */
export const writeMeta = (dir: string, name: string, meta: Record<string, unknown>): string => {
  const file = path.join(dir, `${name}.json`)
  fs.writeFileSync(file, JSON.stringify(meta, null, 2) + "\n")
  return file
}

/** A section's CSV: its header and its rows. */
export interface Csv {
  readonly header: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string | number>>
}

/** Writes a section's `<name>.csv`, its metadata `<name>.json` and what `draw` draws (its chart); returns the paths. */
export const writeResults = (
  dir: string,
  name: string,
  meta: Record<string, unknown>,
  csv: Csv,
  draw: (meta: Record<string, unknown>) => Array<string>
): Array<string> => [
  writeCsv(path.join(dir, `${name}.csv`), csv.header, csv.rows),
  writeMeta(dir, name, meta),
  ...draw(meta)
]

/** Draws a section's chart again from `<name>.csv` and `<name>.json` in `dir` (nothing without the CSV); returns the paths. */
export const redraw = (
  dir: string,
  name: string,
  draw: (csv: string, meta: Record<string, unknown>) => Array<string>
): Array<string> => {
  const csv = path.join(dir, `${name}.csv`)
  return fs.existsSync(csv) ? draw(csv, Chart.readMeta(path.join(dir, `${name}.json`))) : []
}

/** Writes a section's CSV, its metadata and its line chart; returns the paths. */
export const writeLine = (
  dir: string,
  meta: Record<string, unknown>,
  chart: LineChart.LineChart,
  csv: Csv,
  points: ReadonlyArray<LineChart.Point>
): Array<string> =>
  writeResults(dir, chart.name, meta, csv, (m) => LineChart.write(dir, chart, points, Chart.describe(m)))

/** Redraws a line chart from `<name>.csv` (columns `x` and `y`) and `<name>.json` in `dir`; returns the paths. */
export const redrawLine = (dir: string, chart: LineChart.LineChart, x: string, y: string): Array<string> =>
  redraw(
    dir,
    chart.name,
    (csv, meta) => LineChart.write(dir, chart, LineChart.readCsv(csv, x, y), Chart.describe(meta))
  )
