/**
 * What the redis and postgres sections share: they run the core section's workloads (random `get` hits, `set` of
 * fresh keys, `setMany` of 1000) on 256-byte values at 10K prefilled entries (or `--sizes`) against a server on
 * loopback, with the core section's interleaved trials (`session.ts`) and report (`report.ts`: ratio to the floor,
 * goals, and the rival checks). Before anything else the section checks that its server answers, so a missing server
 * fails it at once with a message naming the server, and each target works under names of this run alone (a key
 * prefix, a table), which it deletes when it closes. Writes `<name>.csv` (the core CSV columns), `<name>.json` (the
 * run, git-ignored) and the bar chart `<name>.svg`.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Chart from "../chart.js"
import type { Fixture, Plan, Workload } from "../harness.js"
import { fixture } from "../harness.js"
import * as Report from "../report.js"
import * as Servers from "../servers.js"
import * as Session from "../session.js"
import type { Options, Section } from "./section.js"
import { redraw, seconds, selected, writeMeta } from "./section.js"

const TRIALS = 5

const SIZES: ReadonlyArray<number> = [10_000]

// Per trial: every operation is a round trip, so the time budgets decide how many run.
const plans = (scale: number): Record<Workload, Plan> => {
  const budget = (maxOps: number, budgetMs: number) => ({ maxOps, budgetMs: budgetMs * scale })
  return {
    get: { warmup: budget(20_000, 300), trial: budget(100_000, 400) },
    set: { warmup: budget(5_000, 300), trial: budget(50_000, 400) },
    setMany: { warmup: budget(3, 500), trial: budget(50, 500) },
    getMany: { warmup: budget(3, 500), trial: budget(100, 500) }
  }
}

/** A target of a server section: its name (as `--only` selects it) and how to open and prefill it. */
export interface Target {
  readonly name: string
  /** Opens the target for the scope under names that start with `base` (unique to the run), and prefills it. */
  readonly open: (base: string, fx: Fixture) => Effect.Effect<Session.Subject, unknown, Scope.Scope>
}

/** A server section: its name (also its group, CSV, JSON and chart), its server, targets and chart. */
export interface Spec {
  readonly name: "redis" | "postgres"
  readonly server: Servers.Server
  /** A plain identifier of at most 12 characters, the start of this run's unique names. */
  readonly base: string
  /** Acquired before the targets and released after them, e.g. the cleanup of a key prefix. */
  readonly setup: (base: string) => Effect.Effect<void, unknown, Scope.Scope>
  readonly targets: ReadonlyArray<Target>
  readonly chart: Omit<Chart.Chart, "name" | "workloads" | "notes">
  /** The chart's rows (default get, set, setMany); a target runs the workloads its subject lists. */
  readonly workloads?: ReadonlyArray<Workload> | undefined
  /** What the report says under its table about how the targets were measured. */
  readonly legend: string
}

const restrict = (subject: Session.Subject, workloads: ReadonlyArray<string> | undefined): Session.Subject =>
  workloads === undefined ? subject : { ...subject, workloads: subject.workloads.filter((w) => workloads.includes(w)) }

const runSize = (spec: Spec, size: number, o: Options) =>
  Effect.scoped(Effect.gen(function*() {
    const started = performance.now()
    const fx = fixture(size, plans(o.scale))
    const base = Servers.uniqueName(spec.base)
    yield* spec.setup(base)
    const subjects: Array<Session.Subject> = []
    for (const target of spec.targets) {
      if (!selected(o.only, target.name)) continue
      subjects.push(restrict(yield* target.open(base, fx), o.workloads))
    }
    console.log(`${size.toLocaleString("en-US")} entries: opened and prefilled in ${seconds(started)}s`)
    const results = yield* Session.run(subjects, fx, TRIALS)
    console.log(`${size.toLocaleString("en-US")} entries: measured in ${seconds(started)}s`)
    return results
  }))

const chartOf = (spec: Spec): Chart.Chart => ({
  ...spec.chart,
  name: spec.name,
  workloads: spec.workloads ?? ["get", "set", "setMany"],
  notes: Chart.WORKLOAD_NOTES
})

/** The section of a spec. */
export const section = (spec: Spec): Section => ({
  name: spec.name,
  redraw: (dir) =>
    redraw(dir, spec.name, (csv, meta) => Chart.writeChart(dir, chartOf(spec), Chart.readCsv(csv), meta)),
  run: (o) =>
    Effect.gen(function*() {
      if (!spec.targets.some((t) => selected(o.only, t.name))) {
        const names = spec.targets.map((t) => t.name).join(", ")
        return { text: `--only selects none of this section's targets (${names})`, write: () => [] }
      }
      yield* Servers.reachable(spec.server)
      const results = (yield* Effect.forEach(o.sizes ?? SIZES, (size) => runSize(spec, size, o))).flat()
      const rows = Report.rows(results).filter((r) => r.group === spec.name)
      const rivals = Report.rivalries(results)
      const rivalText = Report.rivalText(rivals)
      return {
        text: [
          Report.table(rows),
          ...(rivalText === "" ? [] : [rivalText]),
          `${spec.legend}\n${Report.LEGEND}`,
          `server: ${Servers.shown(spec.server)}`
        ].join("\n\n"),
        write: (dir, meta) => {
          const all = { ...meta, trials: TRIALS, server: Servers.shown(spec.server), rivals }
          return [
            ...Report.writeCsvs(dir, rows),
            writeMeta(dir, spec.name, { ...all, rows }),
            ...Chart.writeChart(dir, chartOf(spec), rows, all)
          ]
        }
      }
    })
})
