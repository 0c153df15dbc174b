/**
 * An in-memory `KeyValueStore`: the reference implementation, the model of the property tests, and the store to
 * provide in tests. Expiry follows Effect's `Clock`, so `TestClock.adjust` expires entries without real sleeps. Entries
 * with a ttl are also kept by expiry time (a B+ tree), so expired ones are found oldest first in O(log n): every write
 * that sets an expiry removes up to two expired entries (more than it can leave behind, so a stream of short-lived
 * keys never piles up, whatever its rate and whether the sweeper runs or not), and a scoped sweeper (`SweepOptions`:
 * bounded slices, driven by `Clock`) removes the rest once writes stop. Keys
 * are also kept in a sorted index (a B+ tree in UTF-8 byte order) that new keys join when the next enumeration starts,
 * so `keys` and `entries` read a page in O(log n + page) while writes that never meet an enumeration do not pay for
 * the order. Optional limits (`maxEntries`, `maxSize`) are enforced inside every write: expired entries go first, then
 * the `eviction` policy's victims, each found in constant or logarithmic time. Transaction regions keep an undo
 * journal of the cells they change: a rollback restores every entry, its tags and the counts; an entry it restores
 * counts as just used in the eviction order (a rolled-back `clear` restores the order exactly).
 *
 * Bytes: the store keeps its own copy of every value written (made once: `set` copies in the step that writes, and a
 * batch keeps the private copies `KeyValueStore.make` made while checking it) and hands every read a fresh copy, so
 * neither the buffer a caller wrote nor the one a read returned can change a stored value. Stored values up to 2 KiB
 * live in 64 KiB slabs of the store's own (not an `ArrayBuffer` each), compacted in one pass once overwrites and
 * removals leave them more than half empty; larger values get bytes of their own. Copies handed out come from Node's
 * buffer pool.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import SortedBTree from "sorted-btree"
import * as leases from "../internal/leases.js"
import { type Counts, restoreCounts } from "../internal/regions.js"
import * as Regions from "../internal/regions.js"
import * as sweeper from "../internal/sweeper.js"
import * as validate from "../internal/validate.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import { BackendError, InvalidArgument, LockLost, StoreFull, ValueTooLarge } from "../KeyValueStoreError.js"
import * as Pattern from "../Pattern.js"

/**
 * Options of a memory store. Without `maxEntries` or `maxSize` nothing is ever evicted. With them, a write that
 * returns success leaves at most `maxEntries` live entries and at most `maxSize` bytes of values: expired entries are
 * removed first (counted in `stats.expirations`), then `eviction` picks live victims (counted in `stats.evictions`;
 * default `"lru"`, where reads that return the entry and writes count as uses; from 64 entries on, a read of an entry
 * among the most recently used quarter leaves it where it is, so such an entry is never among the next quarter of
 * victims and hot reads cost no reordering), never the entry being written. With
 * `"none"`, such a write fails with `StoreFull` instead. A value larger than `maxSize` fails with `ValueTooLarge`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends KeyValueStore.StoreOptions, KeyValueStore.SweepOptions, KeyValueStore.LimitOptions {}

interface Cell {
  /** A view of one of the store's slabs (small values) or bytes of its own; moved when the slabs are compacted. */
  value: Uint8Array
  readonly expiresAt: number | null
  readonly tags: ReadonlyArray<string>
  readonly metadata: KeyValueStore.Metadata | null
  readonly createdAt: number
  readonly updatedAt: number
  /** Whether the key is in the sorted index yet (otherwise it waits in the queue of new keys). */
  indexed: boolean
  /** When the key last moved to the end of the map's order (`"lru"`, `"lrs"`): a count of such moves. */
  stamp: number
}

/**
 * What a memory store can do: everything but persistence, sharing across processes and volume. Its `check` finds
 * expired entries pending and byte-total drift (there is no engine or file to check).
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: KeyValueStore.Capabilities = {
  persistent: false,
  expiry: true,
  eviction: true,
  crossProcess: false,
  orderedKeys: true,
  enumeration: true,
  tags: true,
  metadata: true,
  transactions: true,
  locks: true,
  check: true,
  volume: false,
  fencedWrites: true
}

// sorted-btree is CommonJS with `exports.default`: Node's ESM loader hands over the exports object, a bundler may
// hand over the class itself.
const BTree = ((SortedBTree as { readonly default?: unknown }).default ?? SortedBTree) as typeof SortedBTree.default
type BTree<K, V> = SortedBTree.default<K, V>

// What callers hand in and what they are handed out are never the store's own bytes: a value is copied in and every
// read that gives bytes out (`get`, `getMany`, `getEntry`, `entries`, `modify`'s view) copies them out, so no caller
// can change a stored value by writing into a buffer. Copies handed out come from Node's buffer pool, which allocates
// them several times faster than a `Uint8Array` of their own; stored copies go to the store's own slabs (`make`).
const copy = (bytes: Uint8Array): Uint8Array => {
  const out = Buffer.allocUnsafe(bytes.byteLength)
  out.set(bytes)
  return out
}
const isLive = (cell: Cell, now: number): boolean => cell.expiresAt === null || cell.expiresAt > now

// JavaScript compares strings by UTF-16 code unit, which differs from code point (= UTF-8 byte) order only from
// U+D800 up: U+FF21 sorts after U+1F600 (a surrogate pair). Moving the surrogates above U+E000..U+FFFF gives an index
// key whose plain comparison is UTF-8 byte order; it maps unit by unit, so prefixes stay prefixes. Other keys are
// their own index key, at the cost of one regex test.
const highUnit = /[\uD800-\uFFFF]/

const orderKey = (key: string): string => highUnit.test(key) ? shiftHighUnits(key) : key

const shiftHighUnits = (key: string): string => {
  const units = new Array<number>(key.length)
  for (let i = 0; i < key.length; i++) {
    const unit = key.charCodeAt(i)
    units[i] = unit < 0xD800 ? unit : unit < 0xE000 ? unit + 0x2000 : unit - 0x800
  }
  let out = ""
  for (let i = 0; i < units.length; i += 4096) out += String.fromCharCode(...units.slice(i, i + 4096))
  return out
}

const compareStrings = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
const compareNumbers = (a: number, b: number): number => a - b

/** Values up to this size are kept in the store's slabs of `SLAB` bytes; larger ones in an ArrayBuffer of their own. */
const SMALL = 2048
const SLAB = 64 * 1024

/** The key, or keys of a batch, being written: never a victim of their own write. */
type Except = string | ReadonlyMap<string, unknown> | undefined

const spared = (key: string, except: Except): boolean =>
  except !== undefined && (typeof except === "string" ? key === except : except.has(key))

// The entries with a ttl by expiry time (the key, or a set of the keys expiring in the same millisecond), so that
// the sweeper, writes and limits find the entry that expired first in O(log n).
class Expiries {
  private readonly tree: BTree<number, string | Set<string>> = new BTree(undefined, compareNumbers)
  add(at: number, key: string): void {
    if (this.tree.setIfNotPresent(at, key)) return
    const keys = this.tree.get(at)!
    if (typeof keys !== "string") keys.add(key)
    else if (keys !== key) this.tree.set(at, new Set([keys, key]))
  }
  delete(at: number, key: string): void {
    const keys = this.tree.get(at)
    if (keys === undefined) return
    if (typeof keys === "string" ? keys === key : keys.delete(key) && keys.size === 0) this.tree.delete(at)
  }
  /** The entry that expired first, other than the key or keys being written. */
  expired(now: number, except: Except): string | undefined {
    const first = this.tree.minKey()
    if (first === undefined || first > now) return undefined
    for (const [at, keys] of this.tree.entries(first)) {
      if (at > now) return undefined
      if (typeof keys === "string") {
        if (!spared(keys, except)) return keys
      } else {
        for (const key of keys) if (!spared(key, except)) return key
      }
    }
    return undefined
  }
  clear(): void {
    this.tree.clear()
  }
}

/** Where the search for the oldest key of an insertion-ordered collection resumes. */
interface Oldest {
  cursor: Iterator<string> | undefined
}

// The oldest key other than `except` (the key being written, always the newest). Keys leave such a collection from
// the front, and a fresh iterator would step over all their deleted slots again on every call: a cursor kept between
// calls steps over each once. It consumes what it yields, which is right for a victim that is removed at once.
const oldest = (state: Oldest, keys: () => Iterator<string>, except: string): string | undefined => {
  for (let attempt = 0; attempt < 2; attempt++) {
    state.cursor ??= keys()
    for (let next = state.cursor.next(); !next.done; next = state.cursor.next()) {
      if (next.value !== except) return next.value
    }
    state.cursor = undefined
  }
  return undefined
}

interface Bucket extends Oldest {
  readonly uses: number
  /** In order of last use: a key enters its bucket when it is used. */
  readonly keys: Set<string>
  prev: Bucket | undefined
  next: Bucket | undefined
}

// Use counts for "lfu" as a list of buckets in ascending count (the constant-time LFU): a use moves a key to the next
// bucket, the victim is the first key of the first bucket, the least recently used among the least used.
class Frequencies {
  private head: Bucket | undefined = undefined
  private readonly bucketOf = new Map<string, Bucket>()
  add(key: string): void {
    const head = this.head
    if (head !== undefined && head.uses === 1) {
      head.keys.add(key)
      this.bucketOf.set(key, head)
      return
    }
    const bucket: Bucket = { uses: 1, keys: new Set([key]), prev: undefined, next: head, cursor: undefined }
    if (head !== undefined) head.prev = bucket
    this.head = bucket
    this.bucketOf.set(key, bucket)
  }
  use(key: string): void {
    const from = this.bucketOf.get(key)
    if (from === undefined) return
    let to = from.next
    if (to === undefined || to.uses !== from.uses + 1) {
      to = { uses: from.uses + 1, keys: new Set(), prev: from, next: to, cursor: undefined }
      if (from.next !== undefined) from.next.prev = to
      from.next = to
    }
    to.keys.add(key)
    this.bucketOf.set(key, to)
    this.leave(from, key)
  }
  delete(key: string): void {
    const bucket = this.bucketOf.get(key)
    if (bucket === undefined) return
    this.bucketOf.delete(key)
    this.leave(bucket, key)
  }
  victim(except: string): string | undefined {
    for (let bucket = this.head; bucket !== undefined; bucket = bucket.next) {
      const keys = bucket.keys
      const key = oldest(bucket, () => keys.keys(), except)
      if (key !== undefined) return key
    }
    return undefined
  }
  clear(): void {
    this.head = undefined
    this.bucketOf.clear()
  }
  private leave(bucket: Bucket, key: string): void {
    bucket.keys.delete(key)
    if (bucket.keys.size > 0) return
    if (bucket.prev === undefined) this.head = bucket.next
    else bucket.prev.next = bucket.next
    if (bucket.next !== undefined) bucket.next.prev = bucket.prev
  }
}

/**
 * Builds a memory store whose sweeper lives as long as the scope.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { MemoryStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* MemoryStore.make({ maxEntries: 10_000, eviction: "lfu" })
 *   yield* store.set("a", "1")
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<KeyValueStore.Service, InvalidArgument, Scope.Scope> =>
  Effect.gen(function*() {
    const invalid = validate.checkStoreOptions(options)
    if (invalid !== undefined) return yield* invalid
    const sweep = sweeper.settings(options)
    if (sweep instanceof InvalidArgument) return yield* sweep
    const limits = validate.checkLimits(options)
    if (limits instanceof InvalidArgument) return yield* limits
    const { maxEntries, maxSize, policy } = limits
    const limited = maxEntries !== undefined || maxSize !== undefined
    const evicts = limited && policy !== "none"

    const map = new Map<string, Cell>()
    // Index key (see `orderKey`) to key. It changes only when a key enters or leaves the map, and lazily: a new key
    // waits in `pending` until the next enumeration merges the queue (O(log n) per key, paid once), so writes pay one
    // array push. The queue is compacted when stale entries (keys removed again) make it outgrow the map.
    const index: BTree<string, string> = new BTree(undefined, compareStrings)
    const pending: Array<string> = []
    // Tag to the keys carrying it, so `removeTag` visits only those entries.
    const tagged = new Map<string, Set<string>>()
    const tag = (key: string, tags: ReadonlyArray<string>): void => {
      for (const name of tags) {
        const keys = tagged.get(name)
        if (keys === undefined) tagged.set(name, new Set([key]))
        else keys.add(key)
      }
    }
    const untag = (key: string, tags: ReadonlyArray<string>): void => {
      for (const name of tags) {
        const keys = tagged.get(name)
        if (keys !== undefined && keys.delete(key) && keys.size === 0) tagged.delete(name)
      }
    }
    const counters = { evictions: 0, expirations: 0 }
    // Every entry with a ttl, by expiry: the sweeper, writes and limits remove expired entries oldest first.
    const expiries = new Expiries()
    // Limit bookkeeping, kept only when a limit is set. "lru" and "lrs" keep the map in recency order (a use
    // re-inserts the key), "lfu" keeps use counts.
    const frequencies = evicts && policy === "lfu" ? new Frequencies() : undefined
    const recentOnRead = evicts && policy === "lru"
    const recentOnWrite = evicts && (policy === "lru" || policy === "lrs")
    let bytes = 0
    // Small values live in slabs of their own (a `Uint8Array` per value would cost an ArrayBuffer and its backing
    // store, about 1.6x the memory of a 256-byte value; Node's shared pool would mix them with short-lived buffers,
    // whose holes keep slabs alive). A slab is filled in order and freed by the GC once no value refers to it; when
    // the slabs hold more than twice the live small values (overwritten and removed ones leave holes), every live
    // small value is copied into fresh slabs, which costs one pass over the entries after at least as many bytes
    // were freed as are live: constant time per write on average.
    let slab: Buffer | undefined
    let slabAt = 0
    let slabBytes = 0
    let slabLive = 0
    let compacting = false
    const keep = (value: Uint8Array, owned: boolean): Uint8Array => {
      const n = value.byteLength
      if (n > SMALL) {
        if (owned) return value
        const own = Buffer.allocUnsafeSlow(n)
        own.set(value)
        return own
      }
      if (slab === undefined || slabAt + n > SLAB) {
        if (!compacting && slabBytes > 2 * slabLive + 4 * SLAB) compactSlabs()
        if (slab === undefined || slabAt + n > SLAB) {
          slab = Buffer.allocUnsafeSlow(SLAB)
          slabAt = 0
          slabBytes += SLAB
        }
      }
      const out = slab.subarray(slabAt, slabAt + n)
      out.set(value)
      // Views start on 8-byte boundaries.
      slabAt += (n + 7) & ~7
      return out
    }
    const compactSlabs = (): void => {
      compacting = true
      slab = undefined
      slabBytes = 0
      for (const cell of map.values()) if (cell.value.byteLength <= SMALL) cell.value = keep(cell.value, false)
      compacting = false
    }
    const live = (value: Uint8Array): number => value.byteLength <= SMALL ? (value.byteLength + 7) & ~7 : 0
    // Moves of a key to the end of the map's order, counted (see `Cell.stamp` and `read`).
    let moves = 0
    const recency: Oldest = { cursor: undefined }
    const mapKeys = () => map.keys()

    // The undo journal of an open transaction region: for every change, the key's previous cell (undefined: absent),
    // and where each nesting level starts in it. Undefined when no region is open, so writes pay one comparison.
    // A `clear` is one record holding every entry in map order, so its undo restores the recency order too.
    let journal: Array<readonly [string, Cell | undefined] | ReadonlyArray<readonly [string, Cell]>> | undefined
    const levels: Array<readonly [journalLength: number, counts: Counts]> = []

    const insert = (key: string, cell: Cell): void => {
      if (journal !== undefined) journal.push([key, undefined])
      map.set(key, cell)
      cell.stamp = ++moves
      if (cell.tags.length > 0) tag(key, cell.tags)
      if (pending.push(key) > 2 * map.size + 1024) compact()
      if (cell.expiresAt !== null) expiries.add(cell.expiresAt, key)
      slabLive += live(cell.value)
      if (limited) {
        bytes += cell.value.byteLength
        frequencies?.add(key)
      }
    }

    // An expired `previous` is replaced like a new entry: its use count starts again.
    const replace = (key: string, previous: Cell, cell: Cell, wasLive: boolean): void => {
      if (journal !== undefined) journal.push([key, previous])
      cell.indexed = previous.indexed
      if (recentOnWrite) {
        map.delete(key)
        cell.stamp = ++moves
      } else cell.stamp = previous.stamp
      map.set(key, cell)
      if (previous.tags !== cell.tags) {
        untag(key, previous.tags)
        tag(key, cell.tags)
      }
      if (previous.expiresAt !== cell.expiresAt) {
        if (previous.expiresAt !== null) expiries.delete(previous.expiresAt, key)
        if (cell.expiresAt !== null) expiries.add(cell.expiresAt, key)
      }
      slabLive += live(cell.value) - live(previous.value)
      if (limited) {
        bytes += cell.value.byteLength - previous.value.byteLength
        if (frequencies !== undefined) {
          if (wasLive) frequencies.use(key)
          else {
            frequencies.delete(key)
            frequencies.add(key)
          }
        }
      }
    }

    const drop = (key: string, cell: Cell): void => {
      if (journal !== undefined) journal.push([key, cell])
      map.delete(key)
      if (cell.tags.length > 0) untag(key, cell.tags)
      if (cell.indexed) index.delete(orderKey(key))
      if (cell.expiresAt !== null) expiries.delete(cell.expiresAt, key)
      slabLive -= live(cell.value)
      if (limited) {
        bytes -= cell.value.byteLength
        frequencies?.delete(key)
      }
    }

    // Sorted first: a B+ tree takes keys in ascending order several times faster than in random order.
    const flush = (): void => {
      if (pending.length === 0) return
      const ordered: Array<string> = []
      const keyOf = new Map<string, string>()
      for (const key of pending) {
        const cell = map.get(key)
        if (cell !== undefined && !cell.indexed) {
          cell.indexed = true
          const at = orderKey(key)
          if (at !== key) keyOf.set(at, key)
          ordered.push(at)
        }
      }
      pending.length = 0
      ordered.sort()
      for (const at of ordered) index.set(at, keyOf.get(at) ?? at)
    }

    const compact = (): void => {
      const queued = new Set<string>()
      for (const key of pending) {
        const cell = map.get(key)
        if (cell !== undefined && !cell.indexed) queued.add(key)
      }
      pending.length = 0
      for (const key of queued) pending.push(key)
    }

    // The entry if live; an expired one is removed on the way.
    const lookup = (key: string, now: number): Cell | undefined => {
      const cell = map.get(key)
      if (cell === undefined) return undefined
      if (cell.expiresAt !== null && cell.expiresAt <= now) {
        drop(key, cell)
        counters.expirations++
        return undefined
      }
      return cell
    }

    // A read that hands the entry out: a use for "lru" and "lfu".
    const read = (key: string, now: number): Cell | undefined => {
      const cell = lookup(key, now)
      if (cell !== undefined) {
        if (recentOnRead) {
          // Approximate LRU from 64 entries on: an entry among the last quarter moved to the end is left where it
          // is (it cannot be among the next quarter of victims), so reads of a hot set cost a comparison, not a
          // delete and an insert of the map. Below 64 entries every read moves the entry: the order is exact.
          if (moves - cell.stamp > (map.size < 64 ? 0 : map.size >> 2)) {
            map.delete(key)
            map.set(key, cell)
            cell.stamp = ++moves
          }
        } else if (frequencies !== undefined) frequencies.use(key)
      }
      return cell
    }

    const dropExpired = (now: number, except: Except): boolean => {
      const key = expiries.expired(now, except)
      if (key === undefined) return false
      drop(key, map.get(key)!)
      counters.expirations++
      return true
    }

    // Removes at most `most` expired entries, earliest expiry first, never `except`; returns how many.
    const reclaim = (now: number, most: number, except?: Except): number => {
      let n = 0
      while (n < most && dropExpired(now, except)) n++
      return n
    }

    const overLimit = (extraEntries: number, extraBytes: number): "maxEntries" | "maxSize" | undefined =>
      maxEntries !== undefined && map.size + extraEntries > maxEntries
        ? "maxEntries"
        : maxSize !== undefined && bytes + extraBytes > maxSize
        ? "maxSize"
        : undefined

    // For "none": removes expired entries until the write fits, or tells which limit it would break.
    const makeRoom = (
      method: string,
      key: string,
      extraEntries: number,
      extraBytes: number,
      now: number,
      except: Except
    ): StoreFull | undefined => {
      for (;;) {
        const limit = overLimit(extraEntries, extraBytes)
        if (limit === undefined) return undefined
        if (!dropExpired(now, except)) {
          return new StoreFull({
            method,
            key,
            backend: "memory",
            limit,
            max: limit === "maxEntries" ? maxEntries! : maxSize!
          })
        }
      }
    }

    // After a write of `key`: expired entries first, then the policy's victims, never `key` itself.
    const evict = (key: string, now: number): void => {
      while (overLimit(0, 0) !== undefined) {
        if (dropExpired(now, key)) continue
        const victim = frequencies !== undefined ? frequencies.victim(key) : oldest(recency, mapKeys, key)
        if (victim === undefined) return
        drop(victim, map.get(victim)!)
        counters.evictions++
      }
    }

    const tooLarge = (method: string, key: string, size: number): ValueTooLarge | undefined =>
      maxSize !== undefined && size > maxSize ? new ValueTooLarge({ method, key, size, limit: maxSize }) : undefined

    // `admitted`: the caller already checked that the write fits (a whole "none" batch).
    const write = (
      method: string,
      key: string,
      value: Uint8Array,
      w: KeyValueStore.Write,
      now: number,
      admitted = false,
      owned = false
    ): KeyValueStoreError | undefined => {
      const previous = map.get(key)
      if (limited && !admitted) {
        const error = tooLarge(method, key, value.byteLength) ?? (policy === "none"
          ? makeRoom(
            method,
            key,
            previous === undefined ? 1 : 0,
            value.byteLength - (previous === undefined ? 0 : previous.value.byteLength),
            now,
            key
          )
          : undefined)
        if (error !== undefined) return error
      }
      const wasLive = previous !== undefined && isLive(previous, now)
      const cell: Cell = {
        value: keep(value, owned),
        expiresAt: w.expiresAt,
        tags: w.tags,
        metadata: w.metadata,
        createdAt: wasLive ? previous.createdAt : now,
        updatedAt: now,
        indexed: false,
        stamp: 0
      }
      if (previous === undefined) insert(key, cell)
      else replace(key, previous, cell, wasLive)
      if (cell.expiresAt !== null) reclaim(now, sweeper.RECLAIM_PER_WRITE, key)
      if (evicts) evict(key, now)
      return undefined
    }

    // A batch under "none" is admitted or refused as a whole, on its final state, before anything is written.
    const admitMany = (
      entries: ReadonlyArray<KeyValueStore.WriteEntry>,
      now: number
    ): KeyValueStoreError | undefined => {
      const sizes = new Map<string, number>()
      for (const entry of entries) {
        const error = tooLarge("setMany", entry.key, entry.value.byteLength)
        if (error !== undefined) return error
        sizes.set(entry.key, entry.value.byteLength)
      }
      if (policy !== "none" || entries.length === 0) return undefined
      let extraEntries = 0
      let extraBytes = 0
      for (const [key, size] of sizes) {
        const previous = map.get(key)
        if (previous === undefined) extraEntries++
        extraBytes += size - (previous === undefined ? 0 : previous.value.byteLength)
      }
      const last = entries[entries.length - 1]!.key
      return makeRoom("setMany", last, extraEntries, extraBytes, now, sizes)
    }

    const removeLive = (key: string, now: number): boolean => {
      const cell = map.get(key)
      if (cell === undefined) return false
      drop(key, cell)
      return isLive(cell, now)
    }

    // Puts back the cells the journal holds from `level` on, newest first, without journaling the undo itself.
    const undo = (level: number): void => {
      const changes = journal!
      journal = undefined
      for (let i = changes.length - 1; i >= level; i--) {
        const change = changes[i]!
        if (typeof change[0] !== "string") {
          // A clear: every later change was undone first, so the map is empty again.
          for (const [key, cell] of change as ReadonlyArray<readonly [string, Cell]>) {
            cell.indexed = false
            insert(key, cell)
          }
          continue
        }
        const [key, previous] = change as readonly [string, Cell | undefined]
        const current = map.get(key)
        if (previous === undefined) {
          if (current !== undefined) drop(key, current)
        } else if (current === undefined) {
          previous.indexed = false
          insert(key, previous)
        } else replace(key, current, previous, true)
      }
      changes.length = level
      journal = changes
    }

    const regions = Regions.make({
      begin: () => {
        journal ??= []
        levels.push([journal.length, { ...counters }])
      },
      commit: () => {
        levels.pop()
        if (levels.length === 0) journal = undefined
      },
      rollback: () => {
        const [at, counts] = levels.pop() ?? [0, counters]
        undo(at)
        restoreCounts(counters, counts)
        if (levels.length === 0) journal = undefined
      }
    }, (method, cause) => new BackendError({ method, backend: "memory", cause }))

    yield* sweeper.start(
      sweep,
      sweeper.drain(regions.guard(Effect.clockWith((clock) =>
        Effect.sync((): sweeper.Slice => {
          const removed = reclaim(clock.unsafeCurrentTimeMillis(), sweep.batch)
          return { removed, full: removed === sweep.batch }
        })
      ))),
      "MemoryStore"
    )

    // Visits the keys of a range in order (only the live ones at `now`; every one when `now` is undefined) until `f`
    // answers false.
    const scan = (
      prefix: string,
      after: string | undefined,
      now: number | undefined,
      f: (key: string, cell: Cell) => boolean
    ): void => {
      flush()
      const low = orderKey(prefix)
      const skip = after === undefined ? undefined : orderKey(after)
      const start = skip !== undefined && skip > low ? skip : low
      for (const [ordered, key] of index.entries(start, [])) {
        if (!ordered.startsWith(low)) return
        if (ordered === skip) continue
        const cell = map.get(key)!
        if ((now === undefined || isLive(cell, now)) && !f(key, cell)) return
      }
    }

    const inRange = (key: string, range: KeyValueStore.KeyRange): boolean =>
      key.startsWith(range.prefix) && (range.after === undefined || Pattern.compareKeys(key, range.after) > 0)

    const page = <A>(range: KeyValueStore.ScanRange, now: number, row: (key: string, cell: Cell) => A): Array<A> => {
      const out: Array<A> = []
      if (range.limit > 0) {
        scan(range.prefix, range.after, now, (key, cell) => {
          out.push(row(key, cell))
          return out.length < range.limit
        })
      }
      return out
    }

    const toEntry = (key: string, cell: Cell): KeyValueStore.Entry => ({
      key,
      value: copy(cell.value),
      expiresAt: Option.fromNullable(cell.expiresAt),
      tags: cell.tags,
      metadata: Option.fromNullable(cell.metadata),
      createdAt: cell.createdAt,
      updatedAt: cell.updatedAt,
      size: cell.value.byteLength
    })

    const unsafe = {
      get: (key: string, now: number) => {
        const cell = read(key, now)
        return cell === undefined ? Option.none() : Option.some(copy(cell.value))
      },
      getMany: (keys: ReadonlyArray<string>, now: number) => {
        const out = new Array<Option.Option<Uint8Array>>(keys.length)
        for (let i = 0; i < keys.length; i++) {
          const cell = read(keys[i]!, now)
          out[i] = cell === undefined ? Option.none() : Option.some(copy(cell.value))
        }
        return out
      },
      set: (key: string, value: Uint8Array, w: KeyValueStore.Write, now: number) => {
        const error = write("set", key, value, w, now)
        if (error !== undefined) throw error
      },
      has: (key: string, now: number) => lookup(key, now) !== undefined,
      remove: removeLive
    }

    const result = (error: KeyValueStoreError | undefined): Effect.Effect<void, KeyValueStoreError> =>
      error === undefined ? Effect.void : Effect.fail(error)

    const table = leases.memory()
    // The check of a fenced write, made in the same synchronous step as the write it guards.
    const lost = (
      method: string,
      key: string | undefined,
      fence: KeyValueStore.Fence | undefined,
      now: number
    ): LockLost | undefined =>
      fence === undefined || table.holds(fence.name, fence.owner, now)
        ? undefined
        : new LockLost({ method, key, name: fence.name })

    return KeyValueStore.make({
      unsafe,
      backend: "memory",
      capabilities,
      separator: options.separator,
      maxKeyBytes: options.maxKeyBytes,
      // `make` then refuses a value larger than `maxSize` before the store is touched, naming the right method.
      maxValueBytes: maxSize === undefined
        ? options.maxValueBytes
        : Math.min(options.maxValueBytes ?? maxSize, maxSize),
      get: (key, now) => Effect.sync(() => unsafe.get(key, now)),
      getMany: (keys, now) => Effect.sync(() => unsafe.getMany(keys, now)),
      getEntry: (key, now) =>
        Effect.sync(() => {
          const cell = read(key, now)
          return cell === undefined ? Option.none() : Option.some(toEntry(key, cell))
        }),
      set: (key, value, w, now, fence) =>
        Effect.suspend(() => result(lost("set", key, fence, now) ?? write("set", key, value, w, now))),
      setMany: (entries, now, fence) =>
        Effect.suspend(() => {
          const refused = lost("setMany", undefined, fence, now) ?? (limited ? admitMany(entries, now) : undefined)
          if (refused !== undefined) return Effect.fail(refused)
          for (const entry of entries) {
            // `make` hands a batch over as private copies (`KeyValueStore.WriteEntry`): kept as they are.
            const error = write("setMany", entry.key, entry.value, entry.write, now, limited, true)
            if (error !== undefined) return Effect.fail(error)
          }
          return Effect.void
        }),
      remove: (key, now, fence) =>
        Effect.suspend(() => {
          const refused = lost("remove", key, fence, now)
          return refused === undefined ? Effect.succeed(removeLive(key, now)) : Effect.fail(refused)
        }),
      removeMany: (keys, now, fence) =>
        Effect.suspend(() => {
          const refused = lost("removeMany", undefined, fence, now)
          if (refused !== undefined) return Effect.fail(refused)
          let n = 0
          for (const key of keys) if (removeLive(key, now)) n++
          return Effect.succeed(n)
        }),
      modify: (key, now, f, fence) =>
        Effect.suspend(() => {
          const refused = lost("modify", key, fence, now)
          if (refused !== undefined) return Effect.fail(refused)
          const cell = lookup(key, now)
          const [a, mutation] = f(cell === undefined ? Option.none() : Option.some(toEntry(key, cell)))
          if (mutation._tag === "Write") {
            const error = write("modify", key, mutation.value, mutation.write, now)
            if (error !== undefined) return Effect.fail(error)
          } else if (mutation._tag === "Remove" && cell !== undefined) drop(key, cell)
          return Effect.succeed(a)
        }),
      expiresAt: (key, now) =>
        Effect.sync(() => {
          const cell = lookup(key, now)
          return cell === undefined ? Option.none() : Option.some(cell.expiresAt)
        }),
      touch: (key, expiresAt, now, fence) =>
        Effect.suspend(() => {
          const refused = lost("touch", key, fence, now)
          if (refused !== undefined) return Effect.fail(refused)
          const cell = lookup(key, now)
          if (cell === undefined) return Effect.succeed(false)
          replace(key, cell, { ...cell, expiresAt, updatedAt: now }, true)
          if (expiresAt !== null) reclaim(now, sweeper.RECLAIM_PER_WRITE, key)
          return Effect.succeed(true)
        }),
      removeTag: (name, now, range) =>
        Effect.sync(() => {
          let n = 0
          for (const key of Array.from(tagged.get(name) ?? [])) {
            if (range !== undefined && !inRange(key, range)) continue
            const cell = map.get(key)!
            drop(key, cell)
            if (isLive(cell, now)) n++
          }
          return n
        }),
      scanKeys: (range, now) => Effect.sync(() => page(range, now, (key) => key)),
      scanEntries: (range, now) => Effect.sync(() => page(range, now, (key, cell) => [key, copy(cell.value)] as const)),
      countRange: (range, now) =>
        Effect.sync(() => {
          let n = 0
          scan(range.prefix, range.after, now, () => {
            n++
            return true
          })
          return n
        }),
      removeRange: (range, now) =>
        Effect.sync(() => {
          const keys: Array<string> = []
          scan(range.prefix, range.after, undefined, (key) => {
            keys.push(key)
            return true
          })
          let n = 0
          for (const key of keys) if (removeLive(key, now)) n++
          return n
        }),
      expire: (now) => Effect.sync(() => reclaim(now, Number.POSITIVE_INFINITY)),
      clear: Effect.sync(() => {
        if (journal !== undefined) journal.push(Array.from(map))
        map.clear()
        index.clear()
        tagged.clear()
        pending.length = 0
        expiries.clear()
        frequencies?.clear()
        bytes = 0
        slabLive = 0
        recency.cursor = undefined
      }),
      size: (now) =>
        Effect.sync(() => {
          let n = 0
          for (const cell of map.values()) if (isLive(cell, now)) n++
          return n
        }),
      counters: () => ({ ...counters }),
      resetCounters: () => {
        counters.evictions = 0
        counters.expirations = 0
      },
      check: (options) =>
        Effect.clockWith((clock) =>
          Effect.sync((): KeyValueStore.CheckReport => {
            const now = clock.unsafeCurrentTimeMillis()
            let expiredPending = 0
            let actualBytes = 0
            for (const cell of map.values()) {
              if (!isLive(cell, now)) expiredPending++
              actualBytes += cell.value.byteLength
            }
            // The byte total is kept only with a limit; nothing else can drift in memory.
            const drift = limited && bytes !== actualBytes ? bytes - actualBytes : 0
            const fixed: Array<string> = []
            if (options?.fix === true) {
              if (drift !== 0) {
                bytes = actualBytes
                fixed.push(`recounted the bytes of values (${drift} off)`)
              }
              if (expiredPending > 0) {
                fixed.push(`removed ${reclaim(now, Number.POSITIVE_INFINITY)} expired entries`)
              }
            }
            return {
              ok: drift === 0,
              engine: ["ok"],
              orphanedFiles: [],
              danglingRows: [],
              counterDrift: drift === 0 ? undefined : { entries: 0, bytes: drift },
              expiredPending,
              fixed
            }
          })
        ),
      leases: table,
      gate: regions,
      withTransaction: regions.withTransaction,
      transaction: regions.transaction
    })
  })

/**
 * A layer providing a memory store.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore } from "effect-kv"
 *
 * Effect.flatMap(KeyValueStore.KeyValueStore, (store) => store.set("k", "v")).pipe(
 *   Effect.provide(MemoryStore.layer({ maxEntries: 1000 }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<KeyValueStore.KeyValueStore, InvalidArgument> =>
  Layer.scoped(KeyValueStore.KeyValueStore, make(options))
