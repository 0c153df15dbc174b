/**
 * The caching section: what `getOrSet` costs on a hit and on a miss, against the plain operations of the same store
 * and against the read-through calls of the caches our users compare us with, and how many times a cold key is
 * computed when four processes ask for it at once.
 *
 * In one process, every row of `ROWS` runs in the same interleaved trials (the other sections' method: every probe
 * once per trial, probes of a workload back to back, in reversed order on odd trials), at 10K entries of 256 bytes:
 * - `hit`: the row's call on random keys of the 10K (all present). Before the trials each row that computes runs its
 *   call once on every key, untimed, so a peer's own cache holds them in its own format; the store's rows find the
 *   store prefilled through `setMany`. The compute of a hit row is counted: a hit trial that computes stops the bench.
 * - `miss`: the row's call on fresh keys, in rounds of 20 000 removed again untimed (compute is `Effect.succeed` of
 *   the value or an async function returning it, then the write); a miss row that does not compute once per call
 *   stops the bench.
 * Rows: the store block, MemoryStore and SqliteStore (a temporary file): `getOrSet` hit against `get`, `getOrSet`
 * miss against `set` of a fresh key, over one store per backend; the peers block, on memory, each driven as its README
 * shows (`targets/cachePeers.ts`): cacheable `getOrSet` and `wrap`, bentocache `getOrSet` with its memory driver,
 * cachified over lru-cache, against our MemoryStore `getOrSet` on the same workload. Peers cache a 256-character string
 * (their users' values are JS values), our store 256 bytes. Figures: ops/s of the median trial, p50 per call (median
 * over trials), and against the row's base the median over trials of the paired ops/s ratio, its time ratio (the
 * median of base/mine), the same time ratio by this process's CPU time, and the µs added per call (median of
 * 1/ops_mine − 1/ops_base): medians of paired ratios, which a busy machine disturbs far less than absolute figures.
 * Goals (by the wall clock): a row's own `goal` (a time ratio to its base on a hit), and our MemoryStore `getOrSet`
 * hit at least as fast as the fastest peer.
 *
 * Across processes (`workers/coldKey.ts`, started by the tests' `fixtures/workers.ts`): 4 worker processes, each with
 * 50 concurrent callers, are released together on one cold key of Redis (`EFFECT_KV_REDIS_URL`) whose compute sleeps
 * 50 ms: our `RedisStore` `getOrSet(key, compute, { lock: true })`, cacheable with an in-memory primary and
 * `@keyv/redis` as secondary, bentocache with a memory L1 and its redis L2 driver on ioredis. A trial reports how many
 * times the value was computed in all, and the time from the first release to the last caller's value; 5 trials per
 * target, interleaved (a fresh key each), medians reported with every trial. Goal: ours computes once in every trial.
 * Keys live under a prefix of this run, deleted by `SCAN` + `UNLINK` at the end (never a flush). Without Redis, that
 * part is reported as skipped.
 *
 * Adding a row is one entry of `ROWS`: `overStore(name, backend, config, base, op)` (see its comment) for an Effect
 * per key over the section's store of that backend, or a `Row` for anything else. Writes `caching.csv` (in-process
 * rows), `caching-cold.csv` (cross-process trials) and two bar charts from the first: `caching.svg` (the store's rows
 * by backend) and `caching-peers.svg` (the peers and our MemoryStore `getOrSet`).
 */
import * as Codec from "effect-kv/Codec"
import type * as KeyValueStore from "effect-kv/KeyValueStore"
import * as Memoize from "effect-kv/Memoize"
import * as MemoryStore from "effect-kv/MemoryStore"
import * as SqliteStore from "effect-kv/SqliteStore"
import * as Tiered from "effect-kv/Tiered"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as path from "node:path"
import * as Workers from "../../backends/fixtures/workers.js"
import * as Chart from "../chart.js"
import type { Recorder } from "../harness.js"
import { timeAsync, timeEffect } from "../harness.js"
import * as Servers from "../servers.js"
import * as Peers from "../targets/cachePeers.js"
import * as Ioredis from "../targets/ioredis.js"
import type { Options, Result, Section, Trial } from "./section.js"
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
  redraw,
  runTrials,
  selected,
  table,
  times,
  writeCsv,
  writeResults
} from "./section.js"

const SIZE = 10_000
const VALUE_BYTES = 256
const TRIALS = 11
/** Fresh keys per miss round, removed again untimed. */
const ROUND = 20_000
/** Entries per `setMany` of the prefill. */
const CHUNK = 5_000

const WORKERS = 4
const CALLERS = 50
const COMPUTE_MS = 50
const COLD_TRIALS = 5
const SCRIPT = "test/bench/workers/coldKey.ts"

export type Backend = "MemoryStore" | "SqliteStore"
const BACKENDS: ReadonlyArray<Backend> = ["MemoryStore", "SqliteStore"]

export type Workload = "hit" | "miss"
const WORKLOADS: ReadonlyArray<{ readonly name: Workload; readonly label: string; readonly maxOps: number }> = [
  { name: "hit", label: "hit (random present key)", maxOps: 200_000 },
  { name: "miss", label: "miss (fresh key: compute + write)", maxOps: 100_000 }
]

/** What a row's `open` gets. */
export interface Context {
  /** The section's store of the row's backend, prefilled with the 10K keys `key:0` .. `key:9999`. */
  readonly store: KeyValueStore.Service
  /** The 256-byte value of every entry. */
  readonly value: Uint8Array
  /** The same value as 256 characters, for peers that cache JS values. */
  readonly text: string
  /** The compute of the row's Effect calls: the value, counted (a hit must never run it). */
  readonly compute: Effect.Effect<Uint8Array>
  /** The compute of the row's promise calls: the text, counted. */
  readonly computeText: () => Promise<string>
}

/** One call of a row on a key: an Effect yielded in the bench's program, or a promise awaited. */
export type Op =
  | { readonly effect: (key: string) => Effect.Effect<unknown, unknown> }
  | { readonly promise: (key: string) => Promise<unknown> }

/** An opened row. */
export interface Subject {
  readonly op: Op
  /** Untimed: removes the keys of a miss round. */
  readonly remove: (keys: ReadonlyArray<string>) => Effect.Effect<unknown, unknown>
  /** Untimed: called once the hit keys are in. */
  readonly filled?: () => void
}

/** One row: a target of the section. */
export interface Row {
  /** Which table it is in: our store's own operations, or the peers on memory. */
  readonly block: "store" | "peers"
  /** As `--only` selects it; unique. */
  readonly name: string
  /** The store the context gives it (and the table's backend column for the store block). */
  readonly backend: Backend
  readonly config: string
  readonly workloads: ReadonlyArray<Workload>
  /** The row it is compared with, per workload (none: a base). */
  readonly base?: Partial<Record<Workload, string>>
  /** Whether its call computes on a miss (`get` and `set` never do). */
  readonly computes: boolean
  /** The most its time may be over its base's on a hit (a goal), if any. */
  readonly goal?: number
  /** The chart's series it is drawn in. */
  readonly series: string
  readonly open: (ctx: Context) => Effect.Effect<Subject, unknown, Scope.Scope>
}

const storeSubject = (ctx: Context, effect: (key: string) => Effect.Effect<unknown, unknown>): Subject => ({
  op: { effect },
  remove: (keys) => ctx.store.removeMany(keys)
})

/**
 * A hit row over the section's store of `backend`: `op` builds (in the section's scope, once) the Effect run per key,
 * using `ctx.compute` as its computation so that a hit that computes is caught; its hits are compared with `base`.
 * A row that caches under keys of its own (a memoized function) is filled by its own call before the trials.
 *
 * For example, the rows the issue asks for once their modules are merged (the exact calls are those modules'):
 * `overStore("SqliteStore memoized", "SqliteStore", "Memoize.effect(f, { store })", "SqliteStore get", (ctx) =>
 *   Effect.succeed(Memoize.effect((key: string) => ctx.compute, { store: ctx.store, key: (k) => k })), { goal: 1.3 })`
 * (a memoized hit against `get` on the same store), and a Tiered L1 hit against MemoryStore `get`:
 * `overStore("Tiered L1", "MemoryStore", "Tiered L1 over ...", "MemoryStore get", (ctx) => <build the tiered store
 *   over an L2 holding the keys, fill its L1>.pipe(Effect.map((tiered) => (key) => tiered.get(key))), { goal: 1.2 })`.
 */
export const overStore = (
  name: string,
  backend: Backend,
  config: string,
  base: string,
  op: (ctx: Context) => Effect.Effect<(key: string) => Effect.Effect<unknown, unknown>, unknown, Scope.Scope>,
  options: { readonly goal?: number; readonly series?: string } = {}
): Row => ({
  block: "store",
  name,
  backend,
  config,
  workloads: ["hit"],
  base: { hit: base },
  computes: true,
  ...(options.goal === undefined ? {} : { goal: options.goal }),
  series: options.series ?? name,
  open: (ctx) => Effect.map(op(ctx), (effect) => storeSubject(ctx, effect))
})

/** Our store's rows on one backend: `get` and `getOrSet` on a hit, `set` and `getOrSet` on a miss. */
const storeRows = (backend: Backend): Array<Row> => [
  {
    block: "store",
    name: `${backend} get`,
    backend,
    config: "store.get(key)",
    workloads: ["hit"],
    computes: false,
    series: "get",
    open: (ctx) => Effect.succeed(storeSubject(ctx, (key) => ctx.store.get(key)))
  },
  {
    block: "store",
    name: `${backend} set`,
    backend,
    config: "store.set(key, value)",
    workloads: ["miss"],
    computes: false,
    series: "set",
    open: (ctx) => Effect.succeed(storeSubject(ctx, (key) => ctx.store.set(key, ctx.value)))
  },
  {
    block: "store",
    name: `${backend} getOrSet`,
    backend,
    config: "store.getOrSet(key, compute)",
    workloads: ["hit", "miss"],
    base: { hit: `${backend} get`, miss: `${backend} set` },
    computes: true,
    series: "getOrSet",
    open: (ctx) => Effect.succeed(storeSubject(ctx, (key) => ctx.store.getOrSet(key, ctx.compute)))
  }
]

const OURS = "MemoryStore getOrSet"

const peer = (
  name: string,
  series: string,
  config: string,
  open: (compute: Peers.Compute) => Effect.Effect<Peers.Peer, unknown, Scope.Scope>
): Row => ({
  block: "peers",
  name,
  backend: "MemoryStore",
  config,
  workloads: ["hit", "miss"],
  base: { hit: OURS, miss: OURS },
  computes: true,
  series,
  open: (ctx) =>
    Effect.map(open(ctx.computeText), (p) => ({
      op: { promise: p.ask },
      remove: (keys) => Effect.promise(() => p.remove(keys)),
      ...(p.filled === undefined ? {} : { filled: p.filled })
    }))
})

/** Every row, in table order. */
export const ROWS: ReadonlyArray<Row> = [
  ...BACKENDS.flatMap(storeRows),
  // A memoized hit (the default key: namespace + SHA-256 of the arguments) against `get` on the same store.
  ...(["MemoryStore", "SqliteStore"] as const).map((backend) =>
    overStore(
      `${backend} memoized`,
      backend,
      "Memoize.effect(f, { store, schema: Uint8Array, codec: msgpack })",
      `${backend} get`,
      (ctx) =>
        Effect.succeed(
          Memoize.effect((_key: string) => ctx.compute, {
            store: ctx.store,
            namespace: "bench",
            schema: Schema.Uint8ArrayFromSelf,
            codec: Codec.msgpack
          })
        ),
      { goal: 1.3, series: "memoized" }
    )
  ),
  // A Tiered L1 hit against MemoryStore `get`: the L1's default eviction (lru) and "lrs", L2 the MemoryStore.
  ...(["lru", "lrs"] as const).map((eviction) =>
    overStore(
      `Tiered L1 (${eviction})`,
      "MemoryStore",
      `Tiered.make(store, { l1: { maxEntries: 20000, eviction: "${eviction}" } })`,
      "MemoryStore get",
      (ctx) =>
        Effect.map(
          Tiered.make(ctx.store, { l1: { maxEntries: 20_000, eviction } }),
          (tiered) => (key: string) => tiered.get(key)
        ),
      { goal: 1.2, series: `Tiered L1 ${eviction}` }
    )
  ),
  peer("cacheable getOrSet", "cacheable getOrSet", "new Cacheable(): cache.getOrSet(key, fn)", Peers.cacheableGetOrSet),
  peer("cacheable wrap", "cacheable wrap", "new Cacheable(): cache.wrap(fn)(key)", Peers.cacheableWrap),
  peer("bentocache getOrSet", "bentocache", "memoryDriver L1: bento.getOrSet({ key, factory })", Peers.bentocache),
  peer("cachified + lru-cache", "cachified", "cachified({ key, cache: lru, getFreshValue })", Peers.cachifiedLru)
]

// --- in-process trials ---

/** Runs `op` on `key(0)`, `key(1)`, ... into the recorder; returns how many ran. */
const timeOp = (op: Op, rec: Recorder, n: number, key: (i: number) => string): Effect.Effect<number, unknown> =>
  "effect" in op
    ? timeEffect(rec, n, (i) => op.effect(key(i)))
    : Effect.tryPromise(() => timeAsync(rec, n, (i) => op.promise(key(i))))

/** Runs `op` on one key, untimed. */
const once = (op: Op, key: string): Effect.Effect<unknown, unknown> =>
  "effect" in op ? op.effect(key) : Effect.tryPromise(() => op.promise(key))

/** The length of a value a call returned (an `Option` of one for `get`), or -1. */
const lengthOf = (v: unknown): number => {
  const inner = Option.isOption(v) ? Option.getOrUndefined(v) : v
  return typeof inner === "string" || inner instanceof Uint8Array ? inner.length : -1
}

interface Opened {
  readonly row: Row
  readonly subject: Subject
  /** How many times the row's compute ran so far. */
  readonly computed: () => number
}

const openStore = (backend: Backend, dir: string) =>
  backend === "SqliteStore" ? SqliteStore.make({ filename: path.join(dir, "caching.db") }) : MemoryStore.make()

const openRows = (dir: string, rows: ReadonlyArray<Row>) =>
  Effect.gen(function*() {
    const d = keyData({ seed: 0xcac4e, entries: SIZE, valueBytes: VALUE_BYTES, reads: 1 << 20 }, ROUND)
    const value = new Uint8Array(d.value)
    const text = "v".repeat(VALUE_BYTES)
    const stores = new Map<Backend, KeyValueStore.Service>()
    const opened: Array<Opened> = []
    for (const row of rows) {
      let store = stores.get(row.backend)
      if (store === undefined) {
        store = yield* openStore(row.backend, dir)
        for (let i = 0; i < SIZE; i += CHUNK) {
          yield* store.setMany(d.keys.slice(i, i + CHUNK).map((key) => [key, value] as const))
        }
        stores.set(row.backend, store)
      }
      let computes = 0
      const ctx: Context = {
        store,
        value,
        text,
        compute: Effect.sync(() => {
          computes++
          return value
        }),
        computeText: () => {
          computes++
          return Promise.resolve(text)
        }
      }
      const started = performance.now()
      const subject = yield* row.open(ctx)
      if (row.computes && row.workloads.includes("hit")) {
        for (const key of d.keys) yield* once(subject.op, key)
      }
      subject.filled?.()
      const before = computes
      // A hit row must find the first, middle and last key, without computing (its hits would measure misses).
      for (const i of row.workloads.includes("hit") ? [0, SIZE >> 1, SIZE - 1] : []) {
        const got = yield* once(subject.op, d.keys[i]!)
        if (lengthOf(got) !== VALUE_BYTES) {
          return yield* Effect.fail(new Error(`${row.name}: ${d.keys[i]} gave no value of ${VALUE_BYTES} (a miss?)`))
        }
      }
      if (computes !== before) return yield* Effect.fail(new Error(`${row.name}: computed on a filled key`))
      console.log(`caching: ${row.name} opened and filled in ${((performance.now() - started) / 1000).toFixed(2)}s`)
      opened.push({ row, subject, computed: () => computes })
    }
    return { opened, data: d }
  })

/** A workload of one opened row, checking its computations: none on a hit, one per call on a miss. */
const workload = (t: Opened, w: Workload, d: ReturnType<typeof keyData>) => {
  let at = 0
  let fresh = 0
  const check = (rec: Recorder, before: number) =>
    Effect.suspend(() => {
      const ran = t.computed() - before
      const expected = w === "hit" || !t.row.computes ? 0 : rec.ops
      return ran === expected ? Effect.void : Effect.fail(
        new Error(`${t.row.name} ${w}: computed ${ran} times in ${rec.ops} calls (expected ${expected})`)
      )
    })
  return (rec: Recorder): Effect.Effect<void, unknown> =>
    Effect.gen(function*() {
      const before = t.computed()
      while (!rec.full) {
        if (w === "hit") {
          const n = d.order.length
          at = (at + (yield* timeOp(t.subject.op, rec, n, (i) => d.keys[d.order[(at + i) % n]!]!))) % n
        } else {
          const keys = Array.from({ length: ROUND }, () => `miss:${fresh++}`)
          const done = yield* timeOp(t.subject.op, rec, keys.length, (i) => keys[i]!)
          yield* t.subject.remove(keys.slice(0, done))
        }
      }
      yield* check(rec, before)
    })
}

/** The figures of one row on one workload. */
interface Figure {
  readonly row: Row
  readonly workload: Workload
  readonly result: Result
  readonly entriesPerSec: number
  readonly spread: string
  readonly p50Us: number
  readonly p99Us: number
  readonly base: string | undefined
  /** Median over trials of ops/s over the base's (paired by trial). */
  readonly ratio: number
  /** Median over trials of the base's ops/s over this row's: the time ratio. */
  readonly timeRatio: number
  /** The same by this process's CPU time, which other processes on a busy machine do not inflate. */
  readonly cpuTimeRatio: number
  /** Median over trials of 1/ops − 1/ops_base, µs. */
  readonly addedUs: number
}

const pairedAddedUs = (mine: Result, base: Result | undefined, figure: (t: Trial) => number): number =>
  base === undefined ? Number.NaN : median(mine.trials.map((t, k) => {
    const b = base.trials[k]
    return b === undefined ? Number.NaN : 1e6 * (1 / figure(t) - 1 / figure(b))
  }))

const inProcess = (o: Options) =>
  measured(`caching ${count(SIZE)}`, (dir) =>
    Effect.gen(function*() {
      const rows = ROWS.filter((r) => selected(o.only, r.name))
      const { data, opened } = yield* openRows(dir, rows)
      const plan = WORKLOADS.filter((w) => selected(o.workloads, w.name)).flatMap((w) =>
        opened.filter((t) => t.row.workloads.includes(w.name)).map((t) => ({ t, w }))
      )
      const probes = plan.map(({ t, w }) => ({
        target: t.row.name,
        workload: w.name,
        perCall: 1,
        warmup: budget(o, w.maxOps / 5, 150),
        trial: budget(o, w.maxOps, 300),
        run: workload(t, w.name, data)
      }))
      const results = yield* runTrials(probes, TRIALS)
      return results.map((result, i): Figure => {
        const { t, w } = plan[i]!
        const baseName = t.row.base?.[w.name]
        const base = results.find((r) => r.target === baseName && r.workload === w.name)
        return {
          row: t.row,
          workload: w.name,
          result,
          ...figures(result),
          base: baseName,
          ratio: pairedRatio(result, base, (x) => x.entriesPerSec),
          timeRatio: pairedRatio(result, base, (x) => 1 / x.entriesPerSec),
          cpuTimeRatio: pairedRatio(result, base, (x) => 1 / x.cpuEntriesPerSec),
          addedUs: pairedAddedUs(result, base, (x) => x.entriesPerSec)
        }
      })
    }))

// --- across processes ---

interface ColdReport {
  readonly ok: boolean
  readonly id: string
  readonly computes: number
  readonly goAt: number
  readonly doneAt: number
  readonly answered: number
  /** The workers whose computed value the callers got. */
  readonly from: ReadonlyArray<string>
  readonly cpuMs: number
  readonly tag?: string
  readonly cause?: string
}

const COLD_TARGETS: ReadonlyArray<{ readonly name: string; readonly config: string }> = [
  { name: "effect-kv", config: "RedisStore getOrSet(key, compute, { lock: true })" },
  { name: "cacheable", config: "memory primary + @keyv/redis secondary, getOrSet" },
  { name: "bentocache", config: "memory L1 + redis L2 (ioredis), getOrSet" }
]

interface ColdTrial {
  readonly target: string
  readonly trial: number
  readonly computes: number
  /** From the first release to the last caller's value, ms. */
  readonly ms: number
  /** Callers that got a value, of WORKERS × CALLERS. */
  readonly answered: number
  /** How many distinct values the callers got, in all processes (each process computes its own). */
  readonly distinct: number
}

const coldTrial = (target: string, base: string, trial: number) =>
  Effect.scoped(Effect.gen(function*() {
    const prefix = `${base}:${target}:`
    const key = `cold.${trial}`
    const reports = yield* Workers.run<ColdReport>(
      SCRIPT,
      Array.from(
        { length: WORKERS },
        (_, i) => [target, Servers.url("redis"), prefix, key, String(CALLERS), String(COMPUTE_MS), `w${i}`]
      ),
      { timeout: "60 seconds" }
    )
    for (const r of reports) {
      if (!r.ok) return yield* Effect.fail(new Error(`${target} worker ${r.id}: ${r.tag}\n${r.cause}`))
    }
    return {
      target,
      trial: trial + 1,
      computes: reports.reduce((n, r) => n + r.computes, 0),
      ms: Math.max(...reports.map((r) => r.doneAt)) - Math.min(...reports.map((r) => r.goAt)),
      answered: reports.reduce((n, r) => n + r.answered, 0),
      distinct: new Set(reports.flatMap((r) => r.from)).size
    } satisfies ColdTrial
  }))

interface Cold {
  readonly trials: ReadonlyArray<ColdTrial>
  /** Why the part did not run, if it did not. */
  readonly skipped?: string
}

const acrossProcesses = (o: Options): Effect.Effect<Cold, unknown> =>
  Effect.gen(function*() {
    const targets = COLD_TARGETS.filter((t) => selected(o.only, t.name))
    if (targets.length === 0 || !selected(o.workloads, "cold")) return { trials: [] }
    const up = yield* Effect.either(Servers.reachable("redis"))
    if (up._tag === "Left") return { trials: [], skipped: up.left.message }
    const trials = o.scale < 1 ? 2 : COLD_TRIALS
    return yield* Effect.scoped(Effect.gen(function*() {
      const base = Servers.uniqueName("ekvbench")
      yield* Ioredis.janitor(`${base}:`)
      const out: Array<ColdTrial> = []
      for (let k = 0; k < trials; k++) {
        const order = k % 2 === 0 ? targets : [...targets].reverse()
        for (const t of order) {
          const started = performance.now()
          const trial = yield* coldTrial(t.name, base, k)
          console.log(
            `caching cold key: ${t.name} trial ${k + 1}: computed ${trial.computes}x, ${trial.ms.toFixed(0)} ms ` +
              `(${((performance.now() - started) / 1000).toFixed(1)}s with process start)`
          )
          out.push(trial)
        }
      }
      return { trials: out }
    }))
  })

// --- report ---

const signed = (n: number): string => !Number.isFinite(n) ? "-" : `${n >= 0 ? "+" : ""}${n.toFixed(2)}`

const labelOf = (w: Workload): string => WORKLOADS.find((x) => x.name === w)!.label

const verdict = (f: Figure): string =>
  f.row.goal === undefined || f.workload !== "hit" || !Number.isFinite(f.timeRatio)
    ? "-"
    : f.timeRatio <= f.row.goal
    ? "PASS"
    : "MISS"

const inProcessTable = (figs: ReadonlyArray<Figure>): string => {
  // By workload, then backend (a row added at the end of `ROWS` joins its backend's block), then `ROWS` order.
  const rank = (f: Figure) =>
    WORKLOADS.findIndex((w) => w.name === f.workload) * BACKENDS.length + BACKENDS.indexOf(f.row.backend)
  const store = figs.filter((f) => f.row.block === "store").sort((a, b) => rank(a) - rank(b))
  const peers = figs.filter((f) => f.row.block === "peers")
  // The peers' base (our MemoryStore getOrSet) is shown again at the head of each of their workloads.
  const peerRows = WORKLOADS.flatMap((w) => {
    const mine = peers.filter((f) => f.workload === w.name)
    const ours = figs.find((f) => f.row.name === OURS && f.workload === w.name)
    return mine.length === 0 ? [] : [...(ours === undefined ? [] : [{ ...ours, base: undefined }]), ...mine]
  })
  const peerBlock = (f: Figure) => `peers/${f.workload}`
  const columns = [
    { header: "workload" },
    { header: "target" },
    { header: "configured" },
    { header: "ops/s", right: true },
    { header: "spread", right: true },
    { header: "p50 µs", right: true },
    { header: "ops/s vs base", right: true },
    { header: "time vs base", right: true },
    { header: "cpu", right: true },
    { header: "+µs/call", right: true },
    { header: "goal", right: true },
    { header: "" }
  ]
  const line = (block: (f: Figure) => string) => (f: Figure) => {
    const based = f.base !== undefined
    return {
      block: block(f),
      cells: [
        labelOf(f.workload),
        f.row.name === OURS && !based ? "effect-kv MemoryStore getOrSet" : f.row.name,
        f.row.config,
        int(f.entriesPerSec),
        f.spread,
        micros(f.p50Us),
        based ? times(f.ratio) : "-",
        based ? times(f.timeRatio) : "-",
        based ? times(f.cpuTimeRatio) : "-",
        based ? signed(f.addedUs) : "-",
        f.row.goal === undefined ? "-" : `${f.row.goal}x time`,
        verdict(f)
      ]
    }
  }
  const out: Array<string> = []
  if (store.length > 0) {
    out.push("Our store: getOrSet against the plain operation of the same store (base: get on a hit, set on a miss)")
    out.push(table(columns, store.map(line((f) => `${f.row.backend}/${f.workload}`))))
  }
  if (peerRows.length > 0) {
    out.push("", "Peers on memory (base: effect-kv MemoryStore getOrSet on the same workload)")
    out.push(table(columns, peerRows.map(line(peerBlock))))
  }
  // Goal: our hit at least as fast as the fastest peer.
  const peerHits = peers.filter((f) => f.workload === "hit" && Number.isFinite(f.ratio))
  if (peerHits.length > 0) {
    const fastest = peerHits.reduce((a, b) => b.ratio > a.ratio ? b : a)
    out.push(
      "",
      `goal: our MemoryStore getOrSet hit at least as fast as the fastest peer: fastest is ${fastest.row.name} at ` +
        `${times(fastest.ratio)} our ops/s: ${fastest.ratio <= 1 ? "PASS" : "MISS"}`
    )
  }
  const held = figs.filter((f) => verdict(f) !== "-")
  for (const f of held) {
    out.push(`goal: ${f.row.name} within ${f.row.goal}x of ${f.base}: ${times(f.timeRatio)} the time: ${verdict(f)}`)
  }
  return out.join("\n")
}

const coldTable = (cold: Cold): string => {
  if (cold.skipped !== undefined) return `Cold key across processes: skipped: ${cold.skipped}`
  if (cold.trials.length === 0) return ""
  const rows = COLD_TARGETS.flatMap((t) => {
    const mine = cold.trials.filter((x) => x.target === t.name)
    return mine.length === 0 ? [] : [{ t, mine }]
  })
  const body = table(
    [
      { header: "target" },
      { header: "configured" },
      { header: "computes per trial", right: true },
      { header: "median", right: true },
      { header: "ms to all callers", right: true },
      { header: "median ms", right: true },
      { header: "callers served", right: true },
      { header: "distinct values", right: true },
      { header: "goal", right: true },
      { header: "" }
    ],
    rows.map(({ mine, t }) => ({
      block: "cold",
      cells: [
        t.name,
        t.config,
        mine.map((x) => String(x.computes)).join(" / "),
        fixed(median(mine.map((x) => x.computes)), 1),
        mine.map((x) => x.ms.toFixed(0)).join(" / "),
        int(median(mine.map((x) => x.ms))),
        `${Math.min(...mine.map((x) => x.answered))}/${WORKERS * CALLERS}`,
        mine.map((x) => String(x.distinct)).join(" / "),
        t.name === "effect-kv" ? "1 compute" : "-",
        t.name === "effect-kv" ? mine.every((x) => x.computes === 1) ? "PASS" : "MISS" : "-"
      ]
    }))
  )
  const ours = cold.trials.filter((x) => x.target === "effect-kv")
  return [
    `Cold key across processes: ${WORKERS} processes x ${CALLERS} concurrent callers, one cold key on Redis, ` +
    `compute ${COMPUTE_MS} ms`,
    body,
    "",
    "computes per trial: times the value was computed in all processes, each trial on a fresh key; ms to all",
    "callers: from the first process's release to the last caller's value; callers served: the fewest in a trial",
    "that got a value; distinct values: how many different values the 200 callers got (each process computes a value",
    "of its own: more than one means callers were served different computations).",
    ...(ours.some((x) => x.computes > 1)
      ? [
        `effect-kv computed the key ${ours.map((x) => x.computes).join(" / ")} times, not once: \`lock: true\` did not`,
        "guard the miss. (When this section was written, the getOrSet engine read, computed on a miss and wrote, with",
        "no single flight and no lease yet: every caller that missed computed.)"
      ]
      : [])
  ].join("\n")
}

const report = (figs: ReadonlyArray<Figure>, cold: Cold): string =>
  [
    inProcessTable(figs),
    "",
    `${count(SIZE)} entries of ${VALUE_BYTES} bytes; every row in the same ${TRIALS} interleaved trials.`,
    "ops/s: median trial; p50: median over trials of each trial's p50 per call; ops/s vs base: median over trials",
    "of the paired ops/s ratio (below 1x is slower than the base); time vs base: median of the paired inverse",
    "(above 1x takes longer); cpu: the same by this process's CPU time (other processes do not inflate it; goals",
    "go by the wall clock); +µs/call: median over trials of 1/ops - 1/ops_base, in µs. Peers cache a 256-char",
    "string, our store 256 bytes; no ttl anywhere. A miss is the call on a fresh key (compute returns the value at",
    "once, then the write), in rounds removed again untimed.",
    "",
    coldTable(cold)
  ].join("\n")

// --- files ---

/** The peers chart's one column, and our row's series in it. */
const PEERS_COLUMN = "memory"
const OURS_SERIES = "effect-kv"

const PALETTE = ["#d97706", "#b91c1c", "#059669", "#7c3aed", "#0891b2", "#be185d"]

/** Two bar charts from `caching.csv`: our store's rows by backend, and the peers against our MemoryStore getOrSet. */
const CHARTS = (): ReadonlyArray<Chart.Chart> => {
  const storeSeries = [...new Set(ROWS.filter((r) => r.block === "store").map((r) => r.series))]
  const peerSeries = [OURS_SERIES, ...ROWS.filter((r) => r.block === "peers").map((r) => r.series)]
  const notes = { hit: ["random present key"], miss: ["fresh key:", "compute + write"] }
  const workloads = WORKLOADS.map((w) => w.name)
  return [
    {
      name: "caching",
      title: "getOrSet against get and set of the same store",
      subtitle: `Calls per second, median trial, ${count(SIZE)} entries of ${VALUE_BYTES} bytes; a miss computes ` +
        "the value at once and writes it",
      series: storeSeries.map((series, i) => ({
        target: series,
        label: series,
        color: series === "get" || series === "set" ? Chart.FLOOR : series === "getOrSet" ? Chart.OURS : PALETTE[i % 6]!
      })),
      workloads,
      notes
    },
    {
      name: "caching-peers",
      title: "getOrSet against cacheable, bentocache and cachified, in memory",
      subtitle: `Calls per second, median trial, ${count(SIZE)} entries; each peer driven as its README shows`,
      series: peerSeries.map((series, i) => ({
        target: series,
        label: series,
        color: series === OURS_SERIES ? Chart.OURS : PALETTE[i % 6]!
      })),
      workloads,
      notes
    }
  ]
}

/** A bar of a chart and the figure it shows. */
interface Bar {
  readonly point: Chart.Point
  readonly figure: Figure
  /** Drawn as a base (our row in the peers chart): no ratio. */
  readonly asBase: boolean
}

/** The bars of both charts, the store's columns (MemoryStore, SqliteStore) first. */
const bars = (figs: ReadonlyArray<Figure>): Array<Bar> => {
  const bar = (f: Figure, target: string, column: string, asBase: boolean): Bar => ({
    point: { size: SIZE, workload: f.workload, target, opsPerSec: f.entriesPerSec, column },
    figure: f,
    asBase
  })
  const store = figs.filter((f) => f.row.block === "store")
  return [
    ...BACKENDS.flatMap((b) =>
      store.filter((f) => f.row.backend === b).map((f) => bar(f, f.row.series, b, f.base === undefined))
    ),
    ...figs.filter((f) => f.row.name === OURS).map((f) => bar(f, OURS_SERIES, PEERS_COLUMN, true)),
    ...figs.filter((f) => f.row.block === "peers").map((f) => bar(f, f.row.series, PEERS_COLUMN, false))
  ]
}

const drawCharts = (dir: string, points: ReadonlyArray<Chart.Point>, meta: Record<string, unknown>) =>
  CHARTS().flatMap((chart) => Chart.writeChart(dir, chart, points, meta))

/** The caching section. */
export const section: Section = {
  name: "caching",
  redraw: (dir) =>
    redraw(
      dir,
      "caching",
      (csv, meta) => drawCharts(dir, Chart.readCsv(csv, "column"), meta)
    ),
  run: (o) =>
    Effect.gen(function*() {
      const figs = yield* inProcess(o)
      const cold = yield* acrossProcesses(o)
      return {
        text: report(figs, cold),
        write: (dir, meta) => [
          ...writeResults(
            dir,
            "caching",
            { ...meta, trials: TRIALS, coldTrials: COLD_TRIALS },
            {
              header: [
                "size",
                "column",
                "workload",
                "target",
                "ops_per_sec",
                "p50_us",
                "p99_us",
                "block",
                "row",
                "base",
                "ratio_vs_base",
                "time_ratio_vs_base",
                "cpu_time_ratio_vs_base",
                "added_us",
                "goal",
                "verdict",
                "configured"
              ],
              rows: bars(figs).map(({ asBase, figure: f, point: p }) => [
                SIZE,
                p.column!,
                p.workload,
                p.target,
                Math.round(p.opsPerSec),
                ...latencyCsv(f),
                f.row.block,
                f.row.name,
                asBase ? "" : f.base ?? "",
                asBase ? "" : f.ratio.toFixed(3),
                asBase ? "" : f.timeRatio.toFixed(3),
                asBase ? "" : f.cpuTimeRatio.toFixed(3),
                asBase ? "" : f.addedUs.toFixed(3),
                f.row.goal ?? "",
                asBase ? "-" : verdict(f),
                f.row.config
              ])
            },
            (m) => drawCharts(dir, bars(figs).map((b) => b.point), m)
          ),
          ...(cold.trials.length === 0 ? [] : [
            writeCsv(
              path.join(dir, "caching-cold.csv"),
              [
                "target",
                "trial",
                "workers",
                "callers_per_worker",
                "compute_ms",
                "computes",
                "ms_to_all",
                "answered",
                "distinct_values"
              ],
              cold.trials.map((t) => [
                t.target,
                t.trial,
                WORKERS,
                CALLERS,
                COMPUTE_MS,
                t.computes,
                t.ms.toFixed(1),
                t.answered,
                t.distinct
              ])
            )
          ])
        ]
      }
    })
}
