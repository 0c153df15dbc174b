/**
 * Measurement primitives of `npm run bench`: a `Recorder` that keeps latency samples and throughput under a count cap
 * and a wall-clock budget, three timing loops (plain synchronous calls, awaited promises, and effects yielded inside
 * the Effect program), percentiles, and the `Fixture` every target shares: the same keys, the same 256-byte value
 * and the same seeded random read order, so each target does exactly the same work.
 */
import * as Effect from "effect/Effect"

/** How much to run: at most `maxOps` timed operations and at most `budgetMs` of timed wall clock. */
export interface Budget {
  readonly maxOps: number
  readonly budgetMs: number
}

/** The budgets of one workload: an untimed warm-up, then each of the measured trials. */
export interface Plan {
  readonly warmup: Budget
  readonly trial: Budget
}

/** Operations per phase: timed chunks alternate between per-operation timing and one timing for the chunk. */
export const CHUNK = 64

/** A point in time, by the wall clock and by this process's CPU time. */
interface Mark {
  readonly wall: number
  readonly cpu: NodeJS.CpuUsage
}

const mark = (): Mark => ({ wall: performance.now(), cpu: process.cpuUsage() })

const cpuMsSince = (m: Mark): number => {
  const used = process.cpuUsage(m.cpu)
  return (used.user + used.system) / 1000
}

/**
 * Collects the timed work of one workload. Operations alternate in chunks of `CHUNK` between two phases: a latency
 * phase that times each operation (its `performance.now()` pair costs ~0.3 µs, which would distort fast stores'
 * throughput) and a bulk phase timed as a whole, from which throughput is computed, by the wall clock and by process
 * CPU time (which other processes on a busy machine do not inflate). Cleanup between segments (removing the fresh
 * keys a round wrote) is not counted.
 */
export class Recorder {
  readonly samples: Float64Array
  /** Latency samples taken. */
  count = 0
  /** Operations run in bulk phases, and the wall and CPU time they took. */
  bulkOps = 0
  bulkMs = 0
  bulkCpuMs = 0
  /** Wall and CPU time of all timed segments. */
  wallMs = 0
  cpuMs = 0
  latencyPhase = true
  private phaseLeft = CHUNK

  constructor(readonly budget: Budget) {
    this.samples = new Float64Array(budget.maxOps)
  }

  get ops(): number {
    return this.count + this.bulkOps
  }

  get full(): boolean {
    return this.ops >= this.budget.maxOps || this.wallMs >= this.budget.budgetMs
  }

  /** Starts a timed segment. */
  open(): Mark {
    return mark()
  }

  /** Ends a timed segment started with `open`. */
  close(segment: Mark): void {
    this.wallMs += performance.now() - segment.wall
    this.cpuMs += cpuMsSince(segment)
  }

  /** Epoch (in `performance.now()` time) at which a segment starting at `segment` must stop. */
  stopAt(segment: Mark): number {
    return segment.wall + this.budget.budgetMs - this.wallMs
  }

  /** How many operations the current bulk phase still runs, at most `n`. */
  bulkSize(n: number): number {
    return Math.min(n, this.phaseLeft, this.budget.maxOps - this.ops)
  }

  /** Starts a bulk chunk. */
  startBulk(): Mark {
    return mark()
  }

  /** Ends a bulk chunk of `ops` operations started at `start`. */
  bulk(ops: number, start: Mark): void {
    this.bulkMs += performance.now() - start.wall
    this.bulkCpuMs += cpuMsSince(start)
    this.bulkOps += ops
    this.advance(ops)
  }

  sample(ms: number): void {
    this.samples[this.count++] = ms
    this.advance(1)
  }

  /** Throughput from bulk phases, or from all timed segments when too few operations ran in bulk. */
  opsPerSec(): number {
    return this.bulkOps >= CHUNK ? this.bulkOps / (this.bulkMs / 1000) : this.ops / (this.wallMs / 1000)
  }

  /** `opsPerSec` per second of this process's CPU time (all its threads: GC, the engine's worker threads). */
  cpuOpsPerSec(): number {
    return this.bulkOps >= CHUNK ? this.bulkOps / (this.bulkCpuMs / 1000) : this.ops / (this.cpuMs / 1000)
  }

  private advance(ops: number): void {
    this.phaseLeft -= ops
    if (this.phaseLeft <= 0) {
      this.latencyPhase = !this.latencyPhase
      this.phaseLeft = CHUNK
    }
  }
}

/** Times `op(0)`, `op(1)`, ... up to `n` calls while the recorder has room; returns how many ran. */
export const timeSync = (rec: Recorder, n: number, op: (i: number) => unknown): number => {
  const segment = rec.open()
  const stopAt = rec.stopAt(segment)
  let i = 0
  while (i < n && rec.ops < rec.budget.maxOps) {
    if (rec.latencyPhase) {
      const t0 = performance.now()
      op(i++)
      rec.sample(performance.now() - t0)
    } else {
      const start = rec.startBulk()
      const m = rec.bulkSize(n - i)
      for (const end = i + m; i < end;) op(i++)
      rec.bulk(m, start)
    }
    if (performance.now() >= stopAt) break
  }
  rec.close(segment)
  return i
}

/** `timeSync` for operations that return a promise, awaited one at a time. */
export const timeAsync = async (rec: Recorder, n: number, op: (i: number) => Promise<unknown>): Promise<number> => {
  const segment = rec.open()
  const stopAt = rec.stopAt(segment)
  let i = 0
  while (i < n && rec.ops < rec.budget.maxOps) {
    if (rec.latencyPhase) {
      const t0 = performance.now()
      await op(i++)
      rec.sample(performance.now() - t0)
    } else {
      const start = rec.startBulk()
      const m = rec.bulkSize(n - i)
      for (const end = i + m; i < end;) await op(i++)
      rec.bulk(m, start)
    }
    if (performance.now() >= stopAt) break
  }
  rec.close(segment)
  return i
}

/**
 * `timeSync` for effects, run inside the caller's Effect program: each operation is built and yielded in the timed
 * window (building it is part of its cost, e.g. the key check).
 */
export const timeEffect = <E>(
  rec: Recorder,
  n: number,
  op: (i: number) => Effect.Effect<unknown, E>
): Effect.Effect<number, E> =>
  Effect.gen(function*() {
    const segment = rec.open()
    const stopAt = rec.stopAt(segment)
    let i = 0
    while (i < n && rec.ops < rec.budget.maxOps) {
      if (rec.latencyPhase) {
        const t0 = performance.now()
        yield* op(i++)
        rec.sample(performance.now() - t0)
      } else {
        const start = rec.startBulk()
        const m = rec.bulkSize(n - i)
        for (const end = i + m; i < end;) yield* op(i++)
        rec.bulk(m, start)
      }
      if (performance.now() >= stopAt) break
    }
    rec.close(segment)
    return i
  })

/** The value at quantile `q` (0..1) of sorted samples (nearest rank). */
export const quantile = (sorted: Float64Array, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[rank]!
}

/** One trial of one workload on one target. */
export interface Measurement {
  readonly workload: Workload
  /** Entries written or read in timed segments (a `setMany` batch counts its entries). */
  readonly entries: number
  /** Latency samples behind p50/p99 (operations or batches). */
  readonly samples: number
  readonly opsPerSec: number
  /** Entries per second of this process's CPU time. */
  readonly cpuOpsPerSec: number
  /** Latency per entry, microseconds. */
  readonly p50Us: number
  readonly p99Us: number
}

/**
 * The workloads: single `set` of fresh keys, random `get` hits, `setMany` of `Fixture.batch` fresh entries, and
 * `getMany` of `Fixture.batch` random prefilled keys (all hits; only the targets that list it run it).
 */
export type Workload = "get" | "set" | "setMany" | "getMany"

/** Turns a recorder into a measurement; each sample covers `perSample` entries (a batch size, or 1). */
export const summarize = (workload: Workload, rec: Recorder, perSample: number): Measurement => {
  if (rec.count === 0) throw new Error(`no ${workload} sample was taken`)
  const sorted = rec.samples.slice(0, rec.count).sort()
  return {
    workload,
    entries: rec.ops * perSample,
    samples: rec.count,
    opsPerSec: rec.opsPerSec() * perSample,
    cpuOpsPerSec: rec.cpuOpsPerSec() * perSample,
    p50Us: (quantile(sorted, 0.5) * 1000) / perSample,
    p99Us: (quantile(sorted, 0.99) * 1000) / perSample
  }
}

/** A small seeded PRNG (mulberry32), so every target reads the same keys in the same order. */
export const random = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Everything a target needs to run the workloads at one store size. */
export interface Fixture {
  /** Entries present before any timed work. */
  readonly size: number
  /** The prefilled keys, `key:0` .. `key:<size-1>`. */
  readonly keys: ReadonlyArray<string>
  /** Indexes into `keys` for the random reads. */
  readonly order: Uint32Array
  /** The 256-byte value (a `Buffer`, which every engine binds without conversion). */
  readonly bytes: Buffer
  /** The 256-character value for stores that keep JSON text (Keyv). */
  readonly text: string
  /** Entries of one `setMany`. */
  readonly batch: number
  /** Fresh keys written per round before they are removed again, so the store stays near `size`. */
  readonly round: number
  readonly plans: Record<Workload, Plan>
}

/** Value size of every workload, in bytes. */
export const VALUE_BYTES = 256

/** Builds the fixture of one store size. */
export const fixture = (size: number, plans: Record<Workload, Plan>): Fixture => {
  const next = random(0x5eed + size)
  const keys = Array.from({ length: size }, (_, i) => `key:${i}`)
  const reads = Math.max(plans.get.warmup.maxOps, plans.get.trial.maxOps)
  const order = new Uint32Array(reads)
  for (let i = 0; i < reads; i++) order[i] = Math.floor(next() * size)
  const bytes = Buffer.alloc(VALUE_BYTES)
  for (let i = 0; i < VALUE_BYTES; i++) bytes[i] = Math.floor(next() * 256)
  return {
    size,
    keys,
    order,
    bytes,
    text: "v".repeat(VALUE_BYTES),
    batch: 1000,
    round: Math.max(1000, Math.floor(size / 5)),
    plans
  }
}

/**
 * A source of never-used keys for one target: each call returns the next `n`, counting on from `key:<size>`, so every
 * target writes the same keys in the same order.
 */
export const freshKeys = (fx: Fixture): (n: number) => Array<string> => {
  let counter = fx.size
  return (n) => Array.from({ length: n }, () => `key:${counter++}`)
}

/** Runs one workload of one target into a recorder (rounds of fresh writes are cleaned up untimed). */
export type Measure = (workload: Workload, rec: Recorder) => Effect.Effect<void, unknown>

/** Keys a target must find right after its prefill (first, middle, last), or the bench stops. */
export const probes = (fx: Fixture): Array<string> => [fx.keys[0]!, fx.keys[fx.size >> 1]!, fx.keys[fx.size - 1]!]

/** The failure of a target that does not find a prefilled key: its `get` figures would measure misses. */
export const missing = (key: string): Error => new Error(`a prefilled key is missing: ${key}`)

/** How many entries one latency sample of a workload covers. */
export const perSample = (fx: Fixture, workload: Workload): number =>
  workload === "setMany" || workload === "getMany" ? fx.batch : 1

/** The `getMany` batches: `fx.batch` keys each, in the random read order (so every target reads the same keys). */
export const readBatches = (fx: Fixture): Array<Array<string>> => {
  const { batch, keys, order } = fx
  const out: Array<Array<string>> = []
  for (let start = 0; start + batch <= order.length; start += batch) {
    const keysOf: Array<string> = []
    for (let i = start; i < start + batch; i++) keysOf.push(keys[order[i]!]!)
    out.push(keysOf)
  }
  return out
}

/** Splits `items` into batches of `size` (the `setMany` batches). */
export const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<Array<A>> => {
  const out: Array<Array<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
