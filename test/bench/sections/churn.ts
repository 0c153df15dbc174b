/**
 * The churn section: a soak of short-lived unique keys, the workload that once grew a store without bound. For 60
 * seconds (12 with `--quick`) it writes 20 000 fresh keys a second (64-byte values, a ttl of 50 ms), paced in 10 ms
 * steps on the real clock, into a MemoryStore and then into a SqliteStore on a fresh file, each with its default
 * sweeper. Every second it samples what the store occupies: for MemoryStore the heap used after a full garbage
 * collection (`gc`, exposed at run time through `v8.setFlagsFromString`) and the expired entries it still holds
 * (`check().expiredPending`); for SqliteStore the database file plus its write-ahead log, and the rows of its table.
 * A store passes when what it occupies is flat once the churn is under way: the median of the last sixth of the
 * samples (seconds 51-60) is at most 10% (or 2 MiB, whichever is more) above the median of the second tenth to the
 * first quarter (seconds 7-15). Writes `churn.csv` (every sample) and the line chart `churn.svg`.
 */
import Database from "better-sqlite3"
import * as MemoryStore from "effect-kv/MemoryStore"
import * as SqliteStore from "effect-kv/SqliteStore"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { FLOOR, OURS } from "../chart.js"
import type * as LineChart from "../lineChart.js"
import type { Section } from "./section.js"
import { fixed, int, measured, median, redrawLine, selected, table, writeLine } from "./section.js"

const SECONDS = 60
const RATE = 20_000
const STEP_MS = 10
const TTL = "50 millis"
const VALUE = Buffer.alloc(64, 7)
const MIB = 1 << 20

/** A full garbage collection, when this process can run one. */
const gc: (() => void) | undefined = (() => {
  const exposed = (globalThis as { readonly gc?: unknown }).gc
  if (typeof exposed === "function") return exposed as () => void
  try {
    v8.setFlagsFromString("--expose-gc")
    const found: unknown = vm.runInNewContext("gc")
    return typeof found === "function" ? found as () => void : undefined
  } catch {
    return undefined
  }
})()

/** One sample: `bytes` the store occupies, `held` what it still holds (expired entries or rows), writes so far. */
interface Sample {
  readonly target: string
  readonly second: number
  readonly bytes: number
  readonly held: number
  readonly writes: number
}

interface Target {
  readonly name: string
  /** What `bytes` measures, for the table and the chart. */
  readonly measure: string
  /** What `held` counts. */
  readonly held: string
  readonly panel: string
  readonly color: string
}

const MEMORY: Target = {
  name: "MemoryStore",
  measure: "heap used after GC",
  held: "expired entries held",
  panel: "heap",
  color: OURS
}
const SQLITE: Target = {
  name: "SqliteStore",
  measure: "database + WAL",
  held: "rows",
  panel: "file",
  color: FLOOR
}
const TARGETS = [MEMORY, SQLITE]

/**
 * Writes 20 000 fresh keys a second through `set` for `seconds`, calling `sample` after every second with the
 * second and the writes so far.
 */
const churn = (
  set: (key: string) => Effect.Effect<void, unknown>,
  seconds: number,
  sample: (second: number, writes: number) => Effect.Effect<void, unknown>
) =>
  Effect.gen(function*() {
    const perStep = RATE * STEP_MS / 1000
    const started = performance.now()
    let writes = 0
    for (let step = 0, second = 1; second <= seconds; step++) {
      const wait = started + step * STEP_MS - performance.now()
      if (wait > 0) yield* Effect.sleep(wait)
      for (let i = 0; i < perStep; i++) yield* set(`churn:${writes++}`)
      if (performance.now() - started >= second * 1000) yield* sample(second++, writes)
    }
  })

const memory = (seconds: number) =>
  measured("churn MemoryStore", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const samples: Array<Sample> = []
      yield* churn((key) => store.set(key, VALUE, { ttl: TTL }), seconds, (second, writes) =>
        Effect.gen(function*() {
          const held = (yield* store.check()).expiredPending
          gc?.()
          samples.push({ target: MEMORY.name, second, bytes: v8.getHeapStatistics().used_heap_size, held, writes })
        }))
      return samples
    }))

const sqlite = (seconds: number) =>
  measured("churn SqliteStore", (dir) =>
    Effect.gen(function*() {
      const filename = path.join(dir, "kv.db")
      const store = yield* SqliteStore.make({ filename })
      const raw = yield* Effect.acquireRelease(
        Effect.sync(() => new Database(filename, { readonly: true })),
        (db) => Effect.sync(() => db.close())
      )
      const rows = raw.prepare("SELECT COUNT(*) FROM effect_kv").pluck()
      const size = (file: string) => fs.existsSync(file) ? fs.statSync(file).size : 0
      const samples: Array<Sample> = []
      yield* churn((key) => store.set(key, VALUE, { ttl: TTL }), seconds, (second, writes) =>
        Effect.sync(() => {
          const bytes = size(filename) + size(`${filename}-wal`)
          samples.push({ target: SQLITE.name, second, bytes, held: rows.get() as number, writes })
        }))
      return samples
    }))

/** The seconds compared for flatness in a run of `seconds`: early (once under way) and late (the end). */
const windows = (seconds: number) => ({
  early: [Math.round(seconds / 10) + 1, Math.round(seconds / 4)] as const,
  late: [seconds - Math.max(1, Math.round(seconds / 6)) + 1, seconds] as const
})

/** Whether a target's samples are flat once the churn is under way, and the two medians compared. */
interface Verdict {
  readonly target: Target
  readonly early: number
  readonly late: number
  readonly flat: boolean
}

const verdict = (target: Target, samples: ReadonlyArray<Sample>, seconds: number): Verdict => {
  const { early: [a, b], late: [c, d] } = windows(seconds)
  const within = (lo: number, hi: number) =>
    samples.filter((s) => s.target === target.name && s.second >= lo && s.second <= hi).map((s) => s.bytes)
  const early = median(within(a, b))
  const late = median(within(c, d))
  return { target, early, late, flat: late <= Math.max(early * 1.1, early + 2 * MIB) }
}

const mib = (bytes: number): string => fixed(bytes / MIB, 1)

const report = (samples: ReadonlyArray<Sample>, verdicts: ReadonlyArray<Verdict>, seconds: number): string => {
  const shown = Array.from({ length: seconds }, (_, i) => i + 1).filter((s) => s <= 5 || s % 5 === 0)
  const at = (target: Target, second: number) => samples.find((s) => s.target === target.name && s.second === second)
  const measured = TARGETS.filter((t) => samples.some((s) => s.target === t.name))
  const rows = table(
    [
      { header: "second", right: true },
      ...measured.flatMap((t) => [
        { header: `${t.name} MiB (${t.measure})`, right: true },
        { header: t.held, right: true },
        { header: "writes/s", right: true }
      ])
    ],
    shown.map((second) => ({
      block: "",
      cells: [
        String(second),
        ...measured.flatMap((t) => {
          const s = at(t, second)
          const before = at(t, second - 1)
          return s === undefined
            ? ["-", "-", "-"]
            : [mib(s.bytes), int(s.held), int(s.writes - (before?.writes ?? 0))]
        })
      ]
    }))
  )
  const { early, late } = windows(seconds)
  const lines = verdicts.map((v) =>
    `${v.target.name} ${v.target.measure}: ${mib(v.early)} MiB (median of seconds ${early.join("-")}), ${
      mib(v.late)
    } MiB (median of seconds ${late.join("-")}): ${v.flat ? "flat (PASS)" : "growing (FAIL)"}`
  )
  return [
    rows,
    "",
    ...lines,
    "",
    `${int(RATE)} fresh keys a second (64-byte values, ttl 50 ms) for ${seconds} s, paced in ${STEP_MS} ms steps,`,
    `default sweeper; sampled every second. Flat: the median of seconds ${late.join("-")} at most 10% (or 2 MiB) above`,
    `that of seconds ${early.join("-")}. Heap after a full GC${
      gc === undefined ? " (not available: heap as found)" : ""
    }.`
  ].join("\n")
}

const CHART: LineChart.LineChart = {
  name: "churn",
  title: "Churn soak: 20 000 short-lived unique keys a second",
  subtitle: "What the store occupies, sampled every second: 64-byte values, ttl 50 ms, default sweeper",
  lines: TARGETS.map((t) => ({ target: t.name, label: `${t.name} (${t.measure})`, color: t.color })),
  panels: TARGETS.map((t) => ({ workload: t.panel, title: `${t.name}: ${t.measure}` })),
  xLabel: (x) => `${x}s`,
  xTitle: "seconds of churn",
  yTitle: "MiB, log scale (flat is right)",
  yLabel: (y) => fixed(y, y >= 10 ? 0 : 1),
  linearX: true,
  xTicks: [1, 10, 20, 30, 40, 50, 60],
  labelled: (p) => p.x === 1 || p.x % 10 === 0
}

/** The churn section. */
export const section: Section = {
  name: "churn",
  redraw: (dir) => redrawLine(dir, CHART, "second", "mib"),
  run: (o) =>
    Effect.gen(function*() {
      const seconds = Math.max(2, Math.round(SECONDS * o.scale))
      const samples: Array<Sample> = []
      if (selected(o.only, MEMORY.name)) samples.push(...yield* memory(seconds))
      if (selected(o.only, SQLITE.name)) samples.push(...yield* sqlite(seconds))
      const verdicts = TARGETS.filter((t) => samples.some((s) => s.target === t.name)).map((t) =>
        verdict(t, samples, seconds)
      )
      const panel = (target: string) => TARGETS.find((t) => t.name === target)!.panel
      return {
        text: report(samples, verdicts, seconds),
        write: (dir, meta) =>
          writeLine(
            dir,
            {
              ...meta,
              soakSeconds: seconds,
              rate: RATE,
              ttl: TTL,
              gc: gc !== undefined,
              flat: Object.fromEntries(verdicts.map((v) => [v.target.name, v.flat]))
            },
            CHART,
            {
              header: ["workload", "target", "second", "mib", "held", "writes"],
              rows: samples.map((s) => [panel(s.target), s.target, s.second, fixed(s.bytes / MIB, 3), s.held, s.writes])
            },
            samples.map((s) => ({ target: s.target, workload: panel(s.target), x: s.second, y: s.bytes / MIB }))
          )
      }
    })
}
