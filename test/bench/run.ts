/**
 * `npm run bench`: SqliteStore against raw better-sqlite3 (same table, pragmas and statements) and Keyv +
 * `@keyv/sqlite` (as shipped and with WAL), and MemoryStore against a bare `Map`, on 256-byte values at 10K and 100K
 * prefilled entries. Workloads: random `get` hits, single `set` of fresh keys, `setMany` of 1000 fresh entries. The
 * whole bench is one Effect program run once; all targets of a size are open together and measured in interleaved
 * trials. Prints a table with ops/s, p50/p99 latency, the ratio to the floor and PASS/MISS against the goals, and
 * writes `test/bench/results/{sqlite,memory}.csv` (+ `latest.json`) and the bar charts `{sqlite,memory}.svg`. Not part
 * of `npm test`.
 *
 * Flags: `--only=SqliteStore,better-sqlite3` (targets), `--workloads=get,set`, `--sizes=10000` and `--quick` (a fifth
 * of the budgets); a filtered or quick run prints its table but leaves the result files alone.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Chart from "./chart.js"
import type { Fixture, Plan, Workload } from "./harness.js"
import { fixture } from "./harness.js"
import * as Report from "./report.js"
import * as Session from "./session.js"
import * as Keyv from "./targets/keyv.js"
import * as Memory from "./targets/memory.js"
import * as Raw from "./targets/raw.js"
import * as Sqlite from "./targets/sqliteStore.js"

const TRIALS = 5

// Per trial: enough operations for stable percentiles, capped by time so slow targets (Keyv) finish.
const plans = (scale: number): Record<Workload, Plan> => {
  const budget = (maxOps: number, budgetMs: number) => ({ maxOps, budgetMs: budgetMs * scale })
  return {
    get: { warmup: budget(20_000, 300), trial: budget(100_000, 400) },
    set: { warmup: budget(5_000, 300), trial: budget(50_000, 400) },
    setMany: { warmup: budget(3, 500), trial: budget(50, 500) }
  }
}

type Open = (dir: string, fx: Fixture) => Effect.Effect<Session.Subject, unknown, Scope.Scope>

const TARGETS: ReadonlyArray<readonly [name: string, open: Open]> = [
  ["better-sqlite3", Raw.subject],
  ["SqliteStore", Sqlite.subject],
  ["keyv", (dir, fx) => Keyv.subject(dir, "shipped", fx)],
  ["keyv+WAL", (dir, fx) => Keyv.subject(dir, "wal", fx)],
  ["Map", (_, fx) => Memory.map(fx)],
  ["Effect.sync(Map)", (_, fx) => Memory.effectMap(fx)],
  ["MemoryStore", (_, fx) => Memory.memoryStore(fx)]
]

interface Args {
  readonly only: ReadonlyArray<string> | undefined
  readonly workloads: ReadonlyArray<string> | undefined
  readonly sizes: ReadonlyArray<number>
  readonly quick: boolean
  readonly partial: boolean
}

const args = (argv: ReadonlyArray<string>): Args => {
  const flag = (name: string) => argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3)
  const only = flag("only")?.split(",")
  const workloads = flag("workloads")?.split(",")
  const sizes = flag("sizes")?.split(",").map(Number)
  const quick = argv.includes("--quick")
  return {
    only,
    workloads,
    sizes: sizes ?? [10_000, 100_000],
    quick,
    partial: quick || only !== undefined || workloads !== undefined || sizes !== undefined
  }
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-bench-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const restrict = (subject: Session.Subject, workloads: ReadonlyArray<string> | undefined): Session.Subject =>
  workloads === undefined ? subject : { ...subject, workloads: subject.workloads.filter((w) => workloads.includes(w)) }

// Opens every selected target on a fresh directory, then measures them together.
const runSize = (size: number, a: Args, notes: Record<string, unknown>) =>
  Effect.scoped(Effect.gen(function*() {
    const started = performance.now()
    const fx = fixture(size, plans(a.quick ? 0.2 : 1))
    const dir = yield* tempDir
    const subjects: Array<Session.Subject> = []
    for (const [name, open] of TARGETS) {
      if (a.only !== undefined && !a.only.includes(name)) continue
      const subject = restrict(yield* open(dir, fx), a.workloads)
      if (subject.notes !== undefined) notes[`${name} (${size})`] = subject.notes
      subjects.push(subject)
    }
    console.log(`${size.toLocaleString("en-US")} entries: opened and prefilled in ${seconds(started)}s`)
    const results = yield* Session.run(subjects, fx, TRIALS)
    console.log(`${size.toLocaleString("en-US")} entries: measured in ${seconds(started)}s`)
    return results
  }))

const seconds = (since: number): string => ((performance.now() - since) / 1000).toFixed(1)

const write = (rows: ReadonlyArray<Report.Row>, meta: Record<string, unknown>) => {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "results")
  const files = [...Report.write(dir, rows, meta), ...Chart.write(dir, rows, meta)]
  for (const file of files) console.log(`wrote ${path.relative(process.cwd(), file)}`)
}

const main = Effect.gen(function*() {
  const started = performance.now()
  const loadBefore = Report.load()
  const a = args(process.argv.slice(2))
  const notes: Record<string, unknown> = {}
  const results = (yield* Effect.forEach(a.sizes, (size) => runSize(size, a, notes))).flat()
  const rows = Report.rows(results)
  const loadAfter = Report.load()
  console.log(`\n${Report.table(rows)}\n\n${Report.LEGEND}\n`)
  console.log(`keyv files: ${JSON.stringify(notes)}`)
  console.log(`load per core (1-minute average): ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`)
  if (Math.max(loadBefore, loadAfter) > 0.5) console.log("warning: the machine was busy; absolute figures are low")
  console.log(`bench time: ${seconds(started)}s`)
  if (a.partial) return console.log("partial run: result files left alone")
  write(rows, {
    date: new Date().toISOString(),
    seconds: Number(seconds(started)),
    trials: TRIALS,
    loadPerCore: { before: loadBefore, after: loadAfter },
    ...Report.environment(),
    pragmas: [...Raw.PRAGMAS, `busy_timeout = ${Raw.BUSY_TIMEOUT_MS}`],
    notes
  })
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
