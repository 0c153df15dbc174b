/**
 * The fan-out of `FanoutStore`: the stable shard hash (FNV-1a 32 over UTF-8 with Redis Cluster hash tags) and the
 * primitives of one store over N shard stores. Keyed primitives go to the key's shard, batches are split by shard,
 * enumeration pages are merged across shards in key order, and store-wide primitives sum over the shards. Transaction
 * regions stay per shard: the fan-out's own primitives reach each shard through that shard's gated primitives, and
 * the fan-out's gate only decides whether `make`'s synchronous fast path may run (every shard admits the fiber). A
 * fenced write goes to the shard holding its lock, which checks the lease in the write's own transaction: its keys
 * must live on that shard.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { FanoutStore } from "../../backends/FanoutStore.js"
import * as KeyValueStore from "../../KeyValueStore.js"
import { type KeyValueStoreError, Unsupported } from "../../KeyValueStoreError.js"
import * as Pattern from "../../Pattern.js"
import type * as leases from "../leases.js"
import type * as regions from "../regions.js"

/** @internal */
export const TypeId: "~effect-kv/FanoutStore" = "~effect-kv/FanoutStore" as const

const OFFSET = 0x811c9dc5
const PRIME = 0x01000193

/**
 * FNV-1a 32 of the UTF-8 bytes of `text[start, end)`, without encoding it first. A lone surrogate counts as U+FFFD,
 * as `TextEncoder` writes it (valid keys have none).
 *
 * @internal
 */
export const fnv1a32 = (text: string, start = 0, end = text.length): number => {
  let h = OFFSET
  for (let i = start; i < end; i++) {
    let c = text.charCodeAt(i)
    if (c < 0x80) {
      h = Math.imul(h ^ c, PRIME)
      continue
    }
    if (c < 0x800) {
      h = Math.imul(h ^ (0xc0 | (c >> 6)), PRIME)
      h = Math.imul(h ^ (0x80 | (c & 0x3f)), PRIME)
      continue
    }
    if (c >= 0xd800 && c < 0xe000) {
      const d = i + 1 < end ? text.charCodeAt(i + 1) : 0
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
        h = Math.imul(h ^ (0xf0 | (cp >> 18)), PRIME)
        h = Math.imul(h ^ (0x80 | ((cp >> 12) & 0x3f)), PRIME)
        h = Math.imul(h ^ (0x80 | ((cp >> 6) & 0x3f)), PRIME)
        h = Math.imul(h ^ (0x80 | (cp & 0x3f)), PRIME)
        continue
      }
      c = 0xfffd
    }
    h = Math.imul(h ^ (0xe0 | (c >> 12)), PRIME)
    h = Math.imul(h ^ (0x80 | ((c >> 6) & 0x3f)), PRIME)
    h = Math.imul(h ^ (0x80 | (c & 0x3f)), PRIME)
  }
  return h >>> 0
}

/**
 * The hash tag of `text` as Redis Cluster finds it: the characters between the first `{` and the first `}` after it,
 * when there is at least one; otherwise undefined (the whole key is hashed).
 *
 * @internal
 */
export const hashTag = (text: string): readonly [start: number, end: number] | undefined => {
  const open = text.indexOf("{")
  if (open < 0) return undefined
  const close = text.indexOf("}", open + 1)
  return close > open + 1 ? [open + 1, close] : undefined
}

/**
 * The hash that places `key`: FNV-1a 32 of its hash tag, or of the whole key without one.
 *
 * @internal
 */
export const keyHash = (key: string): number => {
  const tag = hashTag(key)
  return tag === undefined ? fnv1a32(key) : fnv1a32(key, tag[0], tag[1])
}

/**
 * The shard of `key` among `shards`.
 *
 * @internal
 */
export const shardIndex = (key: string, shards: number): number => shards === 1 ? 0 : keyHash(key) % shards

/**
 * The one shard holding every key that starts with `prefix`, when the prefix contains a whole hash tag (every such
 * key has that tag); otherwise undefined.
 *
 * @internal
 */
export const shardOfPrefix = (prefix: string, shards: number): number | undefined =>
  hashTag(prefix) === undefined ? undefined : shardIndex(prefix, shards)

type Scan<R> = (range: KeyValueStore.ScanRange, now: number) => Effect.Effect<ReadonlyArray<R>, KeyValueStoreError>

/**
 * One page of the fan-out: the `limit` smallest rows after the cursor among all shards. Each shard is read a little
 * beyond its fair share of the page first, and read again from its last row only when the merge has taken all of
 * it, so every shard that may still hold a smaller row has one waiting whenever the merge picks the next row.
 *
 * @internal
 */
export const mergedPage = <R>(
  scans: ReadonlyArray<Scan<R>>,
  keyOf: (row: R) => string,
  range: KeyValueStore.ScanRange,
  now: number
): Effect.Effect<ReadonlyArray<R>, KeyValueStoreError> =>
  Effect.gen(function*() {
    const want = range.limit
    const batch = Math.min(want, Math.ceil(want * 1.25 / scans.length) + 8)
    const buffers: Array<ReadonlyArray<R>> = []
    const positions: Array<number> = []
    const exhausted: Array<boolean> = []
    for (const scan of scans) {
      const rows = yield* scan({ prefix: range.prefix, after: range.after, limit: batch }, now)
      buffers.push(rows)
      positions.push(0)
      exhausted.push(rows.length < batch)
    }
    const page: Array<R> = []
    while (page.length < want) {
      let best = -1
      let bestKey = ""
      for (let i = 0; i < buffers.length; i++) {
        const row = buffers[i]![positions[i]!]
        if (row === undefined) continue
        const key = keyOf(row)
        if (best < 0 || Pattern.compareKeys(key, bestKey) < 0) {
          best = i
          bestKey = key
        }
      }
      if (best < 0) break
      page.push(buffers[best]![positions[best]!++]!)
      if (positions[best] === buffers[best]!.length && !exhausted[best] && page.length < want) {
        const limit = Math.min(batch, want - page.length)
        const rows = yield* scans[best]!({ prefix: range.prefix, after: bestKey, limit }, now)
        buffers[best] = rows
        positions[best] = 0
        exhausted[best] = rows.length < limit
      }
    }
    return page
  })

const sum = (counts: ReadonlyArray<number>): number => counts.reduce((a, b) => a + b, 0)

// Runs `f` on each shard (one after the other: the engines answer synchronously) and sums the counts.
const summed = <P>(
  ps: ReadonlyArray<P>,
  f: (p: P) => Effect.Effect<number, KeyValueStoreError>
): Effect.Effect<number, KeyValueStoreError> => Effect.map(Effect.forEach(ps, f), sum)

/** The positions of `items` grouped by the store (`storeOf` of their key), in order within each store. */
export const byStore = <A>(
  items: ReadonlyArray<A>,
  keyOf: (a: A) => string,
  storeOf: (key: string) => number
): Map<number, Array<number>> => {
  const groups = new Map<number, Array<number>>()
  items.forEach((item, i) => {
    const s = storeOf(keyOf(item))
    const group = groups.get(s)
    if (group === undefined) groups.set(s, [i])
    else group.push(i)
  })
  return groups
}

// The positions of `items` grouped by the shard of their key, in order within each shard.
const byShard = <A>(items: ReadonlyArray<A>, keyOf: (a: A) => string, shards: number): Map<number, Array<number>> =>
  byStore(items, keyOf, (key) => shardIndex(key, shards))

/** `getMany` over several stores: one batch per store (`storeOf` of each key), answers in the order asked. */
export const getManyByStore = (
  ps: ReadonlyArray<KeyValueStore.Primitives>,
  keys: ReadonlyArray<string>,
  now: number,
  storeOf: (key: string) => number
): Effect.Effect<Array<Option.Option<Uint8Array>>, KeyValueStoreError> =>
  Effect.gen(function*() {
    const found: Array<Option.Option<Uint8Array>> = new Array(keys.length)
    for (const [s, positions] of byStore(keys, (key) => key, storeOf)) {
      const p = ps[s]!
      const list = positions.map((i) => keys[i]!)
      const values = p.getMany
        ? yield* p.getMany(list, now)
        : yield* Effect.forEach(list, (key) => p.get(key, now))
      positions.forEach((i, j) => {
        found[i] = values[j]!
      })
    }
    return found
  })

const identity = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => effect

const expiredLine = /^removed (\d+) expired entr(?:y|ies)$/

const expiredRepair = (n: number): string => `removed ${n} expired ${n === 1 ? "entry" : "entries"}`

/**
 * The reports of every shard's `check` as one: lists concatenated (engine lines, repairs and unrepairable damage
 * prefixed with the shard when there are several), the shards' removals of expired entries as one repair line, counts summed, counter drift
 * as the total distance from a recount (absolute values summed over the shards that drifted, so opposite drifts do not
 * cancel), `ok` when every shard is.
 *
 * @internal
 */
export const combineChecks = (
  reports: ReadonlyArray<KeyValueStore.CheckReport>
): KeyValueStore.CheckReport => {
  const label = (i: number, line: string) => reports.length === 1 ? line : `shard ${i}: ${line}`
  const sound = reports.every((r) => r.engine.length === 1 && r.engine[0] === "ok")
  const drifts = reports.flatMap((r) => r.counterDrift === undefined ? [] : [r.counterDrift])
  let expired = 0
  const unrepairable = reports.flatMap((r, i) => (r.unrepairable ?? []).map((line) => label(i, line)))
  const fixed = reports.flatMap((r, i) =>
    r.fixed.flatMap((line) => {
      const removed = expiredLine.exec(line)
      if (removed === null) return [label(i, line)]
      expired += Number(removed[1])
      return []
    })
  )
  return {
    ok: reports.every((r) => r.ok),
    engine: sound ? ["ok"] : reports.flatMap((r, i) => r.engine.map((line) => label(i, line))),
    orphanedFiles: reports.flatMap((r) => r.orphanedFiles),
    danglingRows: reports.flatMap((r) => r.danglingRows),
    counterDrift: drifts.length === 0
      ? undefined
      : drifts.length === 1
      ? drifts[0]
      : { entries: sum(drifts.map((d) => Math.abs(d.entries))), bytes: sum(drifts.map((d) => Math.abs(d.bytes))) },
    expiredPending: sum(reports.map((r) => r.expiredPending)),
    fixed: expired === 0 ? fixed : [expiredRepair(expired), ...fixed],
    ...(unrepairable.length === 0 ? {} : { unrepairable })
  }
}

// Each shard checks (and with `fix` repairs) itself: its options are checked before anything changes, and a shard
// whose engine reports damage repairs nothing.
const check = (
  ps: ReadonlyArray<KeyValueStore.Primitives>,
  options: KeyValueStore.CheckOptions | undefined
): Effect.Effect<KeyValueStore.CheckReport, KeyValueStoreError> =>
  Effect.map(Effect.forEach(ps, (p) => p.check!(options)), combineChecks)

/**
 * The primitives of one store over `shards` (at least one, all of one backend and options).
 *
 * @internal
 */
export const primitives = (shards: ReadonlyArray<KeyValueStore.Service>): KeyValueStore.Primitives => {
  const n = shards.length
  const ps = shards.map((shard) => shard.primitives)
  const first = ps[0]!
  const at = (key: string): KeyValueStore.Primitives => ps[shardIndex(key, n)]!
  const every = (name: keyof KeyValueStore.Primitives): boolean => ps.every((p) => p[name] !== undefined)
  // The shards a range can hold keys of: one when its prefix has a hash tag, every one otherwise.
  const shardsOf = (range: KeyValueStore.KeyRange): ReadonlyArray<KeyValueStore.Primitives> => {
    const only = shardOfPrefix(range.prefix, n)
    return only === undefined ? ps : [ps[only]!]
  }
  const scanWith = <R>(
    scanOf: (p: KeyValueStore.Primitives) => Scan<R>,
    keyOf: (row: R) => string
  ): Scan<R> =>
  (range, now) => {
    const targets = shardsOf(range)
    return targets.length === 1
      ? scanOf(targets[0]!)(range, now)
      : mergedPage(targets.map(scanOf), keyOf, range, now)
  }

  const unsafes = ps.map((p) => p.unsafe)
  const unsafe = unsafes.every((u) => u !== undefined)
    ? {
      get: (key: string, now: number) => unsafes[shardIndex(key, n)]!.get(key, now),
      set: (key: string, value: Uint8Array, write: KeyValueStore.Write, now: number) =>
        unsafes[shardIndex(key, n)]!.set(key, value, write, now),
      has: (key: string, now: number) => unsafes[shardIndex(key, n)]!.has(key, now),
      remove: (key: string, now: number) => unsafes[shardIndex(key, n)]!.remove(key, now)
    }
    : undefined

  // Each shard's primitives already wait for that shard's transaction regions (`make` gates the primitives it
  // exposes), so the fan-out's gate holds nothing back itself: it only keeps a fiber that some shard does not admit
  // off the synchronous fast path, whose calls skip the shards' gates. Guarding with every shard's gate instead would
  // make two fibers holding regions on two shards wait for each other on any fan-out operation. A fiber in a region
  // of any shard counts as in a region of the fan-out (so `lock` refuses to take a lease there, whichever shard the
  // lease lives on).
  const gates = ps.flatMap((p) => p.gate === undefined ? [] : [p.gate])
  const gate: regions.Gate | undefined = gates.length === 0 ? undefined : {
    admits: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => gates.every((g) => g.admits(fiber)),
    guard: identity,
    inRegion: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => gates.some((g) => g.inRegion(fiber))
  }

  // A fenced write runs on the shard of its lock's lease (the shard checks it atomically with the write), so every key
  // it touches must live there; otherwise `Unsupported` (give the keys the lock name's hash tag).
  const onFenceShard = <A>(
    method: string,
    key: string | undefined,
    keys: ReadonlyArray<string>,
    fence: KeyValueStore.Fence,
    f: (p: KeyValueStore.Primitives) => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> => {
    const s = shardIndex(fence.name, n)
    return keys.every((k) => shardIndex(k, n) === s)
      ? f(ps[s]!)
      : Effect.fail(new Unsupported({ method, key, backend: "fanout" }))
  }

  const tables = ps.map((p) => p.leases)
  const leaseTable: leases.LeaseTable | undefined = tables.every((t) => t !== undefined)
    ? {
      origin: {},
      prefix: "",
      acquire: (name, owner, holders, now, expiresAt) =>
        tables[shardIndex(name, n)]!.acquire(name, owner, holders, now, expiresAt),
      renew: (name, owner, now, expiresAt) => tables[shardIndex(name, n)]!.renew(name, owner, now, expiresAt),
      release: (name, owner) => tables[shardIndex(name, n)]!.release(name, owner)
    }
    : undefined

  return {
    backend: "fanout",
    capabilities: {
      ...first.capabilities,
      transactions: false,
      fencedWrites: ps.every((p) => p.capabilities.fencedWrites)
    },
    separator: first.separator,
    maxKeyBytes: first.maxKeyBytes,
    maxValueBytes: first.maxValueBytes,
    get: (key, now) => at(key).get(key, now),
    getEntry: (key, now) => at(key).getEntry(key, now),
    set: (key, value, write, now, fence) =>
      fence === undefined
        ? at(key).set(key, value, write, now)
        : onFenceShard("set", key, [key], fence, (p) => p.set(key, value, write, now, fence)),
    remove: (key, now, fence) =>
      fence === undefined
        ? at(key).remove(key, now)
        : onFenceShard("remove", key, [key], fence, (p) => p.remove(key, now, fence)),
    modify: (key, now, f, fence) =>
      fence === undefined
        ? at(key).modify(key, now, f)
        : onFenceShard("modify", key, [key], fence, (p) => p.modify(key, now, f, fence)),
    expire: (now) => summed(ps, (p) => p.expire(now)),
    clear: Effect.forEach(ps, (p) => p.clear, { discard: true }),
    size: (now) => summed(ps, (p) => p.size(now)),
    has: (key, now) => {
      const p = at(key)
      return p.has ? p.has(key, now) : Effect.map(p.get(key, now), Option.isSome)
    },
    unsafe,
    getMany: (keys, now) => getManyByStore(ps, keys, now, (key) => shardIndex(key, n)),
    setMany: (entries, now, fence) =>
      fence !== undefined
        ? onFenceShard(
          "setMany",
          undefined,
          entries.map((entry) => entry.key),
          fence,
          (p) =>
            p.setMany
              ? p.setMany(entries, now, fence)
              : Effect.fail(new Unsupported({ method: "setMany", backend: "fanout" }))
        )
        : Effect.forEach(byShard(entries, (entry) => entry.key, n), ([s, positions]) => {
          const p = ps[s]!
          const list = positions.map((i) => entries[i]!)
          return p.setMany
            ? p.setMany(list, now)
            : Effect.forEach(list, (entry) => p.set(entry.key, entry.value, entry.write, now), { discard: true })
        }, { discard: true }),
    removeMany: (keys, now, fence) =>
      fence !== undefined
        ? onFenceShard(
          "removeMany",
          undefined,
          keys,
          fence,
          (p) =>
            p.removeMany
              ? p.removeMany(keys, now, fence)
              : Effect.fail(new Unsupported({ method: "removeMany", backend: "fanout" }))
        )
        : summed(Array.from(byShard(keys, (key) => key, n)), ([s, positions]) => {
          const p = ps[s]!
          const list = positions.map((i) => keys[i]!)
          return p.removeMany
            ? p.removeMany(list, now)
            : summed(list, (key) => Effect.map(p.remove(key, now), (removed) => removed ? 1 : 0))
        }),
    expiresAt: every("expiresAt") ? (key, now) => at(key).expiresAt!(key, now) : undefined,
    touch: every("touch")
      ? (key, expiresAt, now, fence) =>
        fence === undefined
          ? at(key).touch!(key, expiresAt, now)
          : onFenceShard("touch", key, [key], fence, (p) => p.touch!(key, expiresAt, now, fence))
      : undefined,
    volume: every("volume") ? summed(ps, (p) => p.volume!) : undefined,
    counters: () => summedCounters(ps),
    resetCounters: () => resetCounters(ps),
    scanKeys: every("scanKeys") ? scanWith((p) => p.scanKeys!, (key) => key) : undefined,
    scanEntries: every("scanEntries") ? scanWith((p) => p.scanEntries!, (row) => row[0]) : undefined,
    countRange: every("countRange")
      ? (range, now) => summed(shardsOf(range), (p) => p.countRange!(range, now))
      : undefined,
    removeRange: every("removeRange")
      ? (range, now) => summed(shardsOf(range), (p) => p.removeRange!(range, now))
      : undefined,
    removeTag: every("removeTag")
      ? (tag, now, range) => summed(range === undefined ? ps : shardsOf(range), (p) => p.removeTag!(tag, now, range))
      : undefined,
    gate,
    leases: leaseTable,
    check: every("check") ? (options) => check(ps, options) : undefined
  }
}

/**
 * The fan-out store over `shards`, with its shards and the routing of a key to its shard.
 *
 * @internal
 */
export const make = (shards: ReadonlyArray<KeyValueStore.Service>): FanoutStore => {
  if (shards.length === 0) throw new Error("effect-kv: a fan-out needs at least one shard")
  const n = shards.length
  return {
    ...KeyValueStore.make(primitives(shards)),
    [TypeId]: TypeId,
    shards,
    shardOf: (key) => shards[shardIndex(key, n)]!
  }
}

/** The backend counters of stores over several stores: evictions and expirations summed over `ps`. */
export const summedCounters = (
  ps: ReadonlyArray<KeyValueStore.Primitives>
): { evictions: number; expirations: number } => {
  let evictions = 0
  let expirations = 0
  for (const p of ps) {
    const counted = p.counters?.()
    evictions += counted?.evictions ?? 0
    expirations += counted?.expirations ?? 0
  }
  return { evictions, expirations }
}

/** Resets the backend counters of every store of `ps`. */
export const resetCounters = (ps: ReadonlyArray<KeyValueStore.Primitives>): void => {
  for (const p of ps) p.resetCounters?.()
}
