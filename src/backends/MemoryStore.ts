/**
 * An in-memory `KeyValueStore`: the reference implementation, the model of the property tests, and the store to
 * provide in tests. Expiry follows Effect's `Clock`, so `TestClock.adjust` expires entries without real sleeps, and a
 * scoped sweeper (a `Schedule`, bounded work per tick) removes dead entries so memory does not grow with them. An
 * optional `maxEntries` bound evicts the least recently used entries.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as sweeper from "../internal/sweeper.js"
import * as validate from "../internal/validate.js"
import * as KeyValueStore from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends KeyValueStore.StoreOptions, KeyValueStore.SweepOptions {
  /** Bound on the number of entries; the least recently used are evicted beyond it. No bound by default. */
  readonly maxEntries?: number | undefined
}

interface Cell {
  readonly value: Uint8Array
  readonly expiresAt: number | null
  readonly tags: ReadonlyArray<string>
  readonly metadata: KeyValueStore.Metadata | null
  readonly createdAt: number
  readonly updatedAt: number
}

const capabilities: KeyValueStore.Capabilities = {
  persistent: false,
  crossProcess: false,
  orderedKeys: true,
  enumeration: false,
  tags: true,
  metadata: true,
  transactions: false,
  locks: false,
  check: false,
  volume: false
}

// Stored values get their own memory; values handed out are copies from Node's buffer pool, which allocates
// small copies several times faster than a fresh Uint8Array. Neither side can mutate the other's bytes.
const keepCopy = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes)
const isLive = (cell: Cell, now: number): boolean => cell.expiresAt === null || cell.expiresAt > now

const copy = (bytes: Uint8Array): Uint8Array => {
  const out = Buffer.allocUnsafe(bytes.byteLength)
  out.set(bytes)
  return out
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
 *   const store = yield* MemoryStore.make({ maxEntries: 10_000 })
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
    const sweep = sweeper.settings(options, 10_000)
    if (sweep instanceof InvalidArgument) return yield* sweep
    const maxEntries = options.maxEntries
    if (maxEntries !== undefined && !(Number.isSafeInteger(maxEntries) && maxEntries > 0)) {
      return yield* new InvalidArgument({
        method: "open",
        argument: "maxEntries",
        reason: `expected a positive integer, got ${maxEntries}`
      })
    }
    const map = new Map<string, Cell>()
    const counters = { evictions: 0, expirations: 0 }

    const live = (key: string, now: number): Cell | undefined => {
      const cell = map.get(key)
      if (cell === undefined) return undefined
      if (!isLive(cell, now)) {
        map.delete(key)
        counters.expirations++
        return undefined
      }
      if (maxEntries !== undefined) {
        map.delete(key)
        map.set(key, cell)
      }
      return cell
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

    const write = (key: string, value: Uint8Array, w: KeyValueStore.Write, now: number): void => {
      const previous = map.get(key)
      const createdAt = previous !== undefined && isLive(previous, now) ? previous.createdAt : now
      if (previous !== undefined && maxEntries !== undefined) map.delete(key)
      map.set(key, {
        value: keepCopy(value),
        expiresAt: w.expiresAt,
        tags: w.tags,
        metadata: w.metadata,
        createdAt,
        updatedAt: now
      })
      if (maxEntries !== undefined) {
        while (map.size > maxEntries) {
          const oldest = map.keys().next()
          if (oldest.done) break
          map.delete(oldest.value)
          counters.evictions++
        }
      }
    }

    const removeLive = (key: string, now: number): boolean => {
      const cell = map.get(key)
      if (cell === undefined) return false
      map.delete(key)
      return isLive(cell, now)
    }

    // Removes expired entries among the next `budget` of the map, resuming where the previous call stopped, so the
    // sweeper's ticks walk the whole map in bounded slices.
    let cursor: Iterator<[string, Cell]> | undefined
    const expire = (now: number, budget: number): number => {
      let removed = 0
      for (let i = 0; i < budget; i++) {
        if (cursor === undefined) cursor = map.entries()
        const next = cursor.next()
        if (next.done) {
          cursor = undefined
          break
        }
        const [key, cell] = next.value
        if (!isLive(cell, now)) {
          map.delete(key)
          removed++
        }
      }
      counters.expirations += removed
      return removed
    }

    yield* sweeper.start(
      sweep.interval,
      Effect.clockWith((clock) => Effect.sync(() => expire(clock.unsafeCurrentTimeMillis(), sweep.batch))),
      "MemoryStore"
    )

    const unsafe = {
      get: (key: string, now: number) => {
        const cell = live(key, now)
        return cell === undefined ? Option.none() : Option.some(copy(cell.value))
      },
      set: write,
      has: (key: string, now: number) => live(key, now) !== undefined,
      remove: removeLive
    }

    return KeyValueStore.make({
      unsafe,
      backend: "memory",
      capabilities,
      separator: options.separator,
      maxKeyBytes: options.maxKeyBytes,
      maxValueBytes: options.maxValueBytes,
      get: (key, now) => Effect.sync(() => unsafe.get(key, now)),
      getEntry: (key, now) =>
        Effect.sync(() => {
          const cell = live(key, now)
          return cell === undefined ? Option.none() : Option.some(toEntry(key, cell))
        }),
      set: (key, value, w, now) => Effect.sync(() => write(key, value, w, now)),
      setMany: (entries, now) =>
        Effect.sync(() => {
          for (const entry of entries) write(entry.key, entry.value, entry.write, now)
        }),
      remove: (key, now) => Effect.sync(() => removeLive(key, now)),
      removeMany: (keys, now) =>
        Effect.sync(() => {
          let n = 0
          for (const key of keys) if (removeLive(key, now)) n++
          return n
        }),
      modify: (key, now, f) =>
        Effect.sync(() => {
          const cell = live(key, now)
          const [result, mutation] = f(cell === undefined ? Option.none() : Option.some(toEntry(key, cell)))
          if (mutation._tag === "Write") write(key, mutation.value, mutation.write, now)
          else if (mutation._tag === "Remove") map.delete(key)
          return result
        }),
      expiresAt: (key, now) =>
        Effect.sync(() => {
          const cell = live(key, now)
          return cell === undefined ? Option.none() : Option.some(cell.expiresAt)
        }),
      touch: (key, expiresAt, now) =>
        Effect.sync(() => {
          const cell = live(key, now)
          if (cell === undefined) return false
          map.set(key, { ...cell, expiresAt, updatedAt: now })
          return true
        }),
      removeTag: (tag, now) =>
        Effect.sync(() => {
          let n = 0
          for (const [key, cell] of map) {
            if (cell.tags.includes(tag)) {
              map.delete(key)
              if (isLive(cell, now)) n++
            }
          }
          return n
        }),
      expire: (now) =>
        Effect.sync(() => {
          cursor = undefined
          return expire(now, Number.POSITIVE_INFINITY)
        }),
      clear: Effect.sync(() => map.clear()),
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
      }
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
