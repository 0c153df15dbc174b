/**
 * The SQLite stores on a real full disk (a small tmpfs of the test's own, filled with a filler file): SqliteStore, its
 * index configuration, FanoutStore and SqlStore over `@effect/sql-sqlite-node`. Before each operation the write-ahead
 * log is checkpointed and truncated, and the disk is filled but for a chosen room (none, a page or a few, exactly the
 * pages of the large value the operation writes, ...), so that the operation's commit either fits or fails with
 * `SQLITE_FULL`. Every writing operation is run that way, first with no room at all (each must fail), then in a long
 * seeded random sequence; after each one:
 *
 * - it either succeeded, and then `MemoryStore` (the model of the acknowledged operations) gives the same answer, or
 *   failed with a typed error (never a defect), and then every table of the database and every large-value file is
 *   exactly as before (a fan-out shard that committed its part of a batch counts as that part acknowledged);
 * - the store's live entries are the model's, and the large-value directory holds exactly the files rows name;
 * - what a crash at that moment would recover (the database and its log copied, the log's index rebuilt) is what the
 *   store sees: an acknowledged operation is durable, a failed one left nothing in the log to bring back.
 *
 * At the end the disk is emptied, `check` (with `minOrphanAge: 0`: no write is in flight then, so any file no row names
 * is a leak) and the engine's integrity check are clean, and the store reopened holds the model's entries. Locks, the
 * sweeper, eviction (inside a write and by the sweeper), `check({ fix: true })` and scoped transactions have cases of
 * their own. The suite mounts its tmpfs only as root on Linux (CI); elsewhere it is skipped with a message saying so.
 * One case runs everywhere: the stores' connections report a failed autocommit (made to fail by a deferred foreign
 * key) whichever way a writing statement runs, `get` included, which better-sqlite3 alone does not.
 */
import { assert, describe, it } from "@effect/vitest"
import { FanoutStore, KeyValueStore, KeyValueStoreError, MemoryStore, Pattern, SqliteStore } from "effect-kv"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as sqliteFile from "../../src/internal/sqlite/file.js"
import * as Figures from "./fixtures/figures.js"
import { describeSmallDisk, PAGE, type SmallDisk, smallDisk } from "./fixtures/smallDisk.js"
import { sqlStoreLayer, tempDir, withDb } from "./fixtures/temp.js"

type Store = KeyValueStore.Service
type StoreError = KeyValueStoreError.KeyValueStoreError

const DISK = 8 * 1024 * 1024
const SHARDS = 2

// ---------------------------------------------------------------------------------------------------------------
// What the tests compare: the live entries through the API, and the whole database and file directory behind it.

const digest = (bytes: Uint8Array): string =>
  bytes.byteLength <= 16
    ? `<${Buffer.from(bytes).toString("hex")}>`
    : `<${bytes.byteLength} bytes ${crypto.createHash("sha256").update(bytes).digest("hex").slice(0, 16)}>`

/** An operation's answer in a comparable form. */
const show = (u: unknown): unknown =>
  u instanceof Uint8Array
    ? digest(u)
    : typeof u === "bigint"
    ? `${u}n`
    : Option.isOption(u)
    ? Option.match(u, { onNone: () => "none", onSome: (value) => ({ some: show(value) }) })
    : Array.isArray(u)
    ? u.map(show)
    : u

interface Live {
  readonly key: string
  readonly value: string
  readonly size: number
  readonly expiresAt: number | null
  readonly tags: ReadonlyArray<string>
  readonly metadata: unknown
}

/** The live entries of a store, in key order. */
const live = (store: Store): Effect.Effect<Array<Live>, StoreError> =>
  Effect.gen(function*() {
    const keys = Chunk.toArray(yield* Stream.runCollect(store.keys()))
    const entries = yield* Effect.forEach(keys, (key) => store.getEntry(key))
    return entries.flatMap((found) =>
      Option.isNone(found) ? [] : [{
        key: found.value.key,
        value: digest(found.value.value),
        size: found.value.value.byteLength,
        expiresAt: Option.getOrNull(found.value.expiresAt),
        tags: [...found.value.tags].sort(),
        metadata: Option.getOrNull(found.value.metadata)
      }]
    )
  })

/** One database file as stored: every row of every table, and the large-value files with their contents. */
interface FileState {
  readonly tables: Readonly<Record<string, ReadonlyArray<string>>>
  readonly files: Readonly<Record<string, string>>
  /** Value files that rows of the store table name. */
  readonly named: ReadonlyArray<string>
}

const cell = (value: unknown): unknown =>
  Buffer.isBuffer(value) ? digest(value) : typeof value === "bigint" ? `${value}n` : value

const fileState = (filename: string): FileState => {
  const { named, tables } = withDb(filename, (db) => {
    const names = db.prepare<[], string>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).pluck().all()
    const tables: Record<string, Array<string>> = {}
    for (const name of names) {
      const rows = db.prepare(`SELECT * FROM "${name}"`).raw().all() as Array<Array<unknown>>
      tables[name] = rows.map((row) => JSON.stringify(row.map(cell))).sort()
    }
    const hasFiles = names.includes("effect_kv") &&
      db.prepare("SELECT 1 FROM pragma_table_info('effect_kv') WHERE name = 'file'").get() !== undefined
    const named = hasFiles
      ? db.prepare<[], string>("SELECT file FROM effect_kv WHERE file IS NOT NULL ORDER BY file").pluck().all()
      : []
    return { named, tables }
  })
  const files: Record<string, string> = {}
  const dir = `${filename}.files`
  if (fs.existsSync(dir)) {
    for (const name of fs.readdirSync(dir).sort()) files[name] = digest(fs.readFileSync(path.join(dir, name)))
  }
  return { tables, files, named }
}

/**
 * The tables as a crash now would leave them: the database and its write-ahead log copied without the log's index, so
 * that SQLite rebuilds it from the log, keeping exactly the transactions whose commit reached the log.
 */
const recovered = (filename: string): FileState["tables"] => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-recovered-"))
  try {
    const copy = path.join(dir, "copy.db")
    fs.copyFileSync(filename, copy)
    if (fs.existsSync(`${filename}-wal`)) fs.copyFileSync(`${filename}-wal`, `${copy}-wal`)
    return fileState(copy).tables
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Asserts that the value files are exactly those rows name: none missing, none left over, no temp file. */
const assertFilesNamed = (state: FileState, what: string): void =>
  assert.deepStrictEqual(Object.keys(state.files).sort(), [...state.named].sort(), `${what}: files beside the database`)

/** Checkpoints the write-ahead log and truncates it to nothing: the next commit must find room on the disk. */
const truncateWal = (filename: string): void => {
  const [result] = withDb(filename, (db) => db.pragma("wal_checkpoint(TRUNCATE)")) as Array<{ busy: number }>
  assert.strictEqual(result?.busy, 0, `checkpoint of ${filename}`)
}

// ---------------------------------------------------------------------------------------------------------------
// The stores under test.

interface Subject {
  readonly name: string
  /** The database files (one per shard), in shard order. */
  readonly databases: (dir: string) => ReadonlyArray<string>
  readonly open: (dir: string) => Effect.Effect<Store, unknown, Scope.Scope>
  /** The shard of a key (always 0 but for the fan-out). */
  readonly shardOf: (key: string) => number
  /** Whether large values are files beside the database (otherwise they are inline). */
  readonly files: boolean
}

const sweepInterval = "1 hour"

const subjects: ReadonlyArray<Subject> = [
  {
    name: "SqliteStore",
    databases: (dir) => [path.join(dir, "kv.db")],
    open: (dir) => SqliteStore.make({ filename: path.join(dir, "kv.db"), sweepInterval }),
    shardOf: () => 0,
    files: true
  },
  {
    name: "SqliteStore index",
    databases: (dir) => [path.join(dir, "index.db")],
    open: (dir) => SqliteStore.makeIndex({ filename: path.join(dir, "index.db") }),
    shardOf: () => 0,
    files: false
  },
  {
    name: "FanoutStore",
    databases: (dir) => Array.from({ length: SHARDS }, (_, i) => path.join(dir, "fanout", `shard-${i}.db`)),
    open: (dir) => FanoutStore.make({ directory: path.join(dir, "fanout"), shards: SHARDS, sweepInterval }),
    shardOf: (key) => FanoutStore.shardIndex(key, SHARDS),
    files: true
  },
  {
    name: "SqlStore (sqlite)",
    databases: (dir) => [path.join(dir, "sql.db")],
    open: (dir) =>
      Effect.map(
        Layer.build(sqlStoreLayer(path.join(dir, "sql.db"), { sweepInterval })),
        Context.get(KeyValueStore.KeyValueStore)
      ),
    shardOf: () => 0,
    files: false
  }
]

/** A store opened in a scope of its own, so that a test can close and reopen it. */
const openScoped = (subject: Subject, dir: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const store = yield* Effect.orDie(Scope.extend(subject.open(dir), scope))
    return { store, close: Scope.close(scope, Exit.void) }
  })

// ---------------------------------------------------------------------------------------------------------------
// Operations: each runs on the store under test and, once acknowledged, on the model.

interface Op {
  /** The operation's name (what the counts are kept by). */
  readonly name: string
  /** The operation with its arguments, for messages. */
  readonly detail: string
  readonly run: (store: Store) => Effect.Effect<unknown, StoreError>
  /**
   * The effect on the model of the part of the operation that one fan-out shard committed, for the operations that
   * the fan-out runs shard by shard (batches, store-wide removals); `undefined`: the operation is all or nothing.
   */
  readonly onShard?: (model: Store, inShard: (key: string) => boolean) => Effect.Effect<unknown, StoreError>
  /** Bytes of the large value the operation writes to a file, if any. */
  readonly fileBytes?: (current: Current) => number
}

// A seeded generator: the sequence (and so every outcome) is the same on every run.
const prng = (seed: number) => {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <A>(items: ReadonlyArray<A>): A => items[int(items.length)]!
  const bytes = (n: number) => {
    const out = Buffer.alloc(n)
    for (let i = 0; i < n; i += 4) out.writeUInt32LE((next() * 4294967296) >>> 0, Math.min(i, n - 4))
    return out
  }
  return { next, int, pick, bytes }
}
type Prng = ReturnType<typeof prng>

const plainKeys = ["k.0", "k.1", "k.2", "k.3", "k.4", "k.5"]
// One hash tag: one fan-out shard, for transactions and batches the fan-out commits at once.
const taggedKeys = ["{t}.a", "{t}.b", "{t}.c", "{t}.d"]
const counterKeys = ["n.0", "n.1"]
const allKeys = [...plainKeys, ...taggedKeys, ...counterKeys]
const tagNames = ["red", "blue"]

/** Whether an entry's key matches `pattern`. */
const matching = (pattern: string) => {
  const compiled = Either.getOrThrow(Pattern.compile(pattern))
  return (entry: Live) => compiled.matches(entry.key)
}

// Removes from the model the live keys of one shard that `removes` selects.
const removeWhere = (removes: (entry: Live) => boolean) => (model: Store, inShard: (key: string) => boolean) =>
  Effect.flatMap(
    live(model),
    (entries) =>
      model.removeMany(entries.filter((entry) => inShard(entry.key) && removes(entry)).map((entry) => entry.key))
  )

interface Features {
  readonly tags: boolean
  readonly metadata: boolean
  readonly expiry: boolean
}

const featuresOf = (store: Store): Features => ({
  tags: store.capabilities.tags,
  metadata: store.capabilities.metadata,
  expiry: store.capabilities.expiry
})

/** What a store and its model hold now, for operations whose arguments depend on it (`compareAndSwap`). */
type Current = ReadonlyMap<string, Live>

const LARGE_MIN = 33_000
const LARGE_MAX = 60_000

const makeValue = (rng: Prng, large: boolean): Uint8Array =>
  large ? rng.bytes(LARGE_MIN + rng.int(LARGE_MAX - LARGE_MIN)) : Buffer.from(`v${rng.int(1_000_000)}`)

/** The names of every operation `opOf` makes (those a store's features allow). */
const opNames = (features: Features): ReadonlyArray<string> => [
  "set",
  "set (large)",
  "add",
  "remove",
  "pop",
  ...(features.expiry ? ["touch"] : []),
  ...(features.metadata ? ["setMetadata"] : []),
  "increment",
  "decrement",
  "compareAndSwap",
  "append",
  "update",
  "setMany",
  "removeMany",
  "removePattern",
  ...(features.tags ? ["removeTag"] : []),
  ...(features.expiry ? ["expire"] : []),
  "clear",
  "withTransaction"
]

const optionsOf = (rng: Prng, features: Features): KeyValueStore.SetOptions => ({
  ...(features.expiry && rng.next() < 0.3 ? { ttl: rng.pick([500, 1500, 60_000]) } : {}),
  ...(features.tags && rng.next() < 0.5 ? { tags: tagNames.filter(() => rng.next() < 0.6) } : {}),
  ...(features.metadata && rng.next() < 0.3 ? { metadata: { n: rng.int(10) } } : {})
})

const describeArgs = (args: ReadonlyArray<unknown>): string =>
  args.map((arg) => JSON.stringify(show(arg), (_, v) => (typeof v === "bigint" ? `${v}n` : v))).join(", ")

/** An operation named `name` with random arguments. */
const opOf = (name: string, rng: Prng, features: Features, current: Current): Op => {
  const op = (run: (store: Store) => Effect.Effect<unknown, StoreError>, ...args: ReadonlyArray<unknown>) => ({
    name,
    detail: `${name}(${describeArgs(args)})`,
    run
  })
  // Mostly a key the store holds, so that most operations have something to change.
  const key = () => current.size > 0 && rng.next() < 0.7 ? rng.pick(Array.from(current.keys())) : rng.pick(allKeys)
  switch (name) {
    case "set":
    case "set (large)": {
      const k = key()
      const value = makeValue(rng, name === "set (large)")
      const options = optionsOf(rng, features)
      return { ...op((store) => store.set(k, value, options), k, value, options), fileBytes: () => value.byteLength }
    }
    case "add": {
      const k = key()
      const value = makeValue(rng, rng.next() < 0.3)
      return { ...op((store) => store.add(k, value), k, value), fileBytes: () => value.byteLength }
    }
    case "remove": {
      const k = key()
      return op((store) => store.remove(k), k)
    }
    case "pop": {
      const k = key()
      return op((store) => store.pop(k), k)
    }
    case "touch": {
      const k = key()
      const ttl = rng.pick([1000, 60_000, undefined])
      return op((store) => store.touch(k, ttl), k, ttl ?? "no expiry")
    }
    case "setMetadata": {
      const k = key()
      const metadata = { m: rng.int(100) }
      return op((store) => store.setMetadata(k, metadata), k, metadata)
    }
    case "increment":
    case "decrement": {
      const k = rng.next() < 0.8 ? rng.pick(counterKeys) : key()
      const delta = rng.int(5) + 1
      return op((store) => store[name](k, delta), k, delta)
    }
    case "compareAndSwap": {
      const k = key()
      const found = current.get(k)
      // Mostly the value the store holds (so that the swap happens), sometimes another.
      const expected = found !== undefined && rng.next() < 0.7 ? "current" : rng.next() < 0.5 ? "absent" : "other"
      const next = rng.next() < 0.2 ? Option.none() : Option.some(makeValue(rng, rng.next() < 0.3))
      return {
        ...op(
          (store) =>
            Effect.flatMap(store.get(k), (now) =>
              store.compareAndSwap(
                k,
                expected === "current" ? now : expected === "absent" ? Option.none() : Option.some("other"),
                next
              )),
          k,
          expected,
          next
        ),
        fileBytes: () => Option.match(next, { onNone: () => 0, onSome: (value) => value.byteLength })
      }
    }
    case "append": {
      const k = key()
      const value = makeValue(rng, rng.next() < 0.2)
      return {
        ...op((store) => store.append(k, value), k, value),
        fileBytes: (now) => (now.get(k)?.size ?? 0) + value.byteLength
      }
    }
    case "update": {
      const k = key()
      const large = rng.next() < 0.3
      const suffix = makeValue(rng, large)
      const drop = rng.next() < 0.2
      return {
        ...op(
          (store) =>
            store.update(
              k,
              (found) =>
                drop
                  ? Option.none()
                  : Option.some(Buffer.concat([Option.getOrElse(found, () => Buffer.alloc(0)), suffix]))
            ),
          k,
          drop ? "drop" : suffix
        ),
        fileBytes: (now) => drop ? 0 : (now.get(k)?.size ?? 0) + suffix.byteLength
      }
    }
    case "setMany": {
      // Keys of one hash tag, or of any shard (the fan-out then commits shard by shard).
      const keys = rng.next() < 0.5 ? taggedKeys : allKeys
      const entries = Array.from(
        { length: 1 + rng.int(3) },
        () => [rng.pick(keys), makeValue(rng, rng.next() < 0.4), optionsOf(rng, features)] as const
      )
      return {
        ...op((store) => store.setMany(entries), entries),
        onShard: (model, inShard) => model.setMany(entries.filter(([k]) => inShard(k))),
        fileBytes: () => Math.max(...entries.map(([, value]) => value.byteLength))
      }
    }
    case "removeMany": {
      const keys = allKeys.filter(() => rng.next() < 0.4)
      return {
        ...op((store) => store.removeMany(keys), keys),
        onShard: removeWhere((entry) => keys.includes(entry.key))
      }
    }
    case "removePattern": {
      const pattern = rng.pick(["k.*", "\\{t\\}.*", "n.*", "**"])
      return { ...op((store) => store.removePattern(pattern), pattern), onShard: removeWhere(matching(pattern)) }
    }
    case "removeTag": {
      const tag = rng.pick(tagNames)
      return {
        ...op((store) => store.removeTag(tag), tag),
        onShard: removeWhere((entry) => entry.tags.includes(tag))
      }
    }
    case "expire":
      // Its count is not compared: writes reclaim expired entries too, at a pace of each backend's own.
      return { ...op((store) => Effect.asVoid(store.expire)), onShard: () => Effect.void }
    case "clear":
      return { ...op((store) => store.clear), onShard: removeWhere(() => true) }
    case "withTransaction": {
      // Keys of one hash tag: one shard of the fan-out, whose transaction it is.
      const [a, b] = [rng.pick(taggedKeys), rng.pick(taggedKeys)]
      const value = makeValue(rng, rng.next() < 0.4)
      const body = (store: Store) =>
        Effect.all([store.set(a, value), store.remove(b), store.increment("{t}.n", 1)]).pipe(Effect.map(show))
      return {
        ...op(
          (store) =>
            FanoutStore.isFanoutStore(store)
              ? store.shardOf(a).withTransaction(body(store))
              : store.withTransaction(body(store)),
          a,
          value,
          b
        ),
        fileBytes: () => value.byteLength
      }
    }
  }
  throw new Error(`unknown operation ${name}`)
}

/**
 * Every writing operation, each with arguments that change the baseline (so that each has something to commit): inline
 * and large values written, overwritten and removed, on one shard and across shards.
 */
const mutations = (features: Features, rng: Prng): ReadonlyArray<Op> => {
  const op = (
    name: string,
    detail: string,
    run: Op["run"],
    extra: Pick<Op, "onShard" | "fileBytes"> = {}
  ): Op => ({ name, detail, run, ...extra })
  const small = Buffer.from("new")
  const large = makeValue(rng, true)
  const largeOps = { fileBytes: () => large.byteLength }
  const removing = (keys: ReadonlyArray<string>) => ({ onShard: removeWhere((entry) => keys.includes(entry.key)) })
  return [
    op("set", "set(k.0, inline)", (store) => store.set("k.0", small)),
    op("set", "set(k.1, large over large)", (store) => store.set("k.1", large), largeOps),
    op("set", "set(k.3, large, new)", (store) => store.set("k.3", large), largeOps),
    ...(features.tags ? [op("set", "set(k.0, tagged)", (store) => store.set("k.0", small, { tags: ["blue"] }))] : []),
    op("add", "add(k.4, inline)", (store) => store.add("k.4", small)),
    op("add", "add(k.4, large)", (store) => store.add("k.4", large), largeOps),
    op("remove", "remove(k.0) (inline)", (store) => store.remove("k.0")),
    op("remove", "remove(k.1) (large)", (store) => store.remove("k.1")),
    op("remove", "remove({t}.a) (large)", (store) => store.remove("{t}.a")),
    op("pop", "pop(k.0) (inline)", (store) => store.pop("k.0")),
    op("pop", "pop(k.2) (large)", (store) => store.pop("k.2")),
    ...(features.expiry ? [op("touch", "touch(k.1, 1 minute)", (store) => store.touch("k.1", 60_000))] : []),
    ...(features.metadata
      ? [op("setMetadata", "setMetadata(k.1)", (store) => store.setMetadata("k.1", { m: 2 }))]
      : []),
    op("increment", "increment(n.0)", (store) => store.increment("n.0")),
    op("increment", "increment(n.1) (absent)", (store) => store.increment("n.1", 3)),
    op("decrement", "decrement(n.0)", (store) => store.decrement("n.0", 2)),
    op(
      "compareAndSwap",
      "compareAndSwap(k.0, v0 -> new)",
      (store) => store.compareAndSwap("k.0", Option.some("v0"), Option.some(small))
    ),
    op(
      "compareAndSwap",
      "compareAndSwap(k.1, large -> none)",
      (store) => Effect.flatMap(store.get("k.1"), (now) => store.compareAndSwap("k.1", now, Option.none()))
    ),
    op("append", "append(k.0, inline)", (store) => store.append("k.0", small)),
    op("append", "append(k.1, large to large)", (store) => store.append("k.1", small), {
      fileBytes: (now) => now.get("k.1")!.size + small.byteLength
    }),
    op(
      "update",
      "update(k.2, large -> larger)",
      (store) => store.update("k.2", (now) => Option.map(now, (bytes) => Buffer.concat([bytes, small]))),
      { fileBytes: (now) => now.get("k.2")!.size + small.byteLength }
    ),
    op("update", "update(k.2, large -> none)", (store) => store.update("k.2", () => Option.none())),
    op(
      "setMany",
      "setMany({t}.b, {t}.c large)",
      (store) => store.setMany([["{t}.b", small], ["{t}.c", large]]),
      largeOps
    ),
    op(
      "setMany",
      "setMany(k.0, {t}.b, n.1) (across shards)",
      (store) => store.setMany([["k.0", small], ["{t}.b", small], ["n.1", small]]),
      {
        onShard: (model, inShard) =>
          model.setMany(["k.0", "{t}.b", "n.1"].filter(inShard).map((k) => [k, small] as const))
      }
    ),
    op(
      "removeMany",
      "removeMany(k.0, k.1, {t}.a)",
      (store) => store.removeMany(["k.0", "k.1", "{t}.a"]),
      removing(["k.0", "k.1", "{t}.a"])
    ),
    op("removePattern", "removePattern(k.*)", (store) => store.removePattern("k.*"), {
      onShard: removeWhere(matching("k.*"))
    }),
    op("removePattern", "removePattern(**)", (store) => store.removePattern("**"), {
      onShard: removeWhere(() => true)
    }),
    ...(features.tags
      ? [
        op("removeTag", "removeTag(red)", (store) => store.removeTag("red"), {
          onShard: removeWhere((entry) => entry.tags.includes("red"))
        })
      ]
      : []),
    ...(features.expiry
      ? [op("expire", "expire (k.5 expired)", (store) => store.expire, { onShard: () => Effect.void })]
      : []),
    op("clear", "clear", (store) => store.clear, { onShard: removeWhere(() => true) }),
    op(
      "withTransaction",
      "withTransaction(set {t}.c large, remove {t}.a, increment {t}.n)",
      (store) => {
        const body = Effect.all([store.set("{t}.c", large), store.remove("{t}.a"), store.increment("{t}.n")])
        return FanoutStore.isFanoutStore(store)
          ? store.shardOf("{t}").withTransaction(body)
          : store.withTransaction(body)
      },
      largeOps
    ),
    op(
      "withTransaction",
      "withTransaction(remove k.1 large, remove k.2 large) (on the fan-out: the two removes)",
      (store) => {
        const body = Effect.all([store.remove("k.1"), store.remove("k.2")])
        return FanoutStore.isFanoutStore(store) ? body : store.withTransaction(body)
      },
      removing(["k.1", "k.2"])
    )
  ]
}

// ---------------------------------------------------------------------------------------------------------------
// One operation on a filled disk, checked.

/** Where a store lives: the disk and the database files on it. */
interface Place {
  readonly disk: SmallDisk
  readonly databases: ReadonlyArray<string>
}

interface Harness extends Place {
  readonly subject: Subject
  store: Store
  readonly model: Store
  /** Outcomes per operation name. */
  readonly counts: Map<string, { ok: number; failed: number; full: number; partial: number }>
}

const harness = (subject: Subject, disk: SmallDisk) =>
  Effect.gen(function*() {
    const opened = yield* openScoped(subject, disk.dir)
    const model = yield* MemoryStore.make({ sweepInterval })
    let close = opened.close
    const h: Harness = {
      subject,
      disk,
      databases: subject.databases(disk.dir),
      store: opened.store,
      model,
      counts: new Map()
    }
    yield* Effect.addFinalizer(() => close)
    return {
      h,
      reopen: Effect.gen(function*() {
        yield* close
        const again = yield* openScoped(subject, disk.dir)
        h.store = again.store
        close = again.close
      })
    }
  })

/** Empties the disk, truncates every write-ahead log, then fills the disk but for `room` bytes. */
const squeeze = (h: Place, room: number): void => {
  h.disk.empty()
  for (const database of h.databases) truncateWal(database)
  h.disk.fill(room)
}

const states = (h: Place): Array<FileState> => h.databases.map(fileState)

const failureOf = (cause: Cause.Cause<StoreError>, what: string): StoreError => {
  assert.isFalse(Cause.isDie(cause), `${what} died: ${Cause.pretty(cause)}`)
  const failure = Cause.failureOption(cause)
  assert.isTrue(Option.isSome(failure), `${what} failed without a typed error: ${Cause.pretty(cause)}`)
  return Option.getOrThrow(failure)
}

/** Runs `op` with `room` bytes free; checks it against the model and the database against its state before. */
const step = (h: Harness, op: Op, room: number) =>
  Effect.gen(function*() {
    const what = `${h.subject.name}: ${op.detail} with ${room} bytes free`
    squeeze(h, room)
    const before = states(h)
    const exit = yield* Effect.exit(op.run(h.store))
    const after = states(h)
    after.forEach((state, i) => {
      assertFilesNamed(state, `${what}, shard ${i}`)
      // Acknowledged means durable, and a failure leaves nothing a crash could bring back.
      assert.deepStrictEqual(recovered(h.databases[i]!), state.tables, `${what}, shard ${i}: recovered from its log`)
    })
    const counts = h.counts.get(op.name) ?? { ok: 0, failed: 0, full: 0, partial: 0 }
    h.counts.set(op.name, counts)
    if (Exit.isFailure(exit)) {
      const error = failureOf(exit.cause, what)
      counts.failed++
      if (error._tag === "BackendError") counts.full++
      let unchanged = 0
      for (let i = 0; i < after.length; i++) {
        if (JSON.stringify(after[i]) === JSON.stringify(before[i])) {
          unchanged++
          continue
        }
        // A fan-out shard that committed its part of the operation: that part is acknowledged, in the model too.
        if (op.onShard === undefined) {
          assert.deepStrictEqual(after[i], before[i], `${what} failed (${error.message}) but changed the database`)
        } else {
          counts.partial++
          yield* op.onShard(h.model, (key) => h.subject.shardOf(key) === i)
        }
      }
      assert.isAbove(unchanged, 0, `${what} failed (${error.message}) but changed every database`)
    } else {
      counts.ok++
      const expected = yield* Effect.exit(op.run(h.model))
      if (Exit.isFailure(expected)) assert.fail(`${what} succeeded, the model failed: ${Cause.pretty(expected.cause)}`)
      else assert.deepStrictEqual(show(exit.value), show(expected.value), `${what}: the answer`)
    }
    assert.deepStrictEqual(yield* live(h.store), yield* live(h.model), `${what}: the live entries`)
    return exit
  })

/** Empties the disk; then `check` and the engine's integrity check are clean, and so is the store reopened. */
const finish = (h: Harness, reopen: Effect.Effect<void>) =>
  Effect.gen(function*() {
    h.disk.empty()
    const checkClean = Effect.gen(function*() {
      if (h.store.capabilities.check) {
        const report = yield* h.store.check({ minOrphanAge: 0 })
        assert.deepStrictEqual(
          { ok: report.ok, danglingRows: report.danglingRows, orphanedFiles: report.orphanedFiles },
          { ok: true, danglingRows: [], orphanedFiles: [] },
          `${h.subject.name}: check ${JSON.stringify(report)}`
        )
      }
      for (const database of h.databases) {
        const engine = withDb(database, (db) => db.pragma("integrity_check", { simple: true }))
        assert.strictEqual(engine, "ok", `${database}: integrity_check`)
        assertFilesNamed(fileState(database), `${database} at the end`)
      }
    })
    yield* checkClean
    const acknowledged = yield* live(h.model)
    assert.deepStrictEqual(yield* live(h.store), acknowledged, `${h.subject.name}: the live entries before reopening`)
    yield* reopen
    assert.deepStrictEqual(yield* live(h.store), acknowledged, `${h.subject.name}: the live entries after reopening`)
    yield* checkClean
  })

/** The baseline both stores start from: inline and large values, tags, metadata, a counter, an entry expiring soon. */
const baseline = (h: Harness, rng: Prng) =>
  Effect.gen(function*() {
    const features = featuresOf(h.store)
    const entries: Array<readonly [string, Uint8Array, KeyValueStore.SetOptions]> = [
      ["k.0", Buffer.from("v0"), {
        ...(features.tags ? { tags: ["red"] } : {}),
        ...(features.metadata ? { metadata: { n: 1 } } : {})
      }],
      ["k.1", makeValue(rng, true), features.tags ? { tags: ["blue", "red"] } : {}],
      ["k.2", makeValue(rng, true), {}],
      ["{t}.a", makeValue(rng, true), features.tags ? { tags: ["blue"] } : {}],
      ["{t}.b", Buffer.from("vb"), {}],
      ["n.0", Buffer.from("5"), {}],
      ...(features.expiry ? [["k.5", makeValue(rng, true), { ttl: 1000 }] as const] : [])
    ]
    for (const store of [h.store, h.model]) yield* store.setMany(entries)
    // k.5 expires: `expire` has a row to remove.
    yield* TestClock.adjust(2000)
  })

const current = (h: Harness) =>
  Effect.map(live(h.model), (entries): Current => new Map(entries.map((entry) => [entry.key, entry])))

/** Logs written while `effect` runs (the sweeper logs its failures), collected instead of printed. */
const collectLogs = <A, E, R>(effect: (logs: ReadonlyArray<string>) => Effect.Effect<A, E, R>) => {
  const logs: Array<string> = []
  const logger = Logger.make(({ message }) => {
    logs.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  return Effect.provide(effect(logs), Logger.replace(Logger.defaultLogger, logger))
}

// ---------------------------------------------------------------------------------------------------------------

describe("SQLite connections of the stores", () => {
  // A deferred foreign key makes a statement's implicit COMMIT fail (as a full disk does) on any machine.
  it.scoped("report a write's failed autocommit whichever way the statement runs (get, iterate, all, run)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const settings = sqliteFile.connectionSettings({ filename: path.join(dir, "fk.db") })
      if (settings instanceof KeyValueStoreError.InvalidArgument) return yield* settings
      const db = yield* Effect.acquireRelease(
        Effect.sync(() =>
          sqliteFile.open(settings, (db) =>
            db.exec(`CREATE TABLE p (k TEXT PRIMARY KEY);
              CREATE TABLE c (k TEXT REFERENCES p (k) DEFERRABLE INITIALLY DEFERRED);
              INSERT INTO p VALUES ('a'), ('b'), ('c'), ('d'); INSERT INTO c SELECT k FROM p`), (db) => db)
        ),
        (db) => Effect.sync(() => db.close())
      )
      db.pragma("foreign_keys = ON")
      const remove = db.prepare<[string], string>("DELETE FROM p WHERE k = ? RETURNING k").pluck()
      const runs: ReadonlyArray<readonly [how: string, key: string, run: (key: string) => unknown]> = [
        ["get", "a", (key) => remove.get(key)],
        ["iterate", "b", (key) => remove.iterate(key).next()],
        ["all", "c", (key) => remove.all(key)],
        ["run", "d", (key) => remove.run(key)]
      ]
      for (const [how, key, run] of runs) {
        let code: unknown = "nothing thrown"
        try {
          run(key)
        } catch (error) {
          code = (error as { readonly code?: unknown }).code
        }
        assert.strictEqual(code, "SQLITE_CONSTRAINT_FOREIGNKEY", `${how}: the failed commit`)
      }
      assert.deepStrictEqual(db.prepare("SELECT k FROM p ORDER BY k").pluck().all(), ["a", "b", "c", "d"])
    }))
})

describeSmallDisk("SQLite stores on a full disk", () => {
  for (const subject of subjects) {
    it.scoped(`${subject.name}: every writing operation fails typed with no room and changes nothing`, () =>
      Effect.gen(function*() {
        const disk = yield* smallDisk(DISK)
        const { h, reopen } = yield* harness(subject, disk)
        const rng = prng(1)
        yield* baseline(h, rng)
        for (const op of mutations(featuresOf(h.store), rng)) {
          // No room at all, and (for an operation writing a large value) exactly the room of its file: the file is
          // written, the commit then fails.
          const fileBytes = op.fileBytes?.(yield* current(h)) ?? 0
          for (const room of subject.files && fileBytes > 32 * 1024 ? [0, fileBytes] : [0]) {
            const exit = yield* step(h, op, room)
            if (Exit.isSuccess(exit)) {
              assert.fail(
                `${subject.name}: ${op.detail} succeeded on a full disk (${JSON.stringify(show(exit.value))})`
              )
            } else {
              // The message says why: SQLite's SQLITE_FULL, or the file system's ENOSPC for a large value's file.
              const { message } = failureOf(exit.cause, op.detail)
              assert.match(message, /database or disk is full|no space left on device/, `${subject.name}: ${message}`)
            }
          }
        }
        for (const [name, counts] of h.counts) {
          assert.strictEqual(counts.ok, 0, `${subject.name}: ${name} succeeded on a full disk`)
          assert.strictEqual(counts.full, counts.failed, `${subject.name}: ${name} failed other than BackendError`)
        }
        yield* finish(h, reopen)
        Figures.record({
          name: "disk full: every writing operation fails typed and changes nothing",
          backend: subject.name,
          count: Array.from(h.counts.values()).reduce((n, c) => n + c.failed, 0),
          detail: `${h.counts.size} operations, each with no room (large values also with exactly their file's room)`
        })
      }))

    it.scoped(`${subject.name}: seeded random operations on a filling disk keep exactly the acknowledged state`, () =>
      Effect.gen(function*() {
        const disk = yield* smallDisk(DISK)
        const { h, reopen } = yield* harness(subject, disk)
        const rng = prng(7)
        yield* baseline(h, rng)
        const features = featuresOf(h.store)
        const names = opNames(features)
        const rounds = names.length * 8
        for (let round = 0; round < rounds; round++) {
          const op = opOf(names[round % names.length]!, rng, features, yield* current(h))
          // No room, a page or a few, about a commit's worth, or the pages of the large value the operation writes.
          const rooms = [0, PAGE, 2 * PAGE, 3 * PAGE, 5 * PAGE, 8 * PAGE, 16 * PAGE, 64 * PAGE, 256 * PAGE]
          const fileBytes = op.fileBytes?.(yield* current(h)) ?? 0
          const room = subject.files && fileBytes > 32 * 1024 && rng.next() < 0.4
            ? fileBytes + rng.int(3) * PAGE
            : rng.pick(rooms)
          yield* step(h, op, room)
          // Time passes now and then: entries expire mid-sequence.
          if (features.expiry && rng.next() < 0.1) yield* TestClock.adjust(700)
        }
        const total = { ok: 0, failed: 0, partial: 0 }
        for (const counts of h.counts.values()) {
          total.ok += counts.ok
          total.failed += counts.failed
          total.partial += counts.partial
        }

        console.log(
          `disk-full ${subject.name}: ${rounds} operations, ${total.ok} acknowledged, ${total.failed} failed typed` +
            (total.partial > 0 ? ` (${total.partial} of them after some shards committed their part)` : "") +
            ` (acknowledged/failed: ${Array.from(h.counts, ([name, c]) => `${name} ${c.ok}/${c.failed}`).join(", ")})`
        )
        assert.isAbove(total.ok, rounds / 5, `${subject.name}: too few operations succeeded to mean anything`)
        assert.isAbove(total.failed, rounds / 5, `${subject.name}: too few operations failed to mean anything`)
        yield* finish(h, reopen)
        Figures.record({
          name: "disk full: random operations keep exactly the acknowledged state, also reopened",
          backend: subject.name,
          count: rounds,
          detail: `${total.ok} acknowledged, ${total.failed} failed typed; the state compared after each`
        })
      }))
  }

  for (const subject of subjects.filter((s) => s.name !== "SqliteStore index")) {
    it.scoped(`${subject.name}: a lock is not taken, nor half released, when its commit fails`, () =>
      Effect.gen(function*() {
        const disk = yield* smallDisk(DISK)
        const { h } = yield* harness(subject, disk)
        const tryLock = (name: string) => Effect.exit(Effect.scoped(h.store.lock(name, { ttl: 30_000, timeout: 0 })))

        squeeze(h, 0)
        let before = states(h)
        const refused = yield* tryLock("L")
        assert.isTrue(Exit.isFailure(refused), "a lock taken on a full disk")
        if (Exit.isFailure(refused)) assert.strictEqual(failureOf(refused.cause, "lock")._tag, "BackendError")
        assert.deepStrictEqual(states(h), before, "the lock table after a failed acquisition")

        // Held while there is room; released on a full disk: the release fails (and is ignored, by design: a lease
        // expires by itself), leaving the lease exactly as it was, held until its ttl.
        h.disk.empty()
        const scope = yield* Scope.make()
        yield* Scope.extend(h.store.lock("M", { ttl: 30_000 }), scope)
        squeeze(h, 0)
        before = states(h)
        yield* Scope.close(scope, Exit.void)
        assert.deepStrictEqual(states(h), before, "the lock table after a failed release")
        h.disk.empty()
        const held = yield* tryLock("M")
        assert.isTrue(Exit.isFailure(held), "a lease whose release failed was free at once")
        if (Exit.isFailure(held)) assert.strictEqual(failureOf(held.cause, "lock")._tag, "LockTimeout")
        yield* TestClock.adjust(31_000)
        assert.isTrue(Exit.isSuccess(yield* tryLock("M")), "the lease expired after its ttl")
        assert.isTrue(Exit.isSuccess(yield* tryLock("L")), "the lock a failed acquisition left free")
      }))

    it.scoped(`${subject.name}: the sweeper's failed commit keeps expired rows and their files`, () =>
      collectLogs((logs) =>
        Effect.gen(function*() {
          const disk = yield* smallDisk(DISK)
          const { h } = yield* harness(subject, disk)
          const rng = prng(3)
          for (const store of [h.store, h.model]) {
            yield* store.setMany([
              ["k.0", makeValue(rng, true), { ttl: 1000 }],
              ["{t}.a", makeValue(rng, true), { ttl: 1000 }],
              ["k.1", Buffer.from("x"), { ttl: 1000 }],
              ["k.2", Buffer.from("stays"), {}]
            ])
          }
          squeeze(h, 0)
          const before = states(h)
          // The sweepers run every hour: this one fails.
          yield* TestClock.adjust("61 minutes")
          assert.isTrue(logs.some((line) => line.includes("sweep failed")), `no sweep failure logged: ${logs}`)
          assert.deepStrictEqual(states(h), before, "the database after a failed sweep")
          assert.deepStrictEqual(yield* live(h.store), yield* live(h.model))
          h.disk.empty()
          yield* TestClock.adjust("60 minutes")
          const after = states(h)
          after.forEach((state, i) => assertFilesNamed(state, `after the sweep, shard ${i}`))
          const rows = after.flatMap((state) => state.tables["effect_kv"] ?? [])
          assert.strictEqual(rows.length, 1, `rows left after the sweep: ${rows}`)
          assert.deepStrictEqual(yield* live(h.store), yield* live(h.model))
        })
      ))
  }

  it.scoped("SqliteStore: eviction in a write and by the sweeper keeps victims and their files when the commit fails", () =>
    collectLogs((logs) =>
      Effect.gen(function*() {
        const disk = yield* smallDisk(DISK)
        const filename = path.join(disk.dir, "kv.db")
        const limited = yield* SqliteStore.make({ filename, maxEntries: 3, sweepInterval: "1 minute" })
        const plain = yield* SqliteStore.make({ filename, sweepInterval })
        const rng = prng(5)
        for (const key of ["k.0", "k.1", "k.2"]) yield* limited.set(key, makeValue(rng, true))
        const h = { disk, databases: [filename] }
        const keysOf = (store: Store) => Effect.map(Stream.runCollect(store.keys()), Chunk.toArray)

        squeeze(h, 0)
        let before = states(h)
        const refused = yield* Effect.exit(limited.set("k.3", makeValue(rng, true)))
        assert.isTrue(Exit.isFailure(refused), "an evicting write succeeded on a full disk")
        if (Exit.isFailure(refused)) assert.strictEqual(failureOf(refused.cause, "set")._tag, "BackendError")
        assert.deepStrictEqual(states(h), before, "the database after a failed evicting write")
        assert.deepStrictEqual(yield* keysOf(limited), ["k.0", "k.1", "k.2"])

        h.disk.empty()
        yield* limited.set("k.3", Buffer.from("x"))
        assertFilesNamed(fileState(filename), "after an evicting write")
        assert.strictEqual((yield* keysOf(limited)).length, 3)

        // Another writer of the file takes it past the limit: the limited store's sweeper evicts.
        for (const key of ["k.4", "k.5", "k.6"]) yield* plain.set(key, makeValue(rng, true))
        squeeze(h, 0)
        before = states(h)
        yield* TestClock.adjust("1 minute")
        assert.isTrue(logs.some((line) => line.includes("sweep failed")), `no sweep failure logged: ${logs}`)
        assert.deepStrictEqual(states(h), before, "the database after a failed evicting sweep")
        h.disk.empty()
        yield* TestClock.adjust("1 minute")
        assertFilesNamed(fileState(filename), "after an evicting sweep")
        assert.strictEqual((yield* keysOf(limited)).length, 3)
      })
    ))

  it.scoped("SqliteStore: check({ fix: true }) whose repair cannot commit fails typed and repairs nothing", () =>
    Effect.gen(function*() {
      const disk = yield* smallDisk(DISK)
      const filename = path.join(disk.dir, "kv.db")
      const store = yield* SqliteStore.make({ filename, sweepInterval })
      const rng = prng(9)
      yield* store.set("gone", makeValue(rng, true))
      yield* store.set("kept", makeValue(rng, true))
      yield* store.set("old", Buffer.from("x"), { ttl: 1000 })
      yield* TestClock.adjust(2000)
      // A dangling row: its file deleted behind the store's back.
      const [named] = fileState(filename).named
      fs.rmSync(path.join(`${filename}.files`, named!))
      const h = { disk, databases: [filename] }
      squeeze(h, 0)
      const before = states(h)
      const failed = yield* Effect.exit(store.check({ fix: true, minOrphanAge: 0 }))
      assert.isTrue(Exit.isFailure(failed), "a repair committed on a full disk")
      if (Exit.isFailure(failed)) assert.strictEqual(failureOf(failed.cause, "check")._tag, "BackendError")
      assert.deepStrictEqual(states(h), before, "the database after a failed repair")
      disk.empty()
      const fixed = yield* store.check({ fix: true, minOrphanAge: 0 })
      assert.strictEqual(fixed.danglingRows.length, 1)
      assert.strictEqual(fixed.expiredPending, 1)
      const clean = yield* store.check({ minOrphanAge: 0 })
      assert.isTrue(clean.ok, JSON.stringify(clean))
    }))

  for (const subject of subjects.filter((s) => s.name !== "FanoutStore")) {
    it.scoped(`${subject.name}: a scoped transaction whose commit fails rolls back (a defect of the scope)`, () =>
      Effect.gen(function*() {
        const disk = yield* smallDisk(DISK)
        const { h } = yield* harness(subject, disk)
        yield* h.store.set("k.0", "before")
        squeeze(h, 0)
        const before = states(h)
        const exit = yield* Effect.exit(Effect.scoped(Effect.zipRight(
          h.store.transaction,
          Effect.zipRight(h.store.set("k.0", "after"), h.store.remove("k.0"))
        )))
        assert.isTrue(Exit.isFailure(exit), "a transaction committed on a full disk")
        assert.deepStrictEqual(states(h), before, "the database after a failed scoped commit")
        disk.empty()
        assert.deepStrictEqual(Option.map(yield* h.store.getString("k.0"), String), Option.some("before"))
      }))

    it.scoped(`${subject.name}: a transaction whose statement meets the full disk midway commits nothing it lost`, () =>
      Effect.gen(function*() {
        const disk = yield* smallDisk(48 * 1024 * 1024)
        const { h } = yield* harness(subject, disk)
        const rng = prng(11)
        yield* h.store.set("k.0", "before")
        yield* h.model.set("k.0", "before")
        // More than the page cache holds (better-sqlite3's default: 16 MiB): pages spill to the log before the commit,
        // and a statement meets the full disk. The program shrugs its failures off and goes on, as a program may.
        squeeze(h, 4 * 1024 * 1024)
        const before = states(h)
        const values = Array.from({ length: 700 }, () => rng.bytes(30_000))
        const written: Array<number> = []
        const exit = yield* Effect.exit(h.store.withTransaction(Effect.gen(function*() {
          for (let i = 0; i < values.length; i++) {
            if (Exit.isSuccess(yield* Effect.exit(h.store.set(`bulk.${i}`, values[i]!)))) written.push(i)
          }
          yield* h.store.set("k.0", "after")
        })))
        assert.isBelow(written.length, values.length, "no write of the transaction met the full disk")
        if (Exit.isFailure(exit)) {
          failureOf(exit.cause, "withTransaction")
          assert.deepStrictEqual(states(h), before, "the database after a failed transaction")
        } else {
          // Committed: exactly the writes that succeeded inside it are acknowledged.
          for (const i of written) yield* h.model.set(`bulk.${i}`, values[i]!)
          yield* h.model.set("k.0", "after")
        }
        disk.empty()
        assert.deepStrictEqual(yield* live(h.store), yield* live(h.model))
        h.databases.forEach((database) => assertFilesNamed(fileState(database), database))
      }))
  }
})
