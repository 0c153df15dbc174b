/**
 * The targets of the peers section: effect-kv's stores, the plainest way to do the same job on each engine (the
 * floor), and the libraries a TypeScript user would pick instead, each opened and called as its README shows, in
 * three classes: embedded on disk, in memory, and on Redis. Every target is an `Engine` of `drivers/engine.ts`
 * (synchronous calls, awaited promises, or effects yielded in the bench's program) with `batch` telling whether it has
 * a batch API of its own (`getMany`/`setMany` or their like); a target without one gets a loop of single calls for the
 * untimed prefill and cleanup only, and the section measures no batch workload on it.
 *
 * Values: effect-kv's stores, the floors, lmdb, lru-cache and `@effect/platform`'s KeyValueStore hold the section's
 * 256 bytes (`Uint8Array`s are what they store); the libraries whose users keep JS values (Keyv, unstorage,
 * bentocache, `@effect/experimental` Persistence) hold the same 256 bytes as a 256-character string, which each
 * serializes as it does by default. Every target finds the section's keys as they are (`key:<n>`), under a
 * namespace, prefix, directory or file of its own.
 */
import * as Persistence from "@effect/experimental/Persistence"
import * as PersistenceLmdb from "@effect/experimental/Persistence/Lmdb"
import * as PersistenceRedis from "@effect/experimental/Persistence/Redis"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as PlatformKvs from "@effect/platform/KeyValueStore"
import * as PlatformPath from "@effect/platform/Path"
import KeyvRedis from "@keyv/redis"
import KeyvSqlite from "@keyv/sqlite"
import { BentoCache, bentostore } from "bentocache"
import { memoryDriver } from "bentocache/drivers/memory"
import { redisDriver as bentoRedisDriver } from "bentocache/drivers/redis"
import Database from "better-sqlite3"
import { createDatabase } from "db0"
import sqliteConnector from "db0/connectors/better-sqlite3"
import * as MemoryStore from "effect-kv/MemoryStore"
import * as RedisStore from "effect-kv/RedisStore"
import * as SqliteStore from "effect-kv/SqliteStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import Keyv from "keyv"
import * as Lmdb from "lmdb"
import { LRUCache } from "lru-cache"
import * as path from "node:path"
import type { Storage } from "unstorage"
import { createStorage } from "unstorage"
import db0Driver from "unstorage/drivers/db0"
import fsDriver from "unstorage/drivers/fs"
import memoryStorageDriver from "unstorage/drivers/memory"
import unstorageRedisDriver from "unstorage/drivers/redis"
import * as Engine from "../drivers/engine.js"
import { timeAsync, timeEffect, timeSync } from "../harness.js"
import * as Servers from "../servers.js"
import * as Ioredis from "./ioredis.js"
import { BUSY_TIMEOUT_MS, PRAGMAS } from "./raw.js"

/** What a target is in its class's table. */
export type Role = "ours" | "floor" | "peer"

/** An open target. */
export interface Peer {
  readonly engine: Engine.Engine
  /** Whether it has a batch API of its own (`getMany` and `setMany` are measured only then). */
  readonly batch: boolean
  /** Prefills the keys with the section's value its own way (when its calls would take minutes); untimed. */
  readonly prefill?: (keys: ReadonlyArray<string>) => Effect.Effect<void, unknown>
}

/** What every target of a class gets when it opens. */
export interface Context {
  /** A directory of the section's, deleted when it ends (embedded targets put their files there). */
  readonly dir: string
  /** A key prefix of this run's alone on the shared Redis (its keys are deleted when the section ends). */
  readonly prefix: string
  /** The section's value as a 256-character string, for the libraries that hold JS values. */
  readonly text: string
  /** Entries the bounded caches must hold: the prefilled keys and a round of fresh keys. */
  readonly capacity: number
}

/** One target of a class: its name (as `--only` selects it), its role, how it is set up, and how to open it. */
export interface Target {
  readonly name: string
  readonly role: Role
  readonly config: string
  readonly open: (ctx: Context) => Effect.Effect<Peer, unknown, Scope.Scope>
}

type Entries = ReadonlyArray<readonly [string, Buffer]>

/** A target's calls that return promises; `getMany`/`setMany` absent when it has no batch API. */
interface PromiseApi {
  readonly get: (key: string) => Promise<unknown>
  readonly set: (key: string, value: Buffer) => Promise<unknown>
  readonly getMany?: (keys: ReadonlyArray<string>) => Promise<unknown>
  readonly setMany?: (entries: Entries) => Promise<unknown>
  readonly remove: (key: string) => Promise<unknown>
  /** Deletes many keys at once when the library can (untimed cleanup). */
  readonly removeMany?: (keys: ReadonlyArray<string>) => Promise<unknown>
}

const failure = (cause: unknown): Error => cause instanceof Error ? cause : new Error(String(cause))

const missingBatch = (name: string) => (): never => {
  throw new Error(`${name} has no batch API: the section measures none`)
}

/** A promise-based target, each call awaited before the next, as an application awaiting its cache would. */
const promiseEngine = (name: string, api: PromiseApi): Peer => {
  const driver: Engine.Driver<Promise<unknown>> = {
    api: {
      get: api.get,
      set: api.set,
      getMany: api.getMany ?? missingBatch(name),
      // The prefill and cleanup of a target without a batch API: its single calls, a few at a time.
      setMany: api.setMany ??
        (async (entries) => {
          for (let i = 0; i < entries.length; i += 100) {
            await Promise.all(entries.slice(i, i + 100).map(([key, value]) => api.set(key, value)))
          }
        }),
      removeMany: api.removeMany ??
        (async (keys) => {
          for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map(api.remove))
        })
    },
    time: (rec, n, op) => Effect.tryPromise({ try: () => timeAsync(rec, n, op), catch: failure }),
    untimed: (op) => Effect.tryPromise({ try: op, catch: failure }),
    found: (key) =>
      Effect.tryPromise({ try: () => api.get(key), catch: failure }).pipe(
        Effect.map((v) => v !== undefined && v !== null)
      )
  }
  return { engine: { name, use: (f) => f(driver) }, batch: api.getMany !== undefined && api.setMany !== undefined }
}

/** A target's calls that return effects. */
interface EffectApi {
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>, unknown>
  readonly set: (key: string, value: Buffer) => Effect.Effect<unknown, unknown>
  readonly getMany?: (keys: ReadonlyArray<string>) => Effect.Effect<unknown, unknown>
  readonly setMany?: (entries: Entries) => Effect.Effect<unknown, unknown>
  readonly remove: (key: string) => Effect.Effect<unknown, unknown>
  readonly removeMany?: (keys: ReadonlyArray<string>) => Effect.Effect<unknown, unknown>
}

/** An Effect-returning target, every call built and yielded inside the bench's Effect program. */
const effectEngine = (name: string, api: EffectApi): Peer => {
  type Call = Effect.Effect<unknown, unknown>
  const driver: Engine.Driver<Call> = {
    api: {
      get: api.get,
      set: api.set,
      getMany: api.getMany ?? missingBatch(name),
      setMany: api.setMany ??
        ((entries) => Effect.forEach(entries, ([key, value]) => api.set(key, value), { discard: true })),
      removeMany: api.removeMany ?? ((keys) => Effect.forEach(keys, api.remove, { discard: true }))
    },
    time: (rec, n, op) => timeEffect(rec, n, op),
    untimed: (op) => Effect.suspend(op),
    found: (key) => Effect.map(api.get(key), Option.isSome)
  }
  return { engine: { name, use: (f) => f(driver) }, batch: api.getMany !== undefined && api.setMany !== undefined }
}

/** A synchronous target (a `Map`, lru-cache, raw better-sqlite3), called in a plain loop. */
const syncEngine = (name: string, api: Engine.Api<unknown>, batch: boolean): Peer => {
  const driver: Engine.Driver<unknown> = {
    api,
    time: (rec, n, op) => Effect.sync(() => timeSync(rec, n, op)),
    untimed: (op) => Effect.sync(op),
    found: (key) => Effect.sync(() => api.get(key) !== undefined)
  }
  return { engine: { name, use: (f) => f(driver) }, batch }
}

/** One of our stores, as the other sections measure it. */
const ours = (name: string, store: Engine.Store): Peer => ({ engine: Engine.effect(name, store), batch: true })

const NONE = Option.none()

/** A BackingPersistence store of `@effect/experimental`, values the section's text, no ttl. */
const persistence = (name: string, store: Persistence.BackingPersistenceStore, text: string): Peer =>
  effectEngine(name, {
    get: (key) => store.get(key),
    set: (key) => store.set(key, text, NONE),
    getMany: (keys) => store.getMany([...keys]),
    setMany: (entries) => store.setMany(entries.map(([key]) => [key, text, NONE] as const)),
    remove: (key) => store.remove(key)
  })

/** `@effect/platform`'s KeyValueStore holding bytes: `set` of a `Uint8Array`, `getUint8Array`. */
const platformKvs = (name: string, kvs: PlatformKvs.KeyValueStore): Peer =>
  effectEngine(name, {
    get: (key) => kvs.getUint8Array(key),
    set: (key, value) => kvs.set(key, value),
    remove: (key) => kvs.remove(key)
  })

/** An unstorage `Storage`: `getItem`/`setItem` of the text, `getItems`/`setItems` as its batch API. */
const unstorage = (name: string, storage: Storage, text: string): Peer =>
  promiseEngine(name, {
    get: (key) => storage.getItem(key),
    set: (key) => storage.setItem(key, text),
    getMany: (keys) => storage.getItems([...keys]),
    setMany: (entries) => storage.setItems(entries.map(([key]) => ({ key, value: text }))),
    remove: (key) => storage.removeItem(key)
  })

const disposeStorage = (storage: Storage) => Effect.promise(() => storage.dispose().catch(() => undefined))

/** Keyv: `get`/`set` of the text, `getMany`/`setMany`, `deleteMany`. */
const keyv = (name: string, k: Keyv, text: string): Peer =>
  promiseEngine(name, {
    get: (key) => k.get(key),
    set: (key) => k.set(key, text),
    getMany: (keys) => k.getMany([...keys]),
    setMany: (entries) => k.setMany(entries.map(([key]) => ({ key, value: text }))),
    remove: (key) => k.delete(key),
    removeMany: (keys) => k.deleteMany([...keys])
  })

/** bentocache: `get({ key })`, `set({ key, value })` of the text; no batch reads or writes (only `deleteMany`). */
const bento = (name: string, b: BentoCache<Record<string, ReturnType<typeof bentostore>>>, text: string): Peer =>
  promiseEngine(name, {
    get: (key) => b.get({ key }),
    set: (key) => b.set({ key, value: text }),
    remove: (key) => b.delete({ key }),
    removeMany: (keys) => b.deleteMany({ keys: [...keys] })
  })

const openBento = (store: ReturnType<typeof bentostore>, prefix?: string) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      new BentoCache({ default: "cache", ...(prefix === undefined ? {} : { prefix }), stores: { cache: store } })
    ),
    (b) => Effect.promise(() => b.disconnect().catch(() => undefined))
  )

// --- embedded, on disk ---

/** The embedded floor's table: a plain key/value table, no rowid. */
const KV_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID"

/**
 * The plainest key/value table on better-sqlite3, with SqliteStore's busy timeout and pragmas: one autocommit upsert
 * per `set`, `getMany` the prepared `get` per key in one deferred transaction, `setMany` one immediate transaction.
 */
const plainSqlite = (filename: string): Effect.Effect<Peer, unknown, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.try(() => {
        const db = new Database(filename, { timeout: BUSY_TIMEOUT_MS })
        for (const pragma of PRAGMAS) db.pragma(pragma)
        db.exec(KV_SCHEMA)
        return db
      }),
      (db) => Effect.sync(() => db.close())
    ),
    (db) => {
      const get = db.prepare<[string], Buffer>("SELECT value FROM kv WHERE key = ?").pluck()
      const upsert = db.prepare<[string, Buffer]>(
        "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
      )
      const remove = db.prepare<[string]>("DELETE FROM kv WHERE key = ?")
      const getMany = db.transaction((keys: ReadonlyArray<string>) => keys.map((key) => get.get(key)))
      const setMany = db.transaction((entries: Entries) => {
        for (const [key, value] of entries) upsert.run(key, value)
      })
      const removeMany = db.transaction((keys: ReadonlyArray<string>) => {
        for (const key of keys) remove.run(key)
      })
      return syncEngine("better-sqlite3 kv", {
        get: (key) => get.get(key),
        set: (key, value) => upsert.run(key, value),
        getMany: (keys) => getMany.deferred(keys),
        setMany: (entries) => setMany.immediate(entries),
        removeMany: (keys) => removeMany.immediate(keys)
      }, true)
    }
  )

/** Prefills Keyv's SQLite table with the rows Keyv would write (its serializer and key prefix), by better-sqlite3. */
const prefillKeyvSqlite = async (filename: string, k: Keyv, keys: ReadonlyArray<string>, text: string) => {
  const value = String(await k.serializeData({ value: text, expires: undefined }))
  const db = new Database(filename, { timeout: BUSY_TIMEOUT_MS })
  try {
    const insert = db.prepare("INSERT INTO keyv (key, value) VALUES (?, ?)")
    db.transaction(() => {
      for (const key of keys) insert.run(k._getKeyPrefix(key), value)
    })()
  } finally {
    db.close()
  }
}

/**
 * Platform's `NodeFileSystem` layer, when `@effect/platform-node` is installed (it is not a dependency: the bench
 * reports the row as skipped without it).
 */
const nodeFileSystem: Effect.Effect<Layer.Layer<FileSystem.FileSystem> | undefined> = Effect.promise(async () => {
  const specifier = "@effect/platform-node/NodeFileSystem"
  try {
    const module = (await import(specifier)) as { readonly layer: Layer.Layer<FileSystem.FileSystem> }
    return module.layer
  } catch {
    return undefined
  }
})

/** The embedded class: SqliteStore, its floor, and the libraries that keep data in a local file or directory. */
export const EMBEDDED: ReadonlyArray<Target> = [
  {
    name: "SqliteStore",
    role: "ours",
    config: "SqliteStore.make({ filename })",
    open: (ctx) =>
      Effect.map(SqliteStore.make({ filename: path.join(ctx.dir, "store.db") }), (s) => ours("SqliteStore", s))
  },
  {
    name: "better-sqlite3 kv",
    role: "floor",
    config: "WITHOUT ROWID (key, value) table, SqliteStore's pragmas",
    open: (ctx) => plainSqlite(path.join(ctx.dir, "kv.db"))
  },
  {
    name: "keyv sqlite",
    role: "peer",
    config: "new Keyv({ store: new KeyvSqlite(uri) }) as shipped",
    open: (ctx) =>
      Effect.gen(function*() {
        const filename = path.join(ctx.dir, "keyv.db")
        const k = yield* Effect.acquireRelease(
          Effect.sync(() =>
            new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${filename}`, busyTimeout: 5000 }), throwOnErrors: true })
          ),
          (k) => Effect.promise(() => k.disconnect().catch(() => undefined))
        )
        yield* Effect.tryPromise({ try: () => k.set("probe", ctx.text), catch: failure }) // creates its table
        // As shipped, every write waits for fsyncs (journal_mode=delete, synchronous=FULL): its rows go in directly.
        const peer: Peer = {
          ...keyv("keyv sqlite", k, ctx.text),
          prefill: (keys) =>
            Effect.tryPromise({ try: () => prefillKeyvSqlite(filename, k, keys, ctx.text), catch: failure })
        }
        return peer
      })
  },
  {
    name: "unstorage fs",
    role: "peer",
    config: "createStorage({ driver: fsDriver({ base }) })",
    open: (ctx) =>
      Effect.map(
        Effect.acquireRelease(
          Effect.sync(() => createStorage({ driver: fsDriver({ base: path.join(ctx.dir, "unstorage-fs") }) })),
          disposeStorage
        ),
        (s) => unstorage("unstorage fs", s, ctx.text)
      )
  },
  {
    name: "unstorage db0",
    role: "peer",
    config: "db0Driver({ database: createDatabase(sqlite({ path })) }), better-sqlite3 connector",
    open: (ctx) =>
      Effect.gen(function*() {
        const database = createDatabase(sqliteConnector({ path: path.join(ctx.dir, "db0.db") }))
        yield* Effect.addFinalizer(() => Effect.promise(() => database.dispose().catch(() => undefined)))
        const storage = yield* Effect.acquireRelease(
          Effect.sync(() => createStorage({ driver: db0Driver({ database, tableName: "unstorage" }) })),
          disposeStorage
        )
        // As shipped, every write waits for fsyncs (journal_mode=delete, synchronous=FULL): the prefill goes through
        // its own setItems inside one transaction on db0's single connection.
        const peer: Peer = {
          ...unstorage("unstorage db0", storage, ctx.text),
          prefill: (keys) =>
            Effect.tryPromise({
              try: async () => {
                await database.exec("BEGIN")
                try {
                  for (let i = 0; i < keys.length; i += 1000) {
                    await storage.setItems(keys.slice(i, i + 1000).map((key) => ({ key, value: ctx.text })))
                  }
                  await database.exec("COMMIT")
                } catch (error) {
                  await database.exec("ROLLBACK")
                  throw error
                }
              },
              catch: failure
            })
        }
        return peer
      })
  },
  {
    name: "platform fs",
    role: "peer",
    config: "@effect/platform KeyValueStore.layerFileSystem(dir), NodeFileSystem",
    open: (ctx) =>
      Effect.gen(function*() {
        const fsLayer = yield* nodeFileSystem
        if (fsLayer === undefined) {
          return yield* Effect.fail(new Skipped("@effect/platform-node is not installed (its NodeFileSystem)"))
        }
        const kvs = yield* Effect.provide(
          PlatformKvs.KeyValueStore,
          PlatformKvs.layerFileSystem(path.join(ctx.dir, "platform-fs")).pipe(
            Layer.provide(Layer.merge(fsLayer, PlatformPath.layer))
          )
        )
        return platformKvs("platform fs", kvs)
      })
  },
  {
    name: "lmdb",
    role: "peer",
    config: "open({ path, encoding: \"binary\" }): get, await put, getMany, await transaction",
    open: (ctx) =>
      Effect.map(
        Effect.acquireRelease(
          Effect.sync(() => Lmdb.open<Buffer, string>({ path: path.join(ctx.dir, "lmdb"), encoding: "binary" })),
          (db) => Effect.promise(() => db.close())
        ),
        (db) =>
          promiseEngine("lmdb", {
            get: (key) => Promise.resolve(db.get(key)),
            set: (key, value) => db.put(key, value),
            getMany: (keys) => db.getMany([...keys]),
            setMany: (entries) =>
              db.transaction(() => {
                for (const [key, value] of entries) void db.put(key, value)
              }),
            remove: (key) => db.remove(key),
            removeMany: (keys) =>
              db.transaction(() => {
                for (const key of keys) void db.remove(key)
              })
          })
      )
  },
  {
    name: "Persistence lmdb",
    role: "peer",
    config: "@effect/experimental Persistence/Lmdb BackingPersistence",
    open: (ctx) =>
      Effect.gen(function*() {
        const backing = yield* PersistenceLmdb.make({ path: path.join(ctx.dir, "persistence-lmdb") })
        return persistence("Persistence lmdb", yield* backing.make("peers"), ctx.text)
      })
  }
]

// --- memory ---

/** The memory class: MemoryStore, a `Map`, and the in-process caches and stores. */
export const MEMORY: ReadonlyArray<Target> = [
  {
    name: "MemoryStore",
    role: "ours",
    config: "MemoryStore.make()",
    open: () => Effect.map(MemoryStore.make(), (s) => ours("MemoryStore", s))
  },
  {
    name: "Map",
    role: "floor",
    config: "Map<string, Buffer>, called directly",
    open: () =>
      Effect.sync(() => {
        const map = new Map<string, Buffer>()
        return syncEngine("Map", {
          get: (key) => map.get(key),
          set: (key, value) => map.set(key, value),
          getMany: (keys) => keys.map((key) => map.get(key)),
          setMany: (entries) => {
            for (const [key, value] of entries) map.set(key, value)
          },
          removeMany: (keys) => {
            for (const key of keys) map.delete(key)
          }
        }, true)
      })
  },
  {
    name: "platform memory",
    role: "peer",
    config: "@effect/platform KeyValueStore.layerMemory",
    open: () =>
      Effect.map(
        Effect.provide(PlatformKvs.KeyValueStore, PlatformKvs.layerMemory),
        (kvs) => platformKvs("platform memory", kvs)
      )
  },
  {
    name: "lru-cache",
    role: "peer",
    config: "new LRUCache({ max }), max: the prefilled keys and a round of fresh keys",
    open: (ctx) =>
      Effect.sync(() => {
        const lru = new LRUCache<string, Buffer>({ max: ctx.capacity })
        return syncEngine("lru-cache", {
          get: (key) => lru.get(key),
          set: (key, value) => lru.set(key, value),
          getMany: missingBatch("lru-cache"),
          setMany: (entries) => {
            for (const [key, value] of entries) lru.set(key, value)
          },
          removeMany: (keys) => {
            for (const key of keys) lru.delete(key)
          }
        }, false)
      })
  },
  {
    name: "unstorage memory",
    role: "peer",
    config: "createStorage() (memory driver)",
    open: (ctx) =>
      Effect.map(
        Effect.acquireRelease(Effect.sync(() => createStorage({ driver: memoryStorageDriver() })), disposeStorage),
        (s) => unstorage("unstorage memory", s, ctx.text)
      )
  },
  {
    name: "bentocache memory",
    role: "peer",
    config: "bentostore().useL1Layer(memoryDriver({ maxItems })), as lru-cache's max",
    open: (ctx) =>
      Effect.map(
        openBento(bentostore().useL1Layer(memoryDriver({ maxItems: ctx.capacity }))),
        (b) => bento("bentocache memory", b, ctx.text)
      )
  },
  {
    name: "Persistence memory",
    role: "peer",
    config: "@effect/experimental Persistence.layerMemory BackingPersistence",
    open: (ctx) =>
      Effect.gen(function*() {
        const backing = yield* Effect.provide(Persistence.BackingPersistence, Persistence.layerMemory)
        return persistence("Persistence memory", yield* backing.make("peers"), ctx.text)
      })
  }
]

// --- redis ---

/** The bench's Redis as ioredis options (for the libraries that take them rather than a URL). */
const redisOptions = () => {
  const u = new URL(Servers.url("redis"))
  return {
    host: u.hostname,
    port: Number(u.port === "" ? 6379 : u.port),
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    ...(u.username === "" ? {} : { username: decodeURIComponent(u.username) }),
    ...(u.password === "" ? {} : { password: decodeURIComponent(u.password) }),
    maxRetriesPerRequest: 1
  }
}

const connected = <A>(what: string, f: () => Promise<A>) => Servers.step("redis", what, f)

/** The redis class: RedisStore, plain commands on ioredis, and the libraries' Redis drivers. */
export const REDIS: ReadonlyArray<Target> = [
  {
    name: "RedisStore",
    role: "ours",
    config: "RedisStore.make({ url, prefix })",
    open: (ctx) =>
      RedisStore.make({ url: Servers.url("redis"), prefix: `${ctx.prefix}store:` }).pipe(
        Effect.interruptible,
        Servers.within("redis", "opening RedisStore"),
        Effect.map((s) => ours("RedisStore", s))
      )
  },
  {
    name: "ioredis",
    role: "floor",
    config: "GET / SET / MGET / a pipeline of SETs, bytes",
    open: (ctx) =>
      Effect.map(Ioredis.connect, (redis) => {
        const p = `${ctx.prefix}raw:`
        return promiseEngine("ioredis", {
          get: (key) => redis.getBuffer(p + key),
          set: (key, value) => redis.set(p + key, value),
          getMany: (keys) => redis.mgetBuffer(keys.map((key) => p + key)),
          setMany: async (entries) => {
            const pipeline = redis.pipeline()
            for (const [key, value] of entries) pipeline.set(p + key, value)
            const results = await pipeline.exec()
            const failed = results?.find(([error]) => error !== null)
            if (failed !== undefined) throw failed[0]
          },
          remove: (key) => redis.unlink(p + key),
          removeMany: (keys) => keys.length === 0 ? Promise.resolve(0) : redis.unlink(...keys.map((key) => p + key))
        })
      })
  },
  {
    name: "keyv redis",
    role: "peer",
    config: "new Keyv({ store: new KeyvRedis(url), namespace })",
    open: (ctx) =>
      Effect.map(
        Effect.acquireRelease(
          connected("connecting Keyv", async () => {
            const k = new Keyv({
              store: new KeyvRedis(Servers.url("redis")),
              namespace: `${ctx.prefix}keyv`,
              throwOnErrors: true
            })
            await k.set("probe", "probe")
            await k.delete("probe")
            return k
          }),
          (k) => Effect.promise(() => k.disconnect().catch(() => undefined))
        ),
        (k) => keyv("keyv redis", k, ctx.text)
      )
  },
  {
    name: "bentocache redis",
    role: "peer",
    config: "bentostore().useL2Layer(redisDriver({ connection })), no L1",
    open: (ctx) =>
      Effect.gen(function*() {
        const redis = yield* Ioredis.connect
        const b = yield* openBento(
          bentostore().useL2Layer(bentoRedisDriver({ connection: redis })),
          `${ctx.prefix}bento`
        )
        return bento("bentocache redis", b, ctx.text)
      })
  },
  {
    name: "unstorage redis",
    role: "peer",
    config: "createStorage({ driver: redisDriver({ url, base }) })",
    open: (ctx) =>
      Effect.map(
        Effect.acquireRelease(
          Effect.sync(() =>
            createStorage({
              driver: unstorageRedisDriver({ ...redisOptions(), base: `${ctx.prefix}unstorage` })
            })
          ),
          disposeStorage
        ),
        (s) => unstorage("unstorage redis", s, ctx.text)
      )
  },
  {
    name: "Persistence redis",
    role: "peer",
    config: "@effect/experimental Persistence/Redis BackingPersistence",
    open: (ctx) =>
      Effect.gen(function*() {
        const backing = yield* PersistenceRedis.make(redisOptions())
        return persistence("Persistence redis", yield* backing.make(`${ctx.prefix}persistence`), ctx.text)
      })
  }
]

/** A target that cannot run here (a library not installed): reported, not measured. */
export class Skipped {
  readonly _tag = "Skipped"
  constructor(readonly reason: string) {}
}
