/**
 * The workloads of the scaling, values, batch, eviction and index sections, written once for both kinds of target: a synchronous
 * engine (raw better-sqlite3), whose timed loop runs inside one `Effect.sync` with plain calls and no effect around
 * each, and a `KeyValueStore.Service` (SqliteStore, MemoryStore), whose operations are built and yielded one by one
 * inside the bench's one Effect program. A workload keeps its own cursor through the shared random order and its own
 * counter of fresh keys across trials, prepares its arguments (batches, fresh keys) untimed, times only the calls, and
 * removes the fresh keys it wrote (untimed) so the store stays at its prefilled size (except `insert`, whose writes
 * into a full store evict instead).
 */
import type * as KeyValueStore from "effect-kv/KeyValueStore"
import type { KeyValueStoreError } from "effect-kv/KeyValueStoreError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Recorder } from "../harness.js"
import { chunks, missing, timeEffect, timeSync } from "../harness.js"

/** The operations the workloads call; `R` is what a call returns (anything for a plain call, an effect otherwise). */
export interface Api<R> {
  readonly get: (key: string) => R
  readonly set: (key: string, value: Buffer) => R
  /** Writes all entries in one transaction. */
  readonly setMany: (entries: ReadonlyArray<readonly [string, Buffer]>) => R
  /** Reads all keys in one call (one read transaction for SQLite). */
  readonly getMany: (keys: ReadonlyArray<string>) => R
  readonly removeMany: (keys: ReadonlyArray<string>) => R
}

/** How calls of one kind are timed and run. */
export interface Driver<R> {
  readonly api: Api<R>
  /** Times `op(0)`, `op(1)`, ... up to `n` calls into the recorder; returns how many ran. */
  readonly time: (rec: Recorder, n: number, op: (i: number) => R) => Effect.Effect<number, unknown>
  /** Runs one call outside the timed window. */
  readonly untimed: (op: () => R) => Effect.Effect<unknown, unknown>
  /** Whether a key is present. */
  readonly found: (key: string) => Effect.Effect<boolean, unknown>
}

/** A target of the new sections: a name and its driver, whichever kind it is. */
export interface Engine {
  readonly name: string
  readonly use: <A>(f: <R>(driver: Driver<R>) => A) => A
}

const engine = <R>(name: string, driver: Driver<R>): Engine => ({ name, use: (f) => f(driver) })

/** An engine called synchronously; `get` returns `undefined` for a missing key. */
export const sync = (name: string, api: Api<unknown>): Engine =>
  engine(name, {
    api,
    time: (rec, n, op) => Effect.sync(() => timeSync(rec, n, op)),
    untimed: (op) => Effect.sync(op),
    found: (key) => Effect.sync(() => api.get(key) !== undefined)
  })

/** The part of `KeyValueStore.Service` the workloads use. */
export type Store = Pick<KeyValueStore.Service, "get" | "set" | "setMany" | "getMany" | "removeMany">

type Call = Effect.Effect<unknown, KeyValueStoreError>

/** A store, every operation yielded inside the bench's Effect program. */
export const effect = (name: string, store: Store): Engine =>
  engine<Call>(name, {
    api: {
      get: (key) => store.get(key),
      set: (key, value) => store.set(key, value),
      setMany: (entries) => store.setMany(entries),
      getMany: (keys) => store.getMany(keys),
      removeMany: (keys) => store.removeMany(keys)
    },
    time: (rec, n, op) => timeEffect(rec, n, op),
    untimed: (op) => Effect.suspend(op),
    found: (key) => Effect.map(store.get(key), Option.isSome)
  })

/** What the workloads of one store size share: the prefilled keys, one value and the random read order. */
export interface Data {
  /** The prefilled keys, `key:0` .. `key:<n-1>`. */
  readonly keys: ReadonlyArray<string>
  /** The value of every entry, prefilled or written. */
  readonly value: Buffer
  /** Indexes into `keys`, read in turn (and from the start again) by `get`, `overwrite` and `getMany`. */
  readonly order: Uint32Array
  /** Fresh keys a `set` round writes before they are removed again. */
  readonly round: number
}

/** Writes every key of `data` with `setMany` calls of `chunk` entries (untimed). */
export const prefill = (e: Engine, data: Data, chunk: number): Effect.Effect<void, unknown> =>
  e.use((d) =>
    Effect.forEach(
      chunks(data.keys, chunk),
      (keys) => d.untimed(() => d.api.setMany(keys.map((key) => [key, data.value] as const))),
      { discard: true }
    )
  )

/** Fails unless the engine finds the first, middle and last prefilled key (its reads would measure misses). */
export const check = (e: Engine, data: Data): Effect.Effect<void, unknown> =>
  e.use((d) =>
    Effect.gen(function*() {
      for (const i of [0, data.keys.length >> 1, data.keys.length - 1]) {
        const key = data.keys[i]!
        if (!(yield* d.found(key))) return yield* Effect.fail(missing(`${key} (${e.name})`))
      }
    })
  )

/** Runs one workload into a recorder; keeps its cursor and fresh-key counter from one call to the next. */
export type Workload = (rec: Recorder) => Effect.Effect<void, unknown>

/** A cursor through the random order, `offset` entries in, so two workloads need not read the same keys. */
const cursor = (data: Data, offset: number) => {
  let at = offset
  return {
    /** The key `i` places after the cursor. */
    key: (i: number): string => data.keys[data.order[(at + i) % data.order.length]!]!,
    advance: (n: number) => {
      at = (at + n) % data.order.length
    }
  }
}

const freshKeys = (data: Data) => {
  let counter = data.keys.length
  return Object.assign((n: number): Array<string> => Array.from({ length: n }, () => `key:${counter++}`), {
    /** Gives back the last `n` keys handed out, unwritten. */
    rewind: (n: number) => {
      counter -= n
    }
  })
}

/** Single `get` of random prefilled keys (all hits). */
export const get = (e: Engine, data: Data): Workload => {
  const c = cursor(data, 0)
  return (rec) =>
    e.use((d) =>
      Effect.gen(function*() {
        while (!rec.full) c.advance(yield* d.time(rec, data.order.length, (i) => d.api.get(c.key(i))))
      })
    )
}

/** Single `set` of random prefilled keys: an overwrite of an existing entry with a value of the same size. */
export const overwrite = (e: Engine, data: Data): Workload => {
  const c = cursor(data, data.order.length >> 1)
  return (rec) =>
    e.use((d) =>
      Effect.gen(function*() {
        while (!rec.full) {
          c.advance(yield* d.time(rec, data.order.length, (i) => d.api.set(c.key(i), data.value)))
        }
      })
    )
}

// Single `set`s of fresh keys in rounds of `data.round`; `after` runs untimed after each round with its keys and how
// many of them the round reached.
const freshSets = (
  e: Engine,
  data: Data,
  after: <R>(
    d: Driver<R>,
    keys: ReadonlyArray<string>,
    done: number,
    fresh: ReturnType<typeof freshKeys>
  ) => Effect.Effect<unknown, unknown>
): Workload => {
  const fresh = freshKeys(data)
  return (rec) =>
    e.use((d) =>
      Effect.gen(function*() {
        while (!rec.full) {
          const keys = fresh(data.round)
          const done = yield* d.time(rec, keys.length, (i) => d.api.set(keys[i]!, data.value))
          yield* after(d, keys, done, fresh)
        }
      })
    )
}

/** Single `set` of fresh keys, in rounds of `data.round` that are removed again untimed. */
export const set = (e: Engine, data: Data): Workload =>
  freshSets(e, data, (d, keys, done) => d.untimed(() => d.api.removeMany(keys.slice(0, done))))

/**
 * Single `set` of fresh keys that stay (nothing is removed): in a store at its `maxEntries`, every call evicts one
 * entry, so the store stays at its size.
 */
export const insert = (e: Engine, data: Data): Workload =>
  // Keys a round did not reach are written by the next one: the counter moves on only by what ran.
  freshSets(e, data, (_, keys, done, fresh) => Effect.sync(() => fresh.rewind(keys.length - done)))

/** `setMany` of `batch` fresh entries per call, in rounds of at least `data.round` entries removed again untimed. */
export const setMany = (e: Engine, data: Data, batch: number): Workload => {
  const fresh = freshKeys(data)
  return (rec) =>
    e.use((d) =>
      Effect.gen(function*() {
        while (!rec.full) {
          const keys = fresh(Math.ceil(data.round / batch) * batch)
          const batches = chunks(keys.map((key) => [key, data.value] as const), batch)
          const done = yield* d.time(rec, batches.length, (i) => d.api.setMany(batches[i]!))
          yield* d.untimed(() => d.api.removeMany(keys.slice(0, done * batch)))
        }
      })
    )
}

/** `getMany` of `batch` random prefilled keys per call (all hits). */
export const getMany = (e: Engine, data: Data, batch: number): Workload => {
  const c = cursor(data, data.order.length >> 2)
  return (rec) =>
    e.use((d) =>
      Effect.gen(function*() {
        while (!rec.full) {
          const calls = Math.max(1, Math.floor(data.round / batch))
          const batches = Array.from(
            { length: calls },
            (_, j) => Array.from({ length: batch }, (_, i) => c.key(j * batch + i))
          )
          c.advance((yield* d.time(rec, calls, (i) => d.api.getMany(batches[i]!))) * batch)
        }
      })
    )
}
