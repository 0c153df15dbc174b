/**
 * The core section: SqliteStore against raw better-sqlite3 (same table, pragmas and statements), the plainest key/value
 * table on the same engine and pragmas (`sqlite kv`: `WITHOUT ROWID`, key and value only; the rival lines), and Keyv +
 * `@keyv/sqlite` (as shipped and with WAL), and MemoryStore against a bare `Map`, on 256-byte values at 10K and 100K
 * prefilled entries. Workloads: random `get` hits, single `set` of fresh keys, `setMany` of 1000 fresh entries. All
 * targets of a size are open together and measured in interleaved trials (`session.ts`); the report (`report.ts`)
 * gives ops/s, p50/p99 latency, the ratio to the floor and PASS/MISS against the goals, written as
 * `{sqlite,memory}.csv` (+ `latest.json`) and the bar charts `{sqlite,memory}.svg` (`chart.ts`).
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Chart from "../chart.js"
import type { Fixture, Plan, Workload } from "../harness.js"
import { fixture } from "../harness.js"
import * as Report from "../report.js"
import * as Session from "../session.js"
import * as Keyv from "../targets/keyv.js"
import * as Memory from "../targets/memory.js"
import * as Raw from "../targets/raw.js"
import * as Sqlite from "../targets/sqliteStore.js"
import type { Options, Section } from "./section.js"
import { seconds, selected, tempDir } from "./section.js"

const TRIALS = 5

const SIZES: ReadonlyArray<number> = [10_000, 100_000]

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
  [Raw.KV_NAME, Raw.kvSubject],
  ["keyv", (dir, fx) => Keyv.subject(dir, "shipped", fx)],
  ["keyv+WAL", (dir, fx) => Keyv.subject(dir, "wal", fx)],
  ["Map", (_, fx) => Memory.map(fx)],
  ["Effect.sync(Map)", (_, fx) => Memory.effectMap(fx)],
  ["MemoryStore", (_, fx) => Memory.memoryStore(fx)]
]

const restrict = (subject: Session.Subject, workloads: ReadonlyArray<string> | undefined): Session.Subject =>
  workloads === undefined ? subject : { ...subject, workloads: subject.workloads.filter((w) => workloads.includes(w)) }

// Opens every selected target on a fresh directory, then measures them together.
const runSize = (size: number, o: Options, notes: Record<string, unknown>) =>
  Effect.scoped(Effect.gen(function*() {
    const started = performance.now()
    const fx = fixture(size, plans(o.scale))
    const dir = yield* tempDir
    const subjects: Array<Session.Subject> = []
    for (const [name, open] of TARGETS) {
      if (!selected(o.only, name)) continue
      const subject = restrict(yield* open(dir, fx), o.workloads)
      if (subject.notes !== undefined) notes[`${name} (${size})`] = subject.notes
      subjects.push(subject)
    }
    console.log(`${size.toLocaleString("en-US")} entries: opened and prefilled in ${seconds(started)}s`)
    const results = yield* Session.run(subjects, fx, TRIALS)
    console.log(`${size.toLocaleString("en-US")} entries: measured in ${seconds(started)}s`)
    return results
  }))

/** The core section. */
export const section: Section = {
  name: "core",
  redraw: Chart.redraw,
  run: (o) =>
    Effect.gen(function*() {
      const notes: Record<string, unknown> = {}
      const results = (yield* Effect.forEach(o.sizes ?? SIZES, (size) => runSize(size, o, notes))).flat()
      const rows = Report.rows(results)
      return {
        text: `${Report.table(rows)}\n\n${Report.rivalText(Report.rivalries(results))}\n\n${Report.LEGEND}\n\n` +
          `keyv files: ${JSON.stringify(notes)}`,
        write: (dir, meta) => {
          const all = {
            ...meta,
            trials: TRIALS,
            pragmas: [...Raw.PRAGMAS, `busy_timeout = ${Raw.BUSY_TIMEOUT_MS}`],
            notes
          }
          return [...Report.write(dir, rows, all), ...Chart.write(dir, rows, all)]
        }
      }
    })
}
