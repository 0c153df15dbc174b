/**
 * Turns trials into the report: each target's median trial (by throughput) gives its throughput and latencies, and its
 * ratio to the
 * floor (raw better-sqlite3 for the SQLite stores, a bare `Map` for MemoryStore, raw ioredis for RedisStore and Keyv
 * on Redis, raw `pg` for PostgresStore) is the median over trials of the paired per-trial ratios, which cancels most
 * noise from other processes. Rows are checked against the goals of DESIGN.md §11 (PASS/MISS), and a target against a
 * rival other than its floor (RedisStore against Keyv) on a line of its own; rows are printed as a table and written
 * to `test/bench/results/` as CSV (one file per group, stable names, overwritten each run) plus a JSON file with the
 * run's environment (git-ignored).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Workload } from "./harness.js"
import type { Group, Result } from "./session.js"

/** One target and workload at one size, compared with its floor and its goal. */
export interface Row {
  readonly group: Group
  readonly size: number
  readonly target: string
  readonly workload: Workload
  /** Entries and latency samples over all trials. */
  readonly entries: number
  readonly samples: number
  /** Wall-clock throughput of each trial; the median is `opsPerSec`. */
  readonly trials: ReadonlyArray<number>
  readonly opsPerSec: number
  /** Median throughput per second of this process's CPU time. */
  readonly cpuOpsPerSec: number
  /** Latency per entry in the median trial, microseconds. */
  readonly p50Us: number
  readonly p99Us: number
  readonly floor: string
  /** Median over trials of this target's throughput over the floor's in the same trial (1 for the floor). */
  readonly ratio: number
  /** The same by CPU time. */
  readonly cpuRatio: number
  readonly goal: string
  /** By wall-clock figures; a trailing `*` when CPU-time figures give the other verdict (a noisy machine). */
  readonly verdict: "PASS" | "MISS" | "PASS*" | "MISS*" | ""
}

/** The floor target of each group. */
export const FLOORS: Record<Group, string> = {
  sqlite: "better-sqlite3",
  memory: "Map",
  redis: "ioredis",
  postgres: "pg"
}

interface Goal {
  readonly target: string
  readonly workloads: ReadonlyArray<Workload>
  readonly label: string
  readonly met: (opsPerSec: number, ratio: number) => boolean
}

const GOALS: ReadonlyArray<Goal> = [
  { target: "SqliteStore", workloads: ["get"], label: "within 2x of raw", met: (_, ratio) => ratio >= 1 / 2 },
  {
    target: "SqliteStore",
    workloads: ["set", "setMany"],
    label: "within 1.5x of raw",
    met: (_, ratio) => ratio >= 1 / 1.5
  },
  {
    target: "MemoryStore",
    workloads: ["get", "set"],
    label: ">= 500K ops/s",
    met: (opsPerSec) => opsPerSec >= 500_000
  },
  { target: "RedisStore", workloads: ["get"], label: ">= 0.8x of GET", met: (_, ratio) => ratio >= 0.8 },
  {
    target: "RedisStore",
    workloads: ["set", "getMany", "setMany"],
    label: ">= 0.77x of SET/MGET/pipelined SETs",
    met: (_, ratio) => ratio >= 0.77
  },
  {
    target: "PostgresStore",
    workloads: ["get", "set"],
    label: ">= 0.7x of raw",
    met: (_, ratio) => ratio >= 0.7
  }
]

/** A goal of a target against another target of its group than the floor: a paired ratio of at least `atLeast`. */
interface Rival {
  readonly group: Group
  readonly target: string
  readonly rival: string
  readonly workloads: ReadonlyArray<Workload>
  readonly atLeast: number
  readonly label: string
}

const RIVALS: ReadonlyArray<Rival> = [
  // Issue 14: SqliteStore against the plainest key/value table on the same engine and pragmas (`targets/raw.ts`).
  {
    group: "sqlite",
    target: "SqliteStore",
    rival: "sqlite kv",
    workloads: ["set"],
    atLeast: 0.8,
    label: "at least 0.8x of a plain WITHOUT ROWID table"
  },
  {
    group: "sqlite",
    target: "SqliteStore",
    rival: "sqlite kv",
    workloads: ["get"],
    atLeast: 0.85,
    label: "at least 0.85x of a plain WITHOUT ROWID table"
  },
  ...(["keyv", "bentocache", "unstorage"] as const).map((rival): Rival => ({
    group: "redis",
    target: "RedisStore",
    rival,
    workloads: ["get", "set", "getMany", "setMany"],
    atLeast: 1,
    label: `at least as fast as ${rival}`
  })),
  {
    group: "postgres",
    target: "PostgresStore",
    rival: "pg (plain table)",
    workloads: ["get", "set", "setMany"],
    atLeast: 0.7,
    label: ">= 0.7x of raw pg on a plain key/value table"
  }
]

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length === 0 ? Number.NaN : sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const pairedRatio = (mine: Result, base: Result | undefined, metric: "opsPerSec" | "cpuOpsPerSec"): number =>
  base === undefined ? Number.NaN : median(mine.trials.map((m, k) => m[metric] / (base.trials[k]?.[metric] ?? NaN)))

/**
 * Groups whose targets do their work on a server: this process's CPU time leaves the server's work out, so it cannot
 * say whether a verdict was decided by machine noise, and their verdicts go by the wall clock alone (no `*`).
 */
const SERVER_GROUPS: ReadonlySet<Group> = new Set(["redis", "postgres"])

const mark = (group: Group, wall: boolean, cpu: boolean): Row["verdict"] =>
  `${wall ? "PASS" : "MISS"}${wall === cpu || SERVER_GROUPS.has(group) ? "" : "*"}`

const verdict = (goal: Goal | undefined, row: Omit<Row, "verdict">): Row["verdict"] =>
  goal === undefined
    ? ""
    : mark(row.group, goal.met(row.opsPerSec, row.ratio), goal.met(row.cpuOpsPerSec, row.cpuRatio))

const compare = (result: Result, all: ReadonlyArray<Result>): Row => {
  const floor = FLOORS[result.group]
  const base = all.find((r) =>
    r.target === floor && r.size === result.size && r.workload === result.workload && r.group === result.group
  )
  // The trial of median throughput (the upper middle of an even count): a figure a rerun reproduces, where the fastest
  // trial is the one the machine's noise spared most.
  const typical = [...result.trials].sort((a, b) => a.opsPerSec - b.opsPerSec)[result.trials.length >> 1]!
  const goal = GOALS.find((g) => g.target === result.target && g.workloads.includes(result.workload))
  const row = {
    group: result.group,
    size: result.size,
    target: result.target,
    workload: result.workload,
    entries: result.trials.reduce((n, m) => n + m.entries, 0),
    samples: result.trials.reduce((n, m) => n + m.samples, 0),
    trials: result.trials.map((m) => m.opsPerSec),
    opsPerSec: typical.opsPerSec,
    cpuOpsPerSec: median(result.trials.map((m) => m.cpuOpsPerSec)),
    p50Us: typical.p50Us,
    p99Us: typical.p99Us,
    floor,
    ratio: pairedRatio(result, base, "opsPerSec"),
    cpuRatio: pairedRatio(result, base, "cpuOpsPerSec"),
    goal: goal?.label ?? ""
  }
  return { ...row, verdict: verdict(goal, row) }
}

/** Compares every result with its floor and goal. */
export const rows = (results: ReadonlyArray<Result>): Array<Row> => results.map((r) => compare(r, results))

const WORKLOAD_ORDER: ReadonlyArray<Workload> = ["get", "set", "setMany"]

const sorted = (all: ReadonlyArray<Row>): Array<Row> =>
  [...all].sort((a, b) =>
    a.group.localeCompare(b.group) || a.size - b.size ||
    WORKLOAD_ORDER.indexOf(a.workload) - WORKLOAD_ORDER.indexOf(b.workload)
  )

const sizeLabel = (n: number): string => n >= 1000 ? `${n / 1000}K` : String(n)
const int = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "-"
const fixed = (n: number, digits: number): string => Number.isFinite(n) ? n.toFixed(digits) : "-"
const label = (w: Workload): string => w === "setMany" ? "setMany(1000)" : w

const COLUMNS = [
  "size",
  "workload",
  "target",
  "ops/s",
  "spread",
  "p50 µs",
  "p99 µs",
  "vs floor",
  "cpu ops/s",
  "cpu vs floor",
  "goal",
  "verdict"
]
const RIGHT = new Set(["ops/s", "spread", "p50 µs", "p99 µs", "vs floor", "cpu ops/s", "cpu vs floor"])

/** How far the slowest trial fell below the fastest, in percent: a noise gauge. */
const spread = (r: Row): string => {
  const max = Math.max(...r.trials)
  return r.trials.length < 2 ? "-" : `${Math.round(100 * (max - Math.min(...r.trials)) / max)}%`
}

const cells = (r: Row): Array<string> => [
  sizeLabel(r.size),
  label(r.workload),
  r.target,
  int(r.opsPerSec),
  spread(r),
  fixed(r.p50Us, 2),
  fixed(r.p99Us, 2),
  `${fixed(r.ratio, 2)}x`,
  int(r.cpuOpsPerSec),
  `${fixed(r.cpuRatio, 2)}x`,
  r.goal,
  r.verdict
]

/** The rows as an aligned text table, one block per group. */
export const table = (all: ReadonlyArray<Row>): string => {
  const body = sorted(all).map(cells)
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...body.map((line) => line[i]!.length)))
  const line = (values: ReadonlyArray<string>) =>
    values.map((v, i) => RIGHT.has(COLUMNS[i]!) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)).join("  ").trimEnd()
  const out = [line(COLUMNS), line(widths.map((w) => "-".repeat(w)))]
  let previous = ""
  sorted(all).forEach((r, i) => {
    const block = `${r.group}/${r.size}/${r.workload}`
    if (previous !== "" && block !== previous) out.push("")
    previous = block
    out.push(line(body[i]!))
  })
  return out.join("\n")
}

const CSV_HEADER = [
  "size,workload,target,entries,samples,ops_per_sec,trial_ops_per_sec,p50_us,p99_us,floor,ratio_vs_floor",
  "cpu_ops_per_sec,cpu_ratio_vs_floor,goal,verdict"
].join(",")

const csvLine = (r: Row): string =>
  [
    r.size,
    r.workload,
    r.target,
    r.entries,
    r.samples,
    Math.round(r.opsPerSec),
    r.trials.map(Math.round).join(";"),
    r.p50Us.toFixed(3),
    r.p99Us.toFixed(3),
    r.floor,
    r.ratio.toFixed(3),
    Math.round(r.cpuOpsPerSec),
    r.cpuRatio.toFixed(3),
    r.goal,
    r.verdict
  ].map((v) => /[",]/.test(String(v)) ? `"${String(v).replace(/"/g, "\"\"")}"` : String(v)).join(",")

/** Writes `<group>.csv` for each group present; returns the paths. */
export const writeCsvs = (dir: string, all: ReadonlyArray<Row>): Array<string> => {
  fs.mkdirSync(dir, { recursive: true })
  const written: Array<string> = []
  for (const group of Object.keys(FLOORS) as Array<Group>) {
    const mine = sorted(all).filter((r) => r.group === group)
    if (mine.length === 0) continue
    const file = path.join(dir, `${group}.csv`)
    fs.writeFileSync(file, [CSV_HEADER, ...mine.map(csvLine)].join("\n") + "\n")
    written.push(file)
  }
  return written
}

/** Writes `<group>.csv` for each group present and `latest.json` with the environment; returns the paths. */
export const write = (dir: string, all: ReadonlyArray<Row>, meta: Record<string, unknown>): Array<string> => {
  const written = writeCsvs(dir, all)
  const json = path.join(dir, "latest.json")
  fs.writeFileSync(json, JSON.stringify({ ...meta, rows: sorted(all) }, null, 2) + "\n")
  written.push(json)
  return written
}

/** One check of a target against its rival at one size and workload. */
export interface Rivalry {
  readonly size: number
  readonly workload: Workload
  readonly target: string
  readonly rival: string
  /** Median over trials of the paired ratio of the target's throughput to the rival's. */
  readonly ratio: number
  readonly cpuRatio: number
  readonly goal: string
  readonly verdict: Row["verdict"]
}

/** The checks of every target against its rival (when both ran). */
export const rivalries = (results: ReadonlyArray<Result>): Array<Rivalry> =>
  RIVALS.flatMap((goal) =>
    results.filter((r) => r.group === goal.group && r.target === goal.target && goal.workloads.includes(r.workload))
      .flatMap((mine) => {
        const other = results.find((r) =>
          r.group === goal.group && r.target === goal.rival && r.size === mine.size && r.workload === mine.workload
        )
        if (other === undefined) return []
        const ratio = pairedRatio(mine, other, "opsPerSec")
        const cpuRatio = pairedRatio(mine, other, "cpuOpsPerSec")
        return [{
          size: mine.size,
          workload: mine.workload,
          target: mine.target,
          rival: goal.rival,
          ratio,
          cpuRatio,
          goal: goal.label,
          verdict: mark(goal.group, ratio >= goal.atLeast, cpuRatio >= goal.atLeast)
        }]
      })
  )

/** The rival checks as lines of text, one per target, size and rival (empty when there are none). */
export const rivalText = (all: ReadonlyArray<Rivalry>): string => {
  const lines = new Map<string, Array<string>>()
  for (const r of all) {
    const head = `${r.target} vs ${r.rival} at ${sizeLabel(r.size)} (goal: ${r.goal}):`
    const cell = `${label(r.workload)} ${fixed(r.ratio, 2)}x (cpu ${fixed(r.cpuRatio, 2)}x) ${r.verdict}`
    lines.set(head, [...(lines.get(head) ?? []), cell])
  }
  return [...lines].map(([head, cells]) => `${head} ${cells.join(", ")}`).join("\n")
}

/** The machine and runtime the numbers come from. */
export const environment = (): Record<string, unknown> => ({
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.cpus().length
})

/** The 1-minute load average over the core count: above 1, other processes competed for the CPU. */
export const load = (): number => os.loadavg()[0]! / os.cpus().length

/** The legend printed under the table. */
export const LEGEND = [
  "ops/s: median trial by wall clock (spread: how far the slowest trial fell below it); p50/p99: latency per entry",
  "in that trial (setMany: batch time / 1000). vs floor: median over trials of the paired ratio to the floor measured",
  "seconds apart in the same trial. cpu: the same per second of this process's CPU time, which other processes' load",
  "inflates less (it leaves out I/O waits, so it flatters Keyv's fsyncs). Verdicts use wall-clock figures; a * marks",
  "one that CPU-time figures reverse, i.e. one decided by machine noise."
].join("\n")
