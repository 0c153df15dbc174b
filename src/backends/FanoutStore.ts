/**
 * A store sharded over N SQLite files for write concurrency across processes: each shard is a `SqliteStore` on its
 * own database file (`<directory>/shard-<i>.db`) with its own write lock, so processes writing keys of different
 * shards do not queue on one lock. Every key lives on exactly one shard, chosen by a stable hash; the service is the
 * usual `KeyValueStore`, with these differences:
 *
 * - **File format.** A key's shard is `fnv1a32(utf8(tag)) mod shards`: FNV-1a 32 (offset basis `0x811c9dc5`, prime
 *   `0x01000193`) over the UTF-8 bytes of the key's hash tag, or of the whole key without one. The hash tag follows
 *   Redis Cluster: the characters between the first `{` and the first `}` after it, when there is at least one, so
 *   `{user1}.name` and `{user1}.email` live on one shard while `{}x` and `x{` are hashed whole. This placement is part
 *   of the file format and never changes. `<directory>/fanout.json` records the format and the shard count; it is
 *   written (atomically, once) before any shard is opened, and a later open with another `shards` fails with
 *   `InvalidArgument` before touching a shard: a different count would place keys on other shards, where reads miss
 *   them. Omitting `shards` opens a store with its recorded count (8 for a new one). Shard files without a manifest,
 *   or a manifest that cannot be read, are `StoreCorrupted`.
 * - **Atomicity.** Single-key and read-modify-write operations are atomic, across processes too (they run on one
 *   shard). `setMany` and `removeMany` are atomic per shard only: a batch spanning shards commits shard by shard, so a
 *   failure (or a crash) midway can leave the shards written before it (and `stats.writes` then counts none of the
 *   batch). Give keys that must change together one hash tag.
 * - **Transactions** are per shard: the fan-out's own `withTransaction` fails with `Unsupported`. Use
 *   `fanout.shardOf(key).withTransaction(effect)`: the transaction covers the shard of `key`; operations of the
 *   fan-out on keys of that shard (the same hash tag) join it, other keys do not (they commit on their own). While it
 *   is open, other fibers' operations on that shard wait for it (through the fan-out too), those on other shards go
 *   on. Two fibers each holding one shard's transaction and reaching for the other's shard wait for each other
 *   forever: take nested transactions in one fiber, or keep a region to its own shard.
 * - **Enumeration** merges the shards' pages in UTF-8 byte order, so `keys`/`entries` keep the order and the paging
 *   of a single store (each shard is read a little beyond its share of a page). A pattern whose literal prefix holds
 *   a whole hash tag is read, counted and removed on that tag's shard alone; braces are alternation in patterns, so
 *   the tag is written escaped: `"\\{user1\\}.**"`.
 * - **Limits** (`maxEntries`, `maxSize`) are split evenly: each shard keeps at most `ceil(limit / shards)` and evicts
 *   on its own, so the whole store holds about the limit, and a single value larger than `maxSize / shards` fails
 *   with `ValueTooLarge`.
 * - **Store-wide operations** (`size`, `clear`, `expire`, `removeTag`, `volume`, `stats`) add up the shards; `clear`
 *   empties the shards one after the other, not atomically. `check` joins the shards' reports: lists concatenated
 *   (engine lines and repairs prefixed `shard <i>:`), counts and counter drift summed over the shards that drifted,
 *   `ok` when every shard is; with `fix` every shard repairs itself, and their removals of expired entries are reported
 *   as one repair.
 *   Locks live in the lease table of the shard of the lock name's hash; a fiber inside a transaction of any shard
 *   cannot take one. A fenced write (`{ fence: lock }`) is checked by that shard in the write's own transaction, so
 *   every key it touches must live on the lock's shard: give the keys and the lock name one hash tag (lock
 *   `{order-1}`, keys `{order-1}.total`, ...); a fenced write with a key on another shard fails with `Unsupported`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as fanout from "../internal/sqlite/fanout.js"
import * as sqliteFile from "../internal/sqlite/file.js"
import * as validate from "../internal/validate.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { Busy } from "../KeyValueStoreError.js"
import { BackendError, InvalidArgument, StoreCorrupted } from "../KeyValueStoreError.js"
import * as SqliteStore from "./SqliteStore.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: "~effect-kv/FanoutStore" = fanout.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A fan-out store: the service over all shards, plus the shards themselves and the shard of a key (for per-shard
 * transactions).
 *
 * @since 0.1.0
 * @category models
 */
export interface FanoutStore extends KeyValueStore.Service {
  readonly [TypeId]: TypeId
  /** The shard stores, shard `i` on `<directory>/shard-<i>.db`. Their own `stats` do not see fan-out traffic. */
  readonly shards: ReadonlyArray<KeyValueStore.Service>
  /** The shard store holding `key` (e.g. `fanout.shardOf(key).withTransaction(effect)`). */
  readonly shardOf: (key: string) => KeyValueStore.Service
}

/**
 * Options of a fan-out store: those of `SqliteStore` (applied to every shard) without `filename`, plus the directory
 * and the shard count. `maxEntries` and `maxSize` are totals, split evenly over the shards.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<SqliteStore.Options, "filename"> {
  /** Directory of the shard files and `fanout.json`; a leading `~` is the home directory; created when missing. */
  readonly directory: string
  /** Number of shards, 1 to 1024 (default: the recorded count, 8 for a new store). Fixed once the store exists. */
  readonly shards?: number | undefined
}

/**
 * What a fan-out store can do: what a SQLite store can, except transactions over the whole store (they are per
 * shard, through `shardOf`).
 *
 * @since 0.1.0
 * @category models
 */
export const capabilities: KeyValueStore.Capabilities = { ...SqliteStore.capabilities, transactions: false }

/**
 * The shard (0 to `shards - 1`) of `key` in a store of `shards` shards: FNV-1a 32 of the UTF-8 bytes of the key's
 * hash tag (the text between the first `{` and the first `}` after it, when not empty) or of the whole key, modulo
 * `shards`. This is the file format: it never changes.
 *
 * @example
 * ```ts
 * import { FanoutStore } from "effect-kv"
 *
 * FanoutStore.shardIndex("{user1}.name", 8) === FanoutStore.shardIndex("{user1}.email", 8) // true
 * FanoutStore.shardIndex("a", 2 ** 32) // 0xe40c292c, the FNV-1a 32 hash of "a"
 * ```
 * @since 0.1.0
 * @category utils
 */
export const shardIndex = (key: string, shards: number): number => fanout.keyHash(key) % shards

/**
 * Tells whether a store is a fan-out store (e.g. one taken from the `KeyValueStore` tag), to reach `shardOf`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { FanoutStore, KeyValueStore } from "effect-kv"
 *
 * Effect.flatMap(KeyValueStore.KeyValueStore, (store) =>
 *   FanoutStore.isFanoutStore(store) ? store.shardOf("{cart}.total").withTransaction(Effect.void) : Effect.void)
 * ```
 * @since 0.1.0
 * @category refinements
 */
export const isFanoutStore = (u: unknown): u is FanoutStore => Predicate.hasProperty(u, TypeId)

const MANIFEST = "fanout.json"
const FORMAT = "effect-kv/fanout"
const VERSION = 1
const HASH = "fnv1a-32"
const DEFAULT_SHARDS = 8
const MAX_SHARDS = 1024

const shardFile = (directory: string, i: number) => path.join(directory, `shard-${i}.db`)

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "open", argument, reason })

const corrupted = (reason: string, cause?: unknown) =>
  new StoreCorrupted(
    cause === undefined
      ? { method: "open", backend: "fanout", reason }
      : { method: "open", backend: "fanout", reason, cause }
  )

// Makes the manifest's directory entry durable where the platform allows it (shard files must never outlive it).
const syncDirectory = (directory: string): void => {
  try {
    const fd = fs.openSync(directory, "r")
    try {
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    // not supported here (Windows): the manifest is still written before any shard
  }
}

// Reads the recorded shard count, or records `wanted` (default 8) for a new store. The manifest is written to a temp
// file and hard-linked into place, which fails when another process linked its own first: the first writer wins and
// everyone else reads a complete file.
const shardCount = (directory: string, wanted: number | undefined): number | InvalidArgument | StoreCorrupted => {
  const file = path.join(directory, MANIFEST)
  if (!fs.existsSync(file)) {
    // Shard files without a manifest: unless another process recorded one between the two looks, which is read below.
    if (fs.readdirSync(directory).some((name) => /^shard-\d+\.db$/.test(name)) && !fs.existsSync(file)) {
      return corrupted(`${directory} holds shard files but no ${MANIFEST}: the shard count is unknown`)
    }
    const content = JSON.stringify({ format: FORMAT, version: VERSION, hash: HASH, shards: wanted ?? DEFAULT_SHARDS })
    const temp = path.join(directory, `.${MANIFEST}.${crypto.randomBytes(6).toString("hex")}.tmp`)
    const fd = fs.openSync(temp, "wx")
    try {
      fs.writeSync(fd, content + "\n")
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    try {
      fs.linkSync(temp, file)
    } catch (error) {
      const code = (error as { readonly code?: unknown }).code
      // A file system without hard links: an exclusive create (a reader may then race the write, rarely).
      if (code === "EPERM" || code === "ENOTSUP" || code === "ENOSYS") {
        try {
          fs.writeFileSync(file, content + "\n", { flag: "wx" })
        } catch (again) {
          if ((again as { readonly code?: unknown }).code !== "EEXIST") throw again
        }
      } else if (code !== "EEXIST") throw error
    } finally {
      fs.rmSync(temp, { force: true })
    }
    syncDirectory(directory)
  }
  let manifest: unknown
  try {
    manifest = JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (cause) {
    return corrupted(`${file} is not a fan-out manifest`, cause)
  }
  const fields = (manifest ?? {}) as { readonly [key: string]: unknown }
  if (fields.format !== FORMAT || fields.version !== VERSION || fields.hash !== HASH) {
    return corrupted(`${file} is of another format (${JSON.stringify(manifest)})`)
  }
  const recorded = fields.shards
  if (typeof recorded !== "number" || !Number.isSafeInteger(recorded) || recorded < 1 || recorded > MAX_SHARDS) {
    return corrupted(`${file} records an invalid shard count (${JSON.stringify(recorded)})`)
  }
  if (wanted !== undefined && wanted !== recorded) {
    return invalid(
      "shards",
      `the store in ${directory} has ${recorded} shards, opened with ${wanted}: keys would be looked up on other shards`
    )
  }
  return recorded
}

/**
 * Opens (creating when needed) a fan-out store of SQLite shards whose connections and sweepers live as long as the
 * scope. Invalid options fail with `InvalidArgument` before anything is created; a `shards` other than the store's
 * fails with `InvalidArgument`; a damaged manifest or shard fails with `StoreCorrupted`; a directory that cannot be
 * created or written fails with `BackendError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { FanoutStore } from "effect-kv"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* FanoutStore.make({ directory: "data/kv", shards: 8 })
 *   yield* store.set("{user1}.name", "Ada")
 *   // a transaction covers one shard: keys with the tag {user1} join it
 *   yield* store.shardOf("{user1}").withTransaction(store.set("{user1}.email", "ada@example.com"))
 * }))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<FanoutStore, StoreCorrupted | BackendError | Busy | InvalidArgument, Scope.Scope> =>
  Effect.gen(function*() {
    if (typeof options !== "object" || options === null) return yield* invalid("options", "expected an object")
    const { directory: dirOption, shards: wanted, ...shardOptions } = options
    if (
      typeof dirOption !== "string" || dirOption === "" || sqliteFile.isMemory(dirOption) || dirOption.includes("\0")
    ) {
      return yield* invalid("directory", "expected the path of a directory (without U+0000)")
    }
    if (wanted !== undefined && (!Number.isSafeInteger(wanted) || wanted < 1 || wanted > MAX_SHARDS)) {
      return yield* invalid("shards", `expected an integer from 1 to ${MAX_SHARDS}, got ${wanted}`)
    }
    const optionsError = validate.checkStoreOptions(shardOptions)
    if (optionsError !== undefined) return yield* optionsError
    const limits = validate.checkLimits(shardOptions)
    if (limits instanceof InvalidArgument) return yield* limits
    // Every shard option is checked (by an in-memory store) before the manifest fixes the shard count, so a typo in
    // another option cannot leave a directory bound to a count no store was ever opened with.
    yield* Effect.scoped(SqliteStore.make({ ...shardOptions, filename: ":memory:" }))
    const directory = path.resolve(sqliteFile.expandHome(dirOption))
    const count = yield* Effect.try({
      try: () => {
        sqliteFile.makeDirectories(directory)
        return shardCount(directory, wanted)
      },
      catch: (cause) => new BackendError({ method: "open", backend: "fanout", cause })
    })
    if (typeof count !== "number") return yield* count
    const split = (limit: number | undefined) => limit === undefined ? undefined : Math.ceil(limit / count)
    // The shards live in a scope of their own, closed at once when one of them fails to open.
    const shardScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const shards = yield* Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
      Scope.extend(
        SqliteStore.make({
          ...shardOptions,
          maxEntries: split(limits.maxEntries),
          maxSize: split(limits.maxSize),
          filename: shardFile(directory, i)
        }),
        shardScope
      )).pipe(Effect.onError((cause) => Scope.close(shardScope, Exit.failCause(cause))))
    return fanout.make(shards)
  })

/**
 * A layer providing a fan-out store as the `KeyValueStore`; the shards close when the layer's scope does. Use
 * `isFanoutStore` on the service to reach `shardOf`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { FanoutStore, KeyValueStore } from "effect-kv"
 *
 * Effect.flatMap(KeyValueStore.KeyValueStore, (store) => store.set("k", "v")).pipe(
 *   Effect.provide(FanoutStore.layer({ directory: "data/kv", shards: 8 }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<KeyValueStore.KeyValueStore, StoreCorrupted | BackendError | Busy | InvalidArgument> =>
  Layer.scoped(KeyValueStore.KeyValueStore, make(options))

/**
 * A layer reading its options from `Config` (environment variables in production).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { FanoutStore } from "effect-kv"
 *
 * FanoutStore.layerConfig({
 *   directory: Config.string("KV_DIRECTORY"),
 *   shards: Config.integer("KV_SHARDS").pipe(Config.withDefault(8))
 * })
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  KeyValueStore.KeyValueStore,
  ConfigError.ConfigError | StoreCorrupted | BackendError | Busy | InvalidArgument
> => Layer.scoped(KeyValueStore.KeyValueStore, Effect.flatMap(Config.unwrap(config), make))
