/**
 * The memory section: MemoryStore against its floor, a bare `Map`, and the peers a user would pick instead:
 * `@effect/platform`'s `KeyValueStore.layerMemory` (also Effect-returning; driven as its users drive it, `getUint8Array`
 * and `set`, batches as `Effect.forEach`) and lru-cache (synchronous, `max` twice the store size so nothing is evicted),
 * at 10K and 100K prefilled entries of 256-byte values. All targets of a size run in the same interleaved trials:
 * `get` of random hits, `set` of fresh keys, `getMany` and `setMany` of 1000 entries (figures per entry), and a mixed
 * workload (4 `get` hits to 1 `set` overwriting a key) run by one fiber and by 100 concurrent fibers, 10 000
 * operations per call either way. Figures are medians over trials of ratios paired inside a trial: each target to
 * the `Map`, MemoryStore to layerMemory, MemoryStore's batches to its single calls (per entry), and 100 fibers to one.
 * Then the footprint of 100K entries, one child process per target and repetition (`workers/footprint.ts`, a clean
 * heap each, `--expose-gc`): bytes per entry by the V8 heap plus external memory and by RSS, and their ratios to the
 * `Map`'s. Written as `memory-peers.csv`, `memory-footprint.csv` and the bar chart `memory-peers.svg`.
 */
import * as PlatformKv from "@effect/platform/KeyValueStore"
import * as MemoryStore from "effect-kv/MemoryStore"
import * as Effect from "effect/Effect"
import { LRUCache } from "lru-cache"
import { execFileSync } from "node:child_process"
import * as path from "node:path"
import * as Chart from "../chart.js"
import * as Engine from "../drivers/engine.js"
import { timeEffect } from "../harness.js"
import type { Options, Result, Section } from "./section.js"
import {
  budget,
  count,
  figures,
  fixed,
  int,
  keyData,
  median,
  medianOf,
  micros,
  openTargets,
  pairedRatio,
  redraw,
  resultOf,
  runTrials,
  table,
  times,
  writeCsv,
  writeResults
} from "./section.js"

const TRIALS = 7
const SIZES: ReadonlyArray<number> = [10_000, 100_000]
const VALUE_BYTES = 256
const BATCH = 1000
/** Operations of one call of the mixed workloads, and the fibers of the concurrent one. */
const MIXED_OPS = 10_000
const FIBERS = 100
const FOOTPRINT_ENTRIES = 100_000
const FOOTPRINT_RUNS = 3

const MAP = "Map"
const OURS = "MemoryStore"
const PLATFORM = "platform layerMemory"
const LRU = "lru-cache"
const TARGETS = [MAP, OURS, PLATFORM, LRU] as const

type Name = "get" | "set" | "getMany" | "setMany" | "mixed-1" | "mixed-100"

interface Work {
  readonly name: Name
  readonly maxOps: number
  readonly perCall: number
}

const WORKLOADS: ReadonlyArray<Work> = [
  { name: "get", maxOps: 100_000, perCall: 1 },
  { name: "set", maxOps: 50_000, perCall: 1 },
  { name: "getMany", maxOps: 100, perCall: BATCH },
  { name: "setMany", maxOps: 50, perCall: BATCH },
  { name: "mixed-1", maxOps: 10, perCall: MIXED_OPS },
  { name: "mixed-100", maxOps: 10, perCall: MIXED_OPS }
]

const syncEngine = (
  name: string,
  get: (key: string) => unknown,
  set: (key: string, value: Buffer) => void,
  remove: (key: string) => void
): Engine.Engine =>
  Engine.sync(name, {
    get,
    set,
    getMany: (keys) => keys.map(get),
    setMany: (entries) => {
      for (const [key, value] of entries) set(key, value)
    },
    removeMany: (keys) => {
      for (const key of keys) remove(key)
    }
  })

const mapEngine = (): Engine.Engine => {
  const map = new Map<string, Uint8Array>()
  return syncEngine(MAP, (key) => map.get(key), (key, value) => void map.set(key, value), (key) => void map.delete(key))
}

const lruEngine = (size: number): Engine.Engine => {
  const cache = new LRUCache<string, Uint8Array>({ max: size * 2 })
  return syncEngine(
    LRU,
    (key) => cache.get(key),
    (key, value) => void cache.set(key, value),
    (key) => void cache.delete(key)
  )
}

/** layerMemory as its users drive it: no batch operations, so batches are `Effect.forEach`. */
const platformStore = (store: PlatformKv.KeyValueStore): Engine.Store => ({
  get: (key: string) => store.getUint8Array(key),
  set: (key: string, value: Uint8Array) => store.set(key, value),
  getMany: (keys: ReadonlyArray<string>) => Effect.forEach(keys, (key) => store.getUint8Array(key)),
  setMany: (entries: ReadonlyArray<readonly [string, Uint8Array]>) =>
    Effect.forEach(entries, ([key, value]) => store.set(key, value), { discard: true }),
  removeMany: (keys: ReadonlyArray<string>) =>
    Effect.as(Effect.forEach(keys, (key) => store.remove(key), { discard: true }), 0)
} as unknown as Engine.Store)

// The Effect-returning stores by name, for the mixed workloads (which fork fibers of their own).
interface EffectTarget {
  readonly get: (key: string) => Effect.Effect<unknown, unknown>
  readonly set: (key: string, value: Uint8Array) => Effect.Effect<unknown, unknown>
}

/**
 * `MIXED_OPS` operations (4 `get` hits to 1 `set` of an existing key) over the random order, run by `fibers` fibers
 * each taking its share in turn; one call of the workload.
 */
const mixed = (t: EffectTarget, data: Engine.Data, fibers: number, offset: () => number) => {
  const share = MIXED_OPS / fibers
  const run = (fiber: number, at: number) =>
    Effect.gen(function*() {
      for (let i = 0; i < share; i++) {
        const n = at + fiber * share + i
        const key = data.keys[data.order[n % data.order.length]!]!
        if (n % 5 === 4) yield* t.set(key, data.value)
        else yield* t.get(key)
      }
    })
  return Effect.suspend(() => {
    const at = offset()
    return fibers === 1
      ? run(0, at)
      : Effect.forEach(Array.from({ length: fibers }, (_, i) => i), (i) => run(i, at), {
        concurrency: "unbounded",
        discard: true
      })
  })
}

const mixedWorkload = (t: EffectTarget | undefined, data: Engine.Data, fibers: number): Engine.Workload => {
  let at = 0
  const offset = () => {
    const now = at
    at = (at + MIXED_OPS) % data.order.length
    return now
  }
  return (rec) =>
    t === undefined ? Effect.void : Effect.gen(function*() {
      while (!rec.full) yield* timeEffect(rec, 1_000_000, () => mixed(t, data, fibers, offset))
    })
}

const measureSize = (o: Options, size: number) =>
  Effect.scoped(Effect.gen(function*() {
    const data = keyData(
      { seed: 0x3e3 + size, entries: size, valueBytes: VALUE_BYTES, reads: 1 << 20 },
      Math.max(1000, size / 5)
    )
    const ours = yield* MemoryStore.make()
    const platform = yield* Effect.provide(PlatformKv.KeyValueStore, PlatformKv.layerMemory)
    const effectTargets: Record<string, EffectTarget> = {
      [OURS]: ours,
      [PLATFORM]: { get: (key) => platform.getUint8Array(key), set: (key, value) => platform.set(key, value) }
    }
    const opened = yield* openTargets(`memory ${count(size)}`, o, data, [
      { name: MAP, acquire: Effect.sync(mapEngine), chunk: BATCH },
      { name: OURS, acquire: Effect.succeed(Engine.effect(OURS, ours)), chunk: BATCH },
      { name: PLATFORM, acquire: Effect.succeed(Engine.effect(PLATFORM, platformStore(platform))), chunk: BATCH },
      { name: LRU, acquire: Effect.sync(() => lruEngine(size)), chunk: BATCH }
    ])
    const engines = opened.map((t) => t.engine)
    const probes = WORKLOADS.filter((w) => o.workloads === undefined || o.workloads.includes(w.name)).flatMap((w) =>
      engines.filter((e) => !w.name.startsWith("mixed") || effectTargets[e.name] !== undefined).map((engine) => ({
        target: engine.name,
        workload: w.name,
        perCall: w.perCall,
        warmup: budget(o, Math.max(2, w.maxOps / 5), 150),
        trial: budget(o, w.maxOps, 300),
        run: w.name === "get"
          ? Engine.get(engine, data)
          : w.name === "set"
          ? Engine.set(engine, data)
          : w.name === "getMany"
          ? Engine.getMany(engine, data, BATCH)
          : w.name === "setMany"
          ? Engine.setMany(engine, data, BATCH)
          : mixedWorkload(effectTargets[engine.name], data, w.name === "mixed-1" ? 1 : FIBERS)
      }))
    )
    const results = yield* runTrials(probes, TRIALS)
    return results.map((r) => ({ size, ...r }))
  }))

interface Sized extends Result {
  readonly size: number
}

interface Row {
  readonly size: number
  readonly workload: Name
  readonly target: string
  readonly entriesPerSec: number
  readonly p50Us: number
  readonly spread: string
  readonly vsMap: number
  readonly vsPlatform: number
  /** For batches: the paired ratio of per-entry throughput to the same target's single calls. */
  readonly vsSingle: number
  /** For the concurrent mixed workload: the paired ratio to the same target with one fiber. */
  readonly vsOneFiber: number
}

const single = (w: Name): Name | undefined => w === "getMany" ? "get" : w === "setMany" ? "set" : undefined

const rowsOf = (all: ReadonlyArray<Sized>): Array<Row> =>
  all.map((r) => {
    const same = all.filter((x) => x.size === r.size)
    const f = figures(r)
    const eps = (t: Result["trials"][number]) => t.entriesPerSec
    const base = single(r.workload as Name)
    return {
      size: r.size,
      workload: r.workload as Name,
      target: r.target,
      entriesPerSec: medianOf(r, eps),
      p50Us: f.p50Us / r.perCall,
      spread: f.spread,
      vsMap: pairedRatio(r, resultOf(same, MAP, r.workload), eps),
      vsPlatform: r.target === PLATFORM ? Number.NaN : pairedRatio(r, resultOf(same, PLATFORM, r.workload), eps),
      vsSingle: base === undefined ? Number.NaN : pairedRatio(r, resultOf(same, r.target, base), eps),
      vsOneFiber: r.workload === "mixed-100"
        ? pairedRatio(r, resultOf(same, r.target, "mixed-1"), eps)
        : Number.NaN
    }
  })

// --- footprint ---

interface Footprint {
  readonly target: string
  readonly heapPerEntry: number
  readonly rssPerEntry: number
  readonly heapVsMap: number
  readonly rssVsMap: number
}

const SCRIPT = path.join("test", "bench", "workers", "footprint.ts")

const footprintRun = (target: string): { readonly heapPerEntry: number; readonly rssPerEntry: number } => {
  const out = execFileSync(process.execPath, [
    "--expose-gc",
    "--import",
    "tsx",
    "--conditions=effect-kv-source",
    SCRIPT,
    target,
    String(FOOTPRINT_ENTRIES)
  ], { encoding: "utf8" })
  return JSON.parse(out.trim().split("\n").pop()!)
}

/** Each target in a fresh process, `FOOTPRINT_RUNS` rounds in turn; ratios paired by round. */
const footprints = (o: Options): Effect.Effect<Array<Footprint>> =>
  Effect.sync(() => {
    const targets = TARGETS.filter((t) => o.only === undefined || o.only.includes(t) || t === MAP)
    const runs = targets.map(() => [] as Array<{ readonly heapPerEntry: number; readonly rssPerEntry: number }>)
    for (let k = 0; k < FOOTPRINT_RUNS; k++) targets.forEach((t, i) => runs[i]!.push(footprintRun(t)))
    const floor = runs[0]!
    return targets.map((target, i) => ({
      target,
      heapPerEntry: median(runs[i]!.map((r) => r.heapPerEntry)),
      rssPerEntry: median(runs[i]!.map((r) => r.rssPerEntry)),
      heapVsMap: median(runs[i]!.map((r, k) => r.heapPerEntry / floor[k]!.heapPerEntry)),
      rssVsMap: median(runs[i]!.map((r, k) => r.rssPerEntry / floor[k]!.rssPerEntry))
    }))
  })

// --- report ---

const goal = (r: Row): string => {
  if (r.target !== OURS) return ""
  if (r.workload === "get" || r.workload === "set") return r.vsPlatform >= 1 ? "PASS" : "MISS"
  if (r.workload === "getMany" || r.workload === "setMany") return r.vsSingle >= 5 ? "PASS" : "MISS"
  if (r.workload === "mixed-100") return r.vsOneFiber >= 0.9 ? "PASS" : "MISS"
  return ""
}

const GOALS = [
  "Goals (MemoryStore): get and set >= 1x layerMemory (vs platform); getMany and setMany >= 5x its single calls per",
  "entry (vs single); 100 fibers >= 0.9x one fiber on the mixed workload (vs 1 fiber); footprint <= 1.3x the Map's."
].join("\n")

const report = (rows: ReadonlyArray<Row>, prints: ReadonlyArray<Footprint>): string => {
  const main = table(
    [
      { header: "size" },
      { header: "workload" },
      { header: "target" },
      { header: "entries/s", right: true },
      { header: "spread", right: true },
      { header: "p50 µs/entry", right: true },
      { header: "vs Map", right: true },
      { header: "vs platform", right: true },
      { header: "vs single", right: true },
      { header: "vs 1 fiber", right: true },
      { header: "goal" }
    ],
    rows.map((r) => ({
      block: `${r.size} ${r.workload}`,
      cells: [
        count(r.size),
        r.workload,
        r.target,
        int(r.entriesPerSec),
        r.spread,
        micros(r.p50Us),
        times(r.vsMap),
        Number.isNaN(r.vsPlatform) ? "" : times(r.vsPlatform),
        Number.isNaN(r.vsSingle) ? "" : times(r.vsSingle),
        Number.isNaN(r.vsOneFiber) ? "" : times(r.vsOneFiber),
        goal(r)
      ]
    }))
  )
  const foot = table(
    [
      { header: "target" },
      { header: "heap+external B/entry", right: true },
      { header: "vs Map", right: true },
      { header: "RSS B/entry", right: true },
      { header: "vs Map", right: true },
      { header: "goal" }
    ],
    prints.map((p) => ({
      block: "",
      cells: [
        p.target,
        int(p.heapPerEntry),
        times(p.heapVsMap),
        int(p.rssPerEntry),
        times(p.rssVsMap),
        p.target === OURS ? (p.heapVsMap <= 1.3 && p.rssVsMap <= 1.3 ? "PASS" : "MISS") : ""
      ]
    }))
  )
  return [
    main,
    "",
    `Footprint of ${count(FOOTPRINT_ENTRIES)} entries (median of ${FOOTPRINT_RUNS} processes per target):`,
    foot,
    "",
    GOALS,
    `${TRIALS} interleaved trials; entries/s: median over trials; vs X: median over trials of the paired ratio of`,
    "entries/s (above 1x is faster). mixed: 10 000 operations per call, 4 get hits to 1 set of an existing key."
  ].join("\n")
}

const CHART: Chart.Chart = {
  name: "memory-peers",
  title: "MemoryStore against a Map and its peers",
  subtitle: `Entries per second, median of ${TRIALS} trials, ${VALUE_BYTES}-byte values`,
  series: [
    { target: MAP, label: "Map (floor)", color: Chart.FLOOR },
    { target: OURS, label: "MemoryStore", color: Chart.OURS },
    { target: PLATFORM, label: "@effect/platform layerMemory", color: Chart.THIRD },
    { target: LRU, label: "lru-cache", color: "#b45309" }
  ],
  workloads: WORKLOADS.map((w) => w.name),
  notes: {
    get: ["random hits"],
    set: ["one fresh key"],
    getMany: ["1000 keys", "per entry"],
    setMany: ["1000 fresh keys", "per entry"],
    "mixed-1": ["4 get : 1 set", "one fiber"],
    "mixed-100": ["4 get : 1 set", "100 fibers"]
  }
}

const drawChart = (dir: string, points: ReadonlyArray<Chart.Point>, meta: Record<string, unknown>) =>
  Chart.writeChart(dir, CHART, points, meta)

/** The memory section. */
export const section: Section = {
  name: "memory",
  redraw: (dir) => redraw(dir, "memory-peers", (csv, meta) => drawChart(dir, Chart.readCsv(csv), meta)),
  run: (o) =>
    Effect.gen(function*() {
      const all = (yield* Effect.forEach(o.sizes ?? SIZES, (size) => measureSize(o, size))).flat()
      const rows = rowsOf(all)
      const prints = o.workloads === undefined || o.workloads.includes("footprint") ? yield* footprints(o) : []
      return {
        text: report(rows, prints),
        write: (dir, meta) => [
          ...writeResults(dir, "memory-peers", { ...meta, trials: TRIALS }, {
            header: [
              "size",
              "workload",
              "target",
              "ops_per_sec",
              "p50_us_per_entry",
              "ratio_vs_map",
              "ratio_vs_platform",
              "ratio_vs_single",
              "ratio_vs_one_fiber",
              "verdict"
            ],
            rows: rows.map((r) => [
              r.size,
              r.workload,
              r.target,
              Math.round(r.entriesPerSec),
              r.p50Us.toFixed(3),
              fixed(r.vsMap, 3),
              fixed(r.vsPlatform, 3),
              fixed(r.vsSingle, 3),
              fixed(r.vsOneFiber, 3),
              goal(r)
            ])
          }, (m) =>
            drawChart(
              dir,
              rows.map((r) => ({ size: r.size, workload: r.workload, target: r.target, opsPerSec: r.entriesPerSec })),
              m
            )),
          ...(prints.length === 0 ? [] : [
            writeCsv(
              path.join(dir, "memory-footprint.csv"),
              ["target", "entries", "heap_bytes_per_entry", "heap_vs_map", "rss_bytes_per_entry", "rss_vs_map"],
              prints.map((p) => [
                p.target,
                FOOTPRINT_ENTRIES,
                p.heapPerEntry.toFixed(0),
                p.heapVsMap.toFixed(3),
                p.rssPerEntry.toFixed(0),
                p.rssVsMap.toFixed(3)
              ])
            )
          ])
        ]
      }
    })
}
