/**
 * The peers section: effect-kv beside the libraries a TypeScript user would pick instead, each driven as its users
 * drive it (`targets/peers.ts`), and beside the plainest way to do the job on the same engine (the floor), in three
 * classes measured one after the other, each in its own interleaved trials (every probe once per trial, probes of a
 * workload back to back, in reversed order on odd trials):
 * - embedded (files in a temporary directory): SqliteStore; the floor, a `WITHOUT ROWID` key/value table on raw
 *   better-sqlite3 with SqliteStore's pragmas; Keyv + `@keyv/sqlite` as shipped; unstorage's fs driver and its db0
 *   driver on db0's better-sqlite3 connector; `@effect/platform`'s `KeyValueStore.layerFileSystem` (when
 *   `@effect/platform-node` is installed for its `NodeFileSystem`; reported as skipped otherwise); lmdb itself (the
 *   embedded engine to beat); and `@effect/experimental`'s Persistence on lmdb (its `BackingPersistence`).
 * - memory: MemoryStore; the floor, a `Map` called directly; `@effect/platform`'s `KeyValueStore.layerMemory`;
 *   lru-cache; unstorage's memory driver; bentocache with its memory driver; `@effect/experimental`'s
 *   `Persistence.layerMemory`.
 * - redis (the server at `EFFECT_KV_REDIS_URL`, default `redis://127.0.0.1:6379`): RedisStore; the floor, ioredis
 *   `GET`, `SET`, one `MGET` and a pipeline of `SET`s on plain string keys; Keyv + `@keyv/redis`; bentocache with only
 *   its redis L2 driver; unstorage's redis driver; `@effect/experimental`'s Persistence on Redis. Every target keeps
 *   its keys under a prefix of this run's (`ekvpeers_<pid>_<hex>:`), deleted by `SCAN` + `UNLINK` when the class ends
 *   (never a flush: other runs share the server).
 * Each class is prefilled with 10K entries (or `--sizes`) of 256 bytes (a 256-character string for the libraries
 * that hold JS values), then measured on `get` of random prefilled keys (all hits), `set` of fresh keys (removed
 * again untimed), and `getMany`/`setMany` of 100 keys per call, counted per entry, on the targets with a batch API of
 * their own (the others show `-`). Figures: entries/s of the median trial, the paired ratio to the floor and the
 * paired ratio to effect-kv (the target's throughput over ours in the same trial, median over trials: above 1x the
 * target is faster). Writes `peers.csv`, the README's table `peers.md`, and the bar charts `peers-embedded.svg`,
 * `peers-memory.svg` and `peers-redis.svg`.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Chart from "../chart.js"
import * as Engine from "../drivers/engine.js"
import * as Servers from "../servers.js"
import * as Ioredis from "../targets/ioredis.js"
import type { Peer, Role, Target } from "../targets/peers.js"
import { EMBEDDED, MEMORY, REDIS, Skipped } from "../targets/peers.js"
import type { Figures, Options, Probe, Result, Section } from "./section.js"
import {
  budget,
  count,
  figures,
  int,
  keyData,
  latencyCsv,
  measured,
  micros,
  pairedRatio,
  redraw,
  resultOf,
  runTrials,
  selected,
  table,
  times,
  writeResults
} from "./section.js"

const SIZES: ReadonlyArray<number> = [10_000]
const VALUE_BYTES = 256
/** Keys per `getMany`/`setMany` call. */
const BATCH = 100
/** Fresh keys per `set` round, removed again untimed. */
const ROUND = 20_000
/** Entries per `setMany` of the prefill. */
const CHUNK = 1_000

type ClassName = "embedded" | "memory" | "redis"

interface Class {
  readonly name: ClassName
  readonly title: string
  readonly targets: ReadonlyArray<Target>
  readonly trials: number
  /** Whether it needs the Redis server. */
  readonly redis: boolean
}

const CLASSES: ReadonlyArray<Class> = [
  { name: "embedded", title: "embedded, on disk", targets: EMBEDDED, trials: 7, redis: false },
  { name: "memory", title: "in memory", targets: MEMORY, trials: 7, redis: false },
  { name: "redis", title: "on Redis", targets: REDIS, trials: 5, redis: true }
]

type Name = "get" | "set" | "getMany" | "setMany"

interface Work {
  readonly name: Name
  readonly label: string
  readonly batch: boolean
  /** Calls per trial at most (each trial also stops after 300 ms). */
  readonly maxOps: number
}

const WORKLOADS: ReadonlyArray<Work> = [
  { name: "get", label: "get", batch: false, maxOps: 200_000 },
  { name: "set", label: "set", batch: false, maxOps: 100_000 },
  { name: "getMany", label: `getMany(${BATCH})`, batch: true, maxOps: 4_000 },
  { name: "setMany", label: `setMany(${BATCH})`, batch: true, maxOps: 2_000 }
]

const labelOf = (w: string): string => WORKLOADS.find((x) => x.name === w)?.label ?? w

/** One row of a class's table: a target on a workload, unmeasured when the target has no batch API. */
interface Row {
  readonly cls: ClassName
  readonly size: number
  readonly workload: Name
  readonly target: string
  readonly role: Role
  readonly config: string
  /** The figures, or undefined when the workload is a batch and the target has no batch API. */
  readonly figures: Figures | undefined
  /** Median over trials of the paired ratio of entries/s to the floor's. */
  readonly vsFloor: number
  /** Median over trials of the paired ratio of entries/s to effect-kv's (above 1: the target is faster). */
  readonly vsOurs: number
}

interface Measured {
  readonly rows: ReadonlyArray<Row>
  /** Targets that could not run, with why. */
  readonly skipped: ReadonlyArray<string>
}

const runClass = (cls: Class, size: number, o: Options): Effect.Effect<Measured, unknown> =>
  measured(`peers ${cls.name} ${count(size)}`, (dir) =>
    Effect.gen(function*() {
      const d = keyData({ seed: 0x9ee25, entries: size, valueBytes: VALUE_BYTES, reads: 1 << 20 }, ROUND)
      const text = d.value.toString("base64").slice(0, VALUE_BYTES)
      let prefix = ""
      if (cls.redis) {
        yield* Servers.reachable("redis")
        const base = Servers.uniqueName("ekvpeers")
        prefix = `${base}:`
        yield* Ioredis.janitor(prefix) // opened first, so it deletes the keys after every target has closed
      }
      const opened: Array<{ readonly target: Target; readonly peer: Peer }> = []
      const skipped: Array<string> = []
      for (const target of cls.targets) {
        if (!selected(o.only, target.name)) continue
        const started = performance.now()
        const peer = yield* Effect.catchIf(
          target.open({ dir, prefix, text, capacity: size + 2 * ROUND }),
          (e): e is Skipped => e instanceof Skipped,
          (e) => Effect.succeed(e)
        )
        if (peer instanceof Skipped) {
          skipped.push(`${target.name}: ${peer.reason}`)
          console.log(`peers ${cls.name}: ${target.name} skipped: ${peer.reason}`)
          continue
        }
        if (peer.prefill === undefined) yield* Engine.prefill(peer.engine, d, CHUNK)
        else yield* peer.prefill(d.keys)
        yield* Engine.check(peer.engine, d)
        console.log(
          `peers ${cls.name}: ${target.name} opened and prefilled in ${
            ((performance.now() - started) / 1000).toFixed(2)
          }s`
        )
        opened.push({ target, peer })
      }
      const probes: Array<Probe> = []
      for (const w of WORKLOADS) {
        if (!selected(o.workloads, w.name)) continue
        for (const { peer } of opened) {
          if (w.batch && !peer.batch) continue
          const e = peer.engine
          probes.push({
            target: e.name,
            workload: w.name,
            perCall: w.batch ? BATCH : 1,
            warmup: budget(o, Math.max(4, w.maxOps / 5), 150),
            trial: budget(o, w.maxOps, 300),
            run: w.name === "get"
              ? Engine.get(e, d)
              : w.name === "set"
              ? Engine.set(e, d)
              : w.name === "getMany"
              ? Engine.getMany(e, d, BATCH)
              : Engine.setMany(e, d, BATCH)
          })
        }
      }
      const results = yield* runTrials(probes, cls.trials)
      const floor = opened.find((t) => t.target.role === "floor")?.target.name
      const ours = opened.find((t) => t.target.role === "ours")?.target.name
      const rows: Array<Row> = []
      for (const w of WORKLOADS) {
        if (!selected(o.workloads, w.name)) continue
        for (const { target } of opened) {
          const r = resultOf(results, target.name, w.name)
          const against = (name: string | undefined): number =>
            r === undefined || name === undefined ? Number.NaN : pairedRatio(r, resultOf(results, name, w.name), rate)
          rows.push({
            cls: cls.name,
            size,
            workload: w.name,
            target: target.name,
            role: target.role,
            config: target.config,
            figures: r === undefined ? undefined : figures(r),
            vsFloor: target.role === "floor" ? Number.NaN : against(floor),
            vsOurs: target.role === "ours" ? Number.NaN : against(ours)
          })
        }
      }
      return { rows, skipped }
    }))

const rate = (t: Result["trials"][number]): number => t.entriesPerSec

// --- report ---

const report = (rows: ReadonlyArray<Row>, skipped: ReadonlyArray<string>): string => {
  const body = table(
    [
      { header: "class" },
      { header: "entries", right: true },
      { header: "workload" },
      { header: "target" },
      { header: "entries/s", right: true },
      { header: "spread", right: true },
      { header: "p50 µs/call", right: true },
      { header: "vs floor", right: true },
      { header: "vs effect-kv", right: true }
    ],
    rows.map((r) => ({
      block: `${r.cls}/${r.size}/${r.workload}`,
      cells: [
        r.cls,
        count(r.size),
        labelOf(r.workload),
        `${r.target}${r.role === "ours" ? " *" : r.role === "floor" ? " (floor)" : ""}`,
        r.figures === undefined ? "-" : int(r.figures.entriesPerSec),
        r.figures?.spread ?? "-",
        r.figures === undefined ? "-" : micros(r.figures.p50Us),
        r.figures === undefined ? "-" : r.role === "floor" ? "1x" : times(r.vsFloor),
        r.figures === undefined ? "-" : r.role === "ours" ? "1x" : times(r.vsOurs)
      ]
    }))
  )
  return [
    body,
    "",
    ...(skipped.length === 0 ? [] : [`skipped: ${skipped.join("; ")}`, ""]),
    `* effect-kv. ${VALUE_BYTES}-byte values (${VALUE_BYTES} characters for the libraries that hold JS values);`,
    `getMany/setMany: ${BATCH} keys per call, counted per entry; "-": the target has no batch API of its own.`,
    "entries/s: median trial; vs floor / vs effect-kv: median over trials of the target's entries/s over the floor's /",
    "effect-kv's in the same trial (above 1x the target is faster). Each class runs in its own interleaved trials.",
    "As shipped: Keyv's SQLite adapter and db0's connector use SQLite's defaults (rollback journal, synchronous=FULL:",
    "an fsync per write); lmdb syncs every commit (each awaited put is one); SqliteStore and the floor use WAL with",
    "synchronous=NORMAL. Our rows and the floor hold bytes; no row sets a ttl."
  ].join("\n")
}

/** The README's table: per class, a row per target, a column per workload, with the ratio to effect-kv. */
const markdown = (rows: ReadonlyArray<Row>, meta: Record<string, unknown>): string => {
  const out: Array<string> = [
    `<!-- written by \`npm run bench -- --sections=peers\`; ${Chart.describe(meta)} -->`,
    "",
    `Entries per second (median trial), ${VALUE_BYTES}-byte values, in brackets the median of paired ratios to ` +
    "effect-kv in the same trials (above 1x the library is faster; on effect-kv's row, to the floor). " +
    `\`getMany\`/\`setMany\`: ${BATCH} keys per call, per entry; \`-\`: no batch API.`
  ]
  const workloads = WORKLOADS.filter((w) => rows.some((r) => r.workload === w.name))
  for (const cls of CLASSES) {
    for (const size of [...new Set(rows.filter((r) => r.cls === cls.name).map((r) => r.size))]) {
      const mine = rows.filter((r) => r.cls === cls.name && r.size === size)
      out.push("", `**${cls.title}**, ${count(size)} entries`, "")
      out.push(`| | ${workloads.map((w) => `\`${w.label}\``).join(" | ")} |`)
      out.push(`| --- |${workloads.map(() => " ---: |").join("")}`)
      for (const target of [...new Set(mine.map((r) => r.target))]) {
        const cells = workloads.map((w) => {
          const r = mine.find((x) => x.target === target && x.workload === w.name)
          if (r?.figures === undefined) return "-"
          const ratio = r.role === "ours" ? r.vsFloor : r.role === "floor" ? Number.NaN : r.vsOurs
          const n = Chart.compact(r.figures.entriesPerSec)
          return Number.isFinite(ratio) ? `${n} (${times(ratio)})` : n
        })
        const role = mine.find((r) => r.target === target)?.role
        const name = role === "ours" ? `**${target}**` : role === "floor" ? `${target} (floor)` : target
        out.push(`| ${name} | ${cells.join(" | ")} |`)
      }
    }
  }
  return out.join("\n") + "\n"
}

// --- charts ---

const PALETTE = ["#d97706", "#b91c1c", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d"]

const chartOf = (cls: Class): Chart.Chart => {
  let peer = 0
  return {
    name: `peers-${cls.name}`,
    title: `effect-kv beside its peers, ${cls.title}`,
    subtitle: `Entries per second, median trial, ${VALUE_BYTES}-byte values; getMany/setMany of ${BATCH} per call, ` +
      "per entry",
    series: cls.targets.map((t) => ({
      target: t.name,
      label: t.role === "floor" ? `${t.name} (floor)` : t.name,
      color: t.role === "ours" ? Chart.OURS : t.role === "floor" ? Chart.FLOOR : PALETTE[peer++ % PALETTE.length]!
    })),
    workloads: WORKLOADS.map((w) => w.name),
    notes: {
      get: ["random hits"],
      set: ["one fresh key", "per call"],
      getMany: [`${BATCH} keys per call`, "per entry"],
      setMany: [`${BATCH} fresh keys`, "per call, per entry"]
    }
  }
}

const CSV_HEADER = [
  "class",
  "size",
  "workload",
  "target",
  "role",
  "ops_per_sec",
  "p50_us",
  "p99_us",
  "ratio_vs_floor",
  "ratio_vs_effect_kv",
  "configured"
]

const writeCharts = (
  dir: string,
  points: ReadonlyArray<Chart.Point & { readonly cls: string }>,
  meta: Record<string, unknown>
) =>
  CLASSES.flatMap((cls) => {
    const mine = points.filter((p) => p.cls === cls.name).map(({ cls: _, ...p }): Chart.Point => p)
    const chart = chartOf(cls)
    // A target that did not run (not installed, or left out by --only) keeps its colour but leaves the legend.
    const series = chart.series.filter((s) => mine.some((p) => p.target === s.target))
    return Chart.writeChart(dir, { ...chart, series }, mine, meta)
  })

const ratioCell = (n: number): string => Number.isFinite(n) ? n.toFixed(3) : ""

/** The peers section. */
export const section: Section = {
  name: "peers",
  redraw: (dir) =>
    redraw(dir, "peers", (csv, meta) =>
      writeCharts(
        dir,
        Chart.readCsv(csv, "class").map(({ column, ...p }) => ({ ...p, cls: column ?? "" })),
        meta
      )),
  run: (o) =>
    Effect.gen(function*() {
      const rows: Array<Row> = []
      const skipped: Array<string> = []
      for (const cls of CLASSES) {
        if (!cls.targets.some((t) => selected(o.only, t.name))) continue
        for (const size of o.sizes ?? SIZES) {
          const m = yield* runClass(cls, size, o)
          rows.push(...m.rows)
          skipped.push(...m.skipped.filter((s) => !skipped.includes(s)))
        }
      }
      return {
        text: report(rows, skipped),
        write: (dir, meta) => {
          const all = { ...meta, trials: Object.fromEntries(CLASSES.map((c) => [c.name, c.trials])), skipped }
          const measuredRows = rows.filter((r) => r.figures !== undefined)
          const md = path.join(dir, "peers.md")
          fs.writeFileSync(md, markdown(rows, all))
          return [
            ...writeResults(dir, "peers", all, {
              header: CSV_HEADER,
              rows: measuredRows.map((r) => [
                r.cls,
                r.size,
                r.workload,
                r.target,
                r.role,
                Math.round(r.figures!.entriesPerSec),
                ...latencyCsv(r.figures!),
                ratioCell(r.vsFloor),
                ratioCell(r.vsOurs),
                r.config
              ])
            }, (m) =>
              writeCharts(
                dir,
                measuredRows.map((r) => ({
                  cls: r.cls,
                  size: r.size,
                  workload: r.workload,
                  target: r.target,
                  opsPerSec: r.figures!.entriesPerSec
                })),
                m
              )),
            md
          ]
        }
      }
    })
}
