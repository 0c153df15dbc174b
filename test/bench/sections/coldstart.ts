/**
 * The coldstart section: how long a fresh process takes to import a way of using a SQLite key-value store, open a new
 * file with it and read one key. The package is compiled file by file as it ships (`test/loading/fixtures/emit.ts`:
 * no bundling, so each process loads the module graph a user of `dist/` loads, run by plain `node`, no tsx), and each
 * probe (`test/loading/fixtures/probe.mjs`) runs in a process of its own:
 *
 * - `raw` (the floor): `effect/Effect` and raw better-sqlite3: a plain key/value table, WAL, one prepared `SELECT`,
 *   run inside an Effect;
 * - `root`: the package root `effect-kv`, `SqliteStore.make` and `get`;
 * - `subpath`: `effect-kv/SqliteStore` alone;
 * - `keyv`: Keyv with `@keyv/sqlite` (the peer a user would pick instead), when installed.
 *
 * A trial starts one process per probe, in reversed order on odd trials; its figure is the probe's time from its first
 * line to the read's answer (Node's own start-up, the same for every probe, left out; the table gives the time from
 * the process start too). The report gives the medians and the median over trials of each probe's ratio to the floor
 * of the same trial (the goal: `root` within 1.5x), and the modules each probe loads (one traced run apiece). Writes
 * `coldstart.csv` and the bar chart `coldstart.svg` (cold starts per second: longer is faster).
 */
import * as Effect from "effect/Effect"
import * as child_process from "node:child_process"
import { emit } from "../../loading/fixtures/emit.js"
import * as Chart from "../chart.js"
import type { Section } from "./section.js"
import { fixed, median, redraw, selected, table, tempDir, times, writeResults } from "./section.js"

const TRIALS = 10
const GOAL = 1.5

interface Variant {
  readonly name: string
  readonly label: string
}

const RAW: Variant = { name: "raw", label: "effect/Effect + raw better-sqlite3" }
const VARIANTS: ReadonlyArray<Variant> = [
  RAW,
  { name: "root", label: "effect-kv (package root)" },
  { name: "subpath", label: "effect-kv/SqliteStore" },
  { name: "keyv", label: "Keyv + @keyv/sqlite" }
]

interface Run {
  readonly ms: number
  readonly sinceStart: number
  readonly modules?: ReadonlyArray<string> | undefined
}

/** The URL of a package as this module resolves it (the bench's own `node_modules` first), or undefined. */
const resolved = (specifier: string): string | undefined => {
  try {
    return import.meta.resolve(specifier)
  } catch {
    return undefined
  }
}

const probe = (pkg: string, dir: string, variant: string, extra: ReadonlyArray<string>, trace: boolean): Run => {
  const args = [...(trace ? ["--import", "./probe/trace.mjs"] : []), "probe/probe.mjs", variant, dir, ...extra]
  const out = child_process.execFileSync(process.execPath, args, { cwd: pkg, encoding: "utf8", timeout: 120_000 })
  return JSON.parse(out.trim()) as Run
}

const packagesOf = (modules: ReadonlyArray<string>): number =>
  new Set(modules.flatMap((file) => {
    const match = /.*node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(file)
    return match?.[1] === undefined ? [] : [match[1]]
  })).size

const CHART: Chart.Chart = {
  name: "coldstart",
  title: "Cold start: import, open a new SQLite file, read one key",
  subtitle: "Fresh processes per second (1000 / median ms from the first line to the answer); longer is faster",
  series: [
    { target: "raw", label: RAW.label, color: Chart.FLOOR },
    { target: "root", label: "effect-kv (root)", color: Chart.OURS },
    { target: "subpath", label: "effect-kv/SqliteStore", color: "#60a5fa" },
    { target: "keyv", label: "Keyv + @keyv/sqlite", color: Chart.THIRD }
  ],
  workloads: ["coldstart"],
  notes: { coldstart: ["new file", "one get"] }
}

const COLUMN = "fresh node processes"

/** The coldstart section. */
export const section: Section = {
  name: "coldstart",
  redraw: (dir) =>
    redraw(dir, "coldstart", (csv, meta) => Chart.writeChart(dir, CHART, Chart.readCsv(csv, "column"), meta)),
  run: (o) =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const pkg = yield* Effect.promise(() => emit(dir))
      const keyv = [resolved("keyv"), resolved("@keyv/sqlite")]
      const keyvArgs = keyv.every((url) => url !== undefined) ? keyv as Array<string> : undefined
      const variants = VARIANTS.filter((v) => selected(o.only, v.name) && (v.name !== "keyv" || keyvArgs))
      if (!variants.includes(RAW)) return yield* Effect.fail(new Error("the coldstart section needs its floor, raw"))
      const args = (v: Variant) => v.name === "keyv" ? keyvArgs ?? [] : []
      const trials = Math.max(5, Math.round(TRIALS * o.scale))
      const runs = new Map(variants.map((v) => [v.name, [] as Array<Run>]))
      // One untimed run apiece first: the files are read from the disk once, not inside a trial.
      const traced = new Map(variants.map((v) => [v.name, probe(pkg, dir, v.name, args(v), true)]))
      for (let k = 0; k < trials; k++) {
        const order = k % 2 === 0 ? variants : [...variants].reverse()
        for (const v of order) runs.get(v.name)!.push(probe(pkg, dir, v.name, args(v), false))
      }
      const floor = runs.get(RAW.name)!
      const rows = variants.map((v) => {
        const mine = runs.get(v.name)!
        const modules = traced.get(v.name)?.modules ?? []
        return {
          ...v,
          ms: median(mine.map((r) => r.ms)),
          sinceStart: median(mine.map((r) => r.sinceStart)),
          trials: mine.map((r) => r.ms),
          ratio: median(mine.map((r, k) => r.ms / floor[k]!.ms)),
          ratioSinceStart: median(mine.map((r, k) => r.sinceStart / floor[k]!.sinceStart)),
          modules: modules.length,
          packages: packagesOf(modules)
        }
      })
      const body = table(
        [
          { header: "probe" },
          { header: "trials (ms)", right: true },
          { header: "median ms", right: true },
          { header: "vs raw", right: true },
          { header: "from process start", right: true },
          { header: "vs raw", right: true },
          { header: "modules", right: true },
          { header: "packages", right: true },
          { header: "goal" }
        ],
        rows.map((r) => ({
          block: "",
          cells: [
            r.label,
            r.trials.map((ms) => fixed(ms, 0)).join(" / "),
            fixed(r.ms, 0),
            times(r.ratio),
            fixed(r.sinceStart, 0),
            times(r.ratioSinceStart),
            String(r.modules),
            String(r.packages),
            r.name === "root" ? (r.ratio <= GOAL ? "PASS" : "MISS") + ` (<= ${GOAL}x)` : ""
          ]
        }))
      )
      return {
        text: [
          body,
          "",
          `${trials} trials, each a fresh node process per probe (reversed order on odd trials). ms: from the probe's`,
          "first line to the answer of its get (imports, open of a new file, the read); from process start: the same",
          "end, measured from Node's own start (its boot included). vs raw: the median over trials of the ratio to the",
          "raw floor of the same trial. modules / packages: files and packages one traced run loaded (ESM and",
          "CommonJS). The package is compiled file by file (esbuild, as dist/ ships), run by plain node."
        ].join("\n"),
        write: (out, meta) =>
          writeResults(
            out,
            "coldstart",
            { ...meta, trials },
            {
              header: [
                "size",
                "column",
                "workload",
                "target",
                "ops_per_sec",
                "median_ms",
                "trials_ms",
                "ratio_vs_raw",
                "median_ms_since_start",
                "ratio_vs_raw_since_start",
                "modules",
                "packages"
              ],
              rows: rows.map((r) => [
                1,
                COLUMN,
                "coldstart",
                r.name,
                (1000 / r.ms).toFixed(2),
                r.ms.toFixed(1),
                r.trials.map((ms) => ms.toFixed(1)).join(" "),
                r.ratio.toFixed(3),
                r.sinceStart.toFixed(1),
                r.ratioSinceStart.toFixed(3),
                r.modules,
                r.packages
              ])
            },
            (m) =>
              Chart.writeChart(
                out,
                CHART,
                rows.map((r) => ({
                  size: 1,
                  column: COLUMN,
                  workload: "coldstart",
                  target: r.name,
                  opsPerSec: 1000 / r.ms
                })),
                m
              )
          )
      }
    }))
}
