/**
 * SqliteStore: the contract suite and the model-based property test on a fresh file per test, then what only a
 * file-backed SQLite store has: persistence across reopen, WAL mode, home expansion and directory creation, options
 * from `Config`, typed failures at layer build (a file that is not a database, a foreign format version, a location
 * that cannot be written), `Busy` past the busy timeout, closing the store under concurrent writers, the sweeper under
 * `TestClock`, tag rows kept in step, large values and `volume`.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import type { KeyValueStoreError } from "effect-kv"
import { KeyValueStore, SqliteStore } from "effect-kv"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { locksSuite } from "../contract/locks.js"
import { modelSuite } from "../contract/model.js"
import { namespaceSuite } from "../contract/namespace.js"
import { suite } from "../contract/suite.js"
import { churn, peak, show, steps, sweepWatched } from "./fixtures/churn.js"
import { checkDamagedRows } from "./fixtures/damaged.js"
import { eventually } from "./fixtures/eventually.js"
import { invalidStoreOptions } from "./fixtures/options.js"
import { freshSqliteLayer, tempDir } from "./fixtures/temp.js"

suite("SqliteStore", freshSqliteLayer(), SqliteStore.capabilities)
locksSuite("SqliteStore", freshSqliteLayer(), SqliteStore.capabilities)
suite("SqliteStore (:memory:)", SqliteStore.layer({ filename: ":memory:" }), {
  ...SqliteStore.capabilities,
  persistent: false,
  crossProcess: false,
  volume: false
})
modelSuite("SqliteStore", freshSqliteLayer())
namespaceSuite("SqliteStore", freshSqliteLayer(), SqliteStore.capabilities)

/** A store on `filename` that lives until `scope` closes. */
const openIn = (scope: Scope.Scope, options: SqliteStore.Options) =>
  Effect.map(
    Layer.buildWithScope(SqliteStore.layer(options), scope),
    (context) => Context.get(context, KeyValueStore.KeyValueStore)
  )

/** Runs `f` on a store over `filename` and closes it afterwards. */
const withStore = <A, E>(
  options: SqliteStore.Options,
  f: (store: KeyValueStore.Service) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(SqliteStore.make(options), f))

/** A plain better-sqlite3 connection to inspect the file behind the store's back. */
const raw = (filename: string) =>
  Effect.acquireRelease(Effect.sync(() => new Database(filename)), (db) => Effect.sync(() => db.close()))

const count = (db: Database.Database, sql: string, ...params: Array<unknown>): number =>
  db.prepare(sql).pluck().get(...params) as number

const text = (bytes: Option.Option<Uint8Array>): string | undefined =>
  Option.getOrUndefined(Option.map(bytes, (b) => Buffer.from(b).toString("utf8")))

describe("SqliteStore on a file", () => {
  it.scoped("entries, expiry, tags and metadata survive closing and reopening the file", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withStore({ filename }, (store) =>
        Effect.gen(function*() {
          yield* store.set("plain", "one")
          yield* store.set("rich", "two", { ttl: "1 hour", tags: ["t1", "t2"], metadata: { owner: "me", n: 1 } })
          yield* store.set("short", "gone", { ttl: "1 second" })
          assert.strictEqual(yield* store.increment("counter", 5), 5n)
        }))
      yield* TestClock.adjust("2 seconds")
      yield* withStore({ filename }, (store) =>
        Effect.gen(function*() {
          assert.strictEqual(text(yield* store.get("plain")), "one")
          assert.strictEqual(text(yield* store.get("counter")), "5")
          assert.isFalse(yield* store.has("short"))
          const entry = Option.getOrThrow(yield* store.getEntry("rich"))
          assert.strictEqual(Buffer.from(entry.value).toString(), "two")
          assert.deepStrictEqual(entry.tags, ["t1", "t2"])
          assert.deepStrictEqual(Option.getOrNull(entry.metadata), { owner: "me", n: 1 })
          assert.deepStrictEqual(Option.getOrNull(entry.expiresAt), 3_600_000)
          assert.strictEqual(entry.createdAt, 0)
          assert.strictEqual(yield* store.size, 3)
          assert.strictEqual(yield* store.removeTag("t2"), 1)
          assert.isFalse(yield* store.has("rich"))
        }))
    }))

  it.scoped("runs the database in WAL mode", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withStore({ filename }, (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          const db = yield* raw(filename)
          assert.strictEqual(db.pragma("journal_mode", { simple: true }), "wal")
          assert.isTrue(fs.existsSync(`${filename}-wal`))
        }).pipe(Effect.scoped))
    }))

  it.scoped("expands ~ to the home directory and creates missing parent directories", () =>
    Effect.gen(function*() {
      const home = yield* tempDir
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const previous = process.env.HOME
          process.env.HOME = home
          return previous
        }),
        (previous) =>
          Effect.sync(() => {
            if (previous === undefined) delete process.env.HOME
            else process.env.HOME = previous
          })
      )
      assert.strictEqual(os.homedir(), home)
      yield* withStore({ filename: "~/a/b/c/kv.db" }, (store) => store.set("k", "v"))
      assert.isTrue(fs.statSync(path.join(home, "a", "b", "c", "kv.db")).isFile())
      assert.isFalse(fs.existsSync(path.join(process.cwd(), "~")))
    }))

  it.scoped("layerConfig reads its options from Config", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "configured.db")
      const layer = SqliteStore.layerConfig({
        filename: Config.string("KV_FILE"),
        table: Config.string("KV_TABLE"),
        busyTimeout: Config.duration("KV_BUSY_TIMEOUT"),
        synchronous: Config.literal("normal", "full", "off")("KV_SYNCHRONOUS")
      }).pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
          new Map([
            ["KV_FILE", filename],
            ["KV_TABLE", "configured_kv"],
            ["KV_BUSY_TIMEOUT", "2 seconds"],
            ["KV_SYNCHRONOUS", "full"]
          ])
        )))
      )
      yield* Effect.flatMap(KeyValueStore.KeyValueStore, (store) => store.set("k", "v")).pipe(Effect.provide(layer))
      const db = yield* raw(filename)
      assert.strictEqual(count(db, "SELECT COUNT(*) FROM configured_kv WHERE key = 'k'"), 1)
      assert.strictEqual(db.prepare("SELECT value FROM configured_kv_meta WHERE name = 'format'").pluck().get(), "4")
    }))

  it.scoped("layerConfig fails with a ConfigError when an option is missing", () =>
    Effect.gen(function*() {
      const layer = SqliteStore.layerConfig({ filename: Config.string("KV_FILE") }).pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
      )
      const error = yield* Effect.flip(Effect.scoped(Layer.build(layer)))
      assert.strictEqual(error._tag, "ConfigError")
    }))

  it.scoped("a file that is not a database fails the layer build with StoreCorrupted and is left untouched", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "notes.txt")
      const content = "These are my notes, not a database.\n".repeat(200)
      fs.writeFileSync(filename, content)
      const error = yield* Effect.flip(Effect.scoped(Layer.build(SqliteStore.layer({ filename }))))
      assert.strictEqual(error._tag, "StoreCorrupted")
      assert.strictEqual(fs.readFileSync(filename, "utf8"), content)
    }))

  it.scoped("a store of another format version fails the layer build with StoreCorrupted", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withStore({ filename }, (store) => store.set("k", "v"))
      yield* Effect.scoped(Effect.map(raw(filename), (db) => {
        db.prepare("UPDATE effect_kv_meta SET value = '999' WHERE name = 'format'").run()
      }))
      const error = yield* Effect.flip(Effect.scoped(Layer.build(SqliteStore.layer({ filename }))))
      assert.strictEqual(error._tag, "StoreCorrupted")
      assert.include(error.message, "999")
      const db = yield* raw(filename)
      assert.strictEqual(db.prepare("SELECT value FROM effect_kv_meta WHERE name = 'format'").pluck().get(), "999")
      assert.strictEqual(count(db, "SELECT COUNT(*) FROM effect_kv"), 1)
    }))

  it.scoped("a foreign table of the same name fails the layer build with a typed error and is left untouched", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "app.db")
      yield* Effect.scoped(Effect.map(raw(filename), (db) => {
        db.exec("CREATE TABLE effect_kv (key TEXT PRIMARY KEY, payload TEXT)")
      }))
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(SqliteStore.layer({ filename }))))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.isFalse(Cause.isDie(exit.cause), Cause.pretty(exit.cause))
        assert.strictEqual(Option.getOrThrow(Cause.failureOption(exit.cause))._tag, "BackendError")
      }
      const db = yield* raw(filename)
      assert.strictEqual(count(db, "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'effect_kv_%'"), 0)
    }))

  // Tests run as root, and root ignores file modes, so chmod cannot make a directory unwritable here. These locations
  // fail for root too: a path through a regular file (ENOTDIR), a new directory under /proc (the kernel refuses to
  // create it), and a new file directly in /proc (SQLite cannot create it).
  it.scoped("a location that cannot be written fails the layer build with BackendError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const plainFile = path.join(dir, "plain-file")
      fs.writeFileSync(plainFile, "x")
      for (const filename of [path.join(plainFile, "kv.db"), "/proc/effect-kv-test/kv.db", "/proc/effect-kv-test.db"]) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(SqliteStore.layer({ filename }))))
        assert.strictEqual(error._tag, "BackendError", filename)
      }
    }))

  // A read-only directory proper: root ignores file modes, so when the tests run as root the open runs in a child
  // process as the unprivileged user `nobody` (uid 65534); otherwise it runs in a child as the current user.
  it.scoped("a read-only directory fails the layer build with BackendError, for a new and for an existing store", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.chmodSync(dir, 0o755)
      const readOnly = path.join(dir, "read-only")
      fs.mkdirSync(readOnly)
      yield* withStore({ filename: path.join(readOnly, "existing.db") }, (store) => store.set("k", "v"))
      for (const file of fs.readdirSync(readOnly)) fs.chmodSync(path.join(readOnly, file), 0o444)
      fs.chmodSync(readOnly, 0o555)
      const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
      for (const name of ["new.db", "missing/sub/new.db", "existing.db"]) {
        const child = spawnSync(
          process.execPath,
          [
            "--conditions=effect-kv-source",
            "--import",
            pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href,
            path.join(import.meta.dirname, "fixtures", "open-store.ts"),
            path.join(readOnly, name)
          ],
          { ...asUser, encoding: "utf8", timeout: 30_000, env: { ...process.env, HOME: os.tmpdir(), NODE_OPTIONS: "" } }
        )
        assert.strictEqual(child.status, 0, child.stderr)
        const outcome = JSON.parse(child.stdout.trim().split("\n").at(-1)!)
        assert.strictEqual(outcome.error, "BackendError", `${name}: ${child.stdout}`)
      }
      assert.deepStrictEqual(fs.readdirSync(readOnly).sort(), ["existing.db"])
    }))

  it.scoped("rejects a table name that is not a plain identifier", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(SqliteStore.make({ filename: ":memory:", table: "kv; DROP TABLE x" }))
      )
      assert.strictEqual(error._tag, "InvalidArgument")
    }))

  it.scoped("two tables in one file are separate stores", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* Effect.gen(function*() {
        const a = yield* SqliteStore.make({ filename, table: "a" })
        const b = yield* SqliteStore.make({ filename, table: "b" })
        yield* a.set("k", "from a")
        assert.isFalse(yield* b.has("k"))
        yield* b.clear
        assert.strictEqual(text(yield* a.get("k")), "from a")
      }).pipe(Effect.scoped)
    }))

  it.scoped("a write blocked past the busy timeout fails with Busy while reads go on", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withStore({ filename, busyTimeout: "50 millis" }, (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "before")
          const blocker = yield* raw(filename)
          blocker.exec("BEGIN IMMEDIATE")
          assert.strictEqual((yield* Effect.flip(store.set("k", "blocked")))._tag, "Busy")
          assert.strictEqual((yield* Effect.flip(store.add("new", "v")))._tag, "Busy")
          assert.strictEqual((yield* Effect.flip(store.setMany([["a", "1"], ["b", "2"]])))._tag, "Busy")
          assert.strictEqual(text(yield* store.get("k")), "before")
          blocker.exec("ROLLBACK")
          yield* store.set("k", "after")
          assert.strictEqual(text(yield* store.get("k")), "after")
        }).pipe(Effect.scoped))
    }))

  it.scoped("opening while another connection holds the write lock fails with Busy, and opens once it is released", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const blocker = yield* raw(filename)
      blocker.exec("BEGIN IMMEDIATE")
      const error = yield* Effect.flip(Effect.scoped(SqliteStore.make({ filename, busyTimeout: "100 millis" })))
      assert.strictEqual(error._tag, "Busy")
      blocker.exec("ROLLBACK")
      yield* withStore({ filename, busyTimeout: "100 millis" }, (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          assert.strictEqual(text(yield* store.get("k")), "v")
        }).pipe(Effect.scoped))
    }))

  it.scoped("a function that throws inside update is a defect and rolls back", () =>
    Effect.gen(function*() {
      yield* withStore({ filename: ":memory:" }, (store) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          const exit = yield* Effect.exit(store.update("k", () => {
            throw new Error("boom")
          }))
          assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
          assert.strictEqual(text(yield* store.get("k")), "v")
          assert.strictEqual(yield* store.increment("n"), 1n)
        }))
    }))

  it.scoped("operations after the store is closed fail with BackendError", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const scope = yield* Scope.make()
      const store = yield* openIn(scope, { filename })
      yield* store.set("k", "v")
      yield* Scope.close(scope, Exit.void)
      const operations: ReadonlyArray<
        readonly [string, Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]
      > = [
        ["get", store.get("k")],
        ["set", store.set("k", "v")],
        ["set with tags", store.set("k", "v", { tags: ["t"] })],
        ["has", store.has("k")],
        ["remove", store.remove("k")],
        ["getEntry", store.getEntry("k")],
        ["add", store.add("k", "v")],
        ["getMany", store.getMany(["k"])],
        ["setMany", store.setMany([["k", "v"]])],
        ["removeMany", store.removeMany(["k"])],
        ["removeTag", store.removeTag("t")],
        ["ttl", store.ttl("k")],
        ["touch", store.touch("k", "1 hour")],
        ["expire", store.expire],
        ["clear", store.clear],
        ["size", store.size],
        ["volume", store.volume],
        ["getString", store.getString("k")],
        ["increment", store.increment("n")],
        ["compareAndSwap", store.compareAndSwap("k", Option.none(), Option.some("v"))],
        ["append", store.append("k", "v")],
        ["update", store.update("k", () => Option.some("v"))],
        ["pop", store.pop("k")],
        ["setMetadata", store.setMetadata("k", { a: 1 })],
        ["keys", Stream.runDrain(store.keys())],
        ["entries", Stream.runDrain(store.entries("a.*"))],
        ["getPattern", Stream.runDrain(store.getPattern("a.*"))],
        ["countPattern", store.countPattern("a.**")],
        ["countPattern with a filter", store.countPattern("a.*b")],
        ["removePattern", store.removePattern("a.**")],
        ["removePattern with a filter", store.removePattern("a.*b")],
        ["clear in a namespace", KeyValueStore.prefix(store, "ns.").clear],
        ["size in a namespace", KeyValueStore.prefix(store, "ns.").size],
        ["removeTag in a namespace", KeyValueStore.prefix(store, "ns.").removeTag("t")]
      ]
      // Each error is a BackendError naming the public operation called (the label's first word), never a primitive.
      for (const [name, operation] of operations) {
        const exit = yield* Effect.exit(operation)
        assert.isTrue(Exit.isFailure(exit), name)
        if (Exit.isFailure(exit)) {
          assert.isFalse(Cause.isDie(exit.cause), `${name} died`)
          const failure = Option.getOrThrow(Cause.failureOption(exit.cause))
          assert.strictEqual(failure._tag, "BackendError", name)
          assert.strictEqual(failure.method, name.split(" ")[0], name)
        }
      }
    }))

  it.scoped("closing the scope while fibers write: typed failures only, every setMany all or nothing", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const scope = yield* Scope.make()
      const store = yield* openIn(scope, { filename })
      const batchSize = 50
      const attempted: Array<string> = []
      const acknowledged = new Set<string>()
      let singles = 0
      const writer = (w: number) =>
        Effect.gen(function*() {
          for (let n = 0;; n++) {
            const batch = `w${w}.b${n}`
            if (n % 3 === 2) {
              yield* store.set(`${batch}.single`, "x")
              singles++
            } else {
              attempted.push(batch)
              yield* store.setMany(
                Array.from({ length: batchSize }, (_, j) => [`${batch}.${j}`, `${n}`, { tags: [`w${w}`] }] as const)
              )
              acknowledged.add(batch)
            }
            yield* Effect.yieldNow()
          }
        })
      const fibers = yield* Effect.forEach(Array.from({ length: 8 }, (_, w) => w), (w) => Effect.fork(writer(w)))
      while (acknowledged.size < 40) yield* Effect.yieldNow()
      const before = acknowledged.size
      yield* Scope.close(scope, Exit.void)
      const exits = yield* Effect.forEach(fibers, Fiber.await)
      assert.isAbove(before, 8, "the writers were running when the scope closed")
      assert.isAbove(singles, 0)
      for (const exit of exits) {
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.isFalse(Cause.isDie(exit.cause), Cause.pretty(exit.cause))
          assert.strictEqual(Option.getOrThrow(Cause.failureOption(exit.cause))._tag, "BackendError")
        }
      }
      yield* withStore({ filename }, (reopened) =>
        Effect.gen(function*() {
          let full = 0
          for (const batch of attempted) {
            const keys = Array.from({ length: batchSize }, (_, j) => `${batch}.${j}`)
            const present = (yield* reopened.getMany(keys)).filter(Option.isSome).length
            assert.isTrue(present === 0 || present === batchSize, `${batch}: ${present} of ${batchSize} entries`)
            if (acknowledged.has(batch)) assert.strictEqual(present, batchSize, `${batch} was acknowledged`)
            if (present === batchSize) full++
          }
          assert.isAtLeast(full, acknowledged.size)
        }))
    }))

  it.scoped("expiring writes bring a sweep early, which removes every expired row in slices of sweepBatch", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withStore({ filename, sweepInterval: "1 minute", sweepBatch: 2 }, (store) =>
        Effect.gen(function*() {
          const db = yield* raw(filename)
          const rows = () => count(db, "SELECT COUNT(*) FROM effect_kv")
          const tagRows = () => count(db, "SELECT COUNT(*) FROM effect_kv_tags")
          for (let i = 0; i < 5; i++) yield* store.set(`short.${i}`, "v", { ttl: "1 second", tags: ["t"] })
          yield* store.set("long", "v", { ttl: "1 hour", tags: ["t"] })
          yield* store.set("forever", "v")
          assert.strictEqual(rows(), 7)
          // More than sweepBatch expiring writes: the sweep comes a second after the previous one (at open), not a
          // minute, and goes in three slices (2 + 2 + 1), the event loop turning between them.
          yield* TestClock.adjust("1 second")
          yield* eventually(Effect.sync(() => rows() === 2), "the sweep")
          assert.strictEqual(tagRows(), 1, "tag rows of swept entries are gone")
          assert.strictEqual((yield* store.stats).expirations, 5)
          assert.strictEqual(yield* store.expire, 0)
          assert.isTrue(yield* store.has("long"))
          assert.isTrue(yield* store.has("forever"))
        }).pipe(Effect.scoped))
    }))

  it.scoped("a sweep of 20 000 expired rows goes in slices of sweepBatch, other fibers running between them", () =>
    Effect.gen(function*() {
      const total = 20_000
      const store = yield* SqliteStore.make({ filename: path.join(yield* tempDir, "kv.db"), sweepInterval: "1 hour" })
      yield* store.setMany(Array.from({ length: total }, (_, i) => [`k${i}`, "v", { ttl: "1 second" }] as const))
      // The writes woke the sweeper: it comes a second after its previous sweep (at open).
      const seen = yield* sweepWatched(store, total, "1 second")
      assert.strictEqual(seen[seen.length - 1], total, "one sweep removed every expired row")
      assert.isAtMost(Math.max(...steps(seen)), 1000, "no slice removed more than sweepBatch rows")
      assert.isAtLeast(seen.length, 10, "the other fiber ran between slices")
    }))

  it.scoped("writes reclaim expired rows even when the sweeper never runs", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      // No sweep in 1000 days, and never early: as if a writer never let the sweeper's fiber run.
      const store = yield* SqliteStore.make({ filename, sweepInterval: "1000 days", sweepBatch: 1e9 })
      const db = yield* raw(filename)
      const rows = Effect.sync(() => count(db, "SELECT COUNT(*) FROM effect_kv"))
      const series = yield* churn({ store, seconds: 30, perSecond: 500, pending: rows })
      // Every 32 expiring writes remove up to 64 expired rows: the last second's 500, and at most 63 more.
      assert.isAtMost(peak(series, 2), 600, `rows held: ${show(series)}`)
      const batches = yield* churn({ store, seconds: 10, perSecond: 500, batched: true, pending: rows })
      assert.isAtMost(peak(batches, 2), 600, `rows held (setMany): ${show(batches)}`)
      assert.isAtLeast((yield* store.stats).expirations, 35 * 500)
    }))

  it.scoped("writes inside a transaction region leave expired rows to the sweeper; outside, they reclaim", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename, sweepInterval: "1000 days", sweepBatch: 1e9 })
      const db = yield* raw(filename)
      const rows = () => count(db, "SELECT COUNT(*) FROM effect_kv")
      yield* store.setMany(Array.from({ length: 100 }, (_, i) => [`short.${i}`, "v", { ttl: "1 second" }] as const))
      yield* TestClock.adjust("2 seconds")
      yield* store.withTransaction(Effect.forEach(
        Array.from({ length: 64 }, (_, i) => `in.${i}`),
        (key) => store.set(key, "v", { ttl: "1 hour" }),
        { discard: true }
      ))
      assert.strictEqual(rows(), 164)
      for (let i = 0; i < 32; i++) yield* store.set(`out.${i}`, "v", { ttl: "1 hour" })
      assert.strictEqual(rows(), 164 + 32 - 64)
      assert.strictEqual((yield* store.check()).expiredPending, 36)
    }))

  it.scoped("a stream of short-lived unique keys keeps the table small (default settings)", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      // Default sweeper: once a minute, 1000 rows a slice; 500 expiring writes a simulated second wake it every 2.
      const store = yield* SqliteStore.make({ filename })
      const db = yield* raw(filename)
      const rows = Effect.sync(() => count(db, "SELECT COUNT(*) FROM effect_kv"))
      const series = yield* churn({ store, seconds: 120, perSecond: 500, batched: true, tags: ["t"], pending: rows })
      assert.isAtMost(peak(series, 5), 2500, `rows held: ${show(series)}`)
      assert.isAtMost(count(db, "SELECT COUNT(*) FROM effect_kv_tags"), 2500)
      yield* TestClock.adjust("1 minute")
      yield* eventually(Effect.map(rows, (n) => n === 0), "the last sweep")
      assert.strictEqual(count(db, "SELECT COUNT(*) FROM effect_kv_tags"), 0)
    }))

  it.scoped("tags and metadata round-trip through getEntry and the tag table follows every write", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withStore({ filename }, (store) =>
        Effect.gen(function*() {
          const db = yield* raw(filename)
          const tagsOf = (key: string) =>
            db.prepare("SELECT tag FROM effect_kv_tags WHERE key = ? ORDER BY tag").pluck().all(key)
          const metadata = { user: { id: 7, roles: ["a", "b"] }, note: "grüße 😀", nothing: null }
          yield* store.set("k", "v", { tags: ["z", "a", "a"], metadata })
          const entry = Option.getOrThrow(yield* store.getEntry("k"))
          assert.deepStrictEqual(entry.tags, ["a", "z"])
          assert.deepStrictEqual(Option.getOrNull(entry.metadata), metadata)
          assert.deepStrictEqual(tagsOf("k"), ["a", "z"])
          yield* store.set("k", "v2", { tags: ["m"] })
          assert.deepStrictEqual(tagsOf("k"), ["m"])
          assert.isTrue(yield* store.setMetadata("k", { second: true }))
          const updated = Option.getOrThrow(yield* store.getEntry("k"))
          assert.deepStrictEqual(updated.tags, ["m"], "setMetadata keeps the tags")
          assert.deepStrictEqual(tagsOf("k"), ["m"])
          assert.deepStrictEqual(Option.getOrNull(updated.metadata), { second: true })
          yield* store.set("k", "v3")
          const plain = Option.getOrThrow(yield* store.getEntry("k"))
          assert.deepStrictEqual(plain.tags, [])
          assert.isTrue(Option.isNone(plain.metadata))
          assert.deepStrictEqual(tagsOf("k"), [])
          yield* store.set("k", "v4", { tags: ["x"] })
          assert.isTrue(yield* store.remove("k"))
          assert.deepStrictEqual(tagsOf("k"), [])
          yield* store.setMany([["m1", "1", { tags: ["g"] }], ["m2", "2", { tags: ["g", "h"] }]])
          assert.strictEqual(count(db, "SELECT COUNT(*) FROM effect_kv_tags"), 3)
          yield* store.clear
          assert.strictEqual(count(db, "SELECT COUNT(*) FROM effect_kv_tags"), 0)
        }).pipe(Effect.scoped))
    }))

  it.scoped("remove reports true only for a live row, and removes an expired one quietly", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withStore({ filename }, (store) =>
        Effect.gen(function*() {
          const db = yield* raw(filename)
          yield* store.set("k", "v", { ttl: "1 second" })
          yield* TestClock.adjust("1 second")
          assert.isFalse(yield* store.remove("k"))
          assert.strictEqual(count(db, "SELECT COUNT(*) FROM effect_kv"), 0)
          yield* store.set("k", "v")
          assert.isTrue(yield* store.remove("k"))
          assert.isFalse(yield* store.remove("k"))
        }).pipe(Effect.scoped))
    }))

  it.scoped("a value of 1 MiB round-trips byte for byte, and volume counts it", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const value = crypto.randomBytes(1024 * 1024)
      yield* withStore({ filename }, (store) =>
        Effect.gen(function*() {
          const empty = yield* store.volume
          assert.isAbove(empty, 0)
          yield* store.set("big", value)
          const read = Option.getOrThrow(yield* store.get("big"))
          assert.strictEqual(Buffer.compare(read, value), 0)
          assert.strictEqual(Option.getOrThrow(yield* store.getEntry("big")).size, value.byteLength)
          assert.isAtLeast((yield* store.volume) - empty, value.byteLength)
        }))
      yield* withStore({ filename }, (store) =>
        Effect.map(store.get("big"), (read) =>
          assert.strictEqual(Buffer.compare(Option.getOrThrow(read), value), 0)))
      yield* withStore({ filename: ":memory:" }, (store) =>
        Effect.map(store.volume, (v) => assert.strictEqual(v, 0)))
    }))

  it.scoped("two stores on one file see each other's writes and share atomic counters", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* Effect.gen(function*() {
        const a = yield* SqliteStore.make({ filename })
        const b = yield* SqliteStore.make({ filename })
        yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => i),
          (i) => (i % 2 === 0 ? a : b).increment("n"),
          { concurrency: "unbounded", discard: true }
        )
        assert.strictEqual(text(yield* a.get("n")), "200")
        const winners = yield* Effect.forEach([a, b, a, b], (store) => store.add("once", "x"))
        assert.deepStrictEqual(winners, [true, false, false, false])
      }).pipe(Effect.scoped)
    }))

  it.scoped("a row with damaged tags or metadata fails reads and read-modify-writes with StoreCorrupted", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withStore({ filename }, (store) =>
        Effect.gen(function*() {
          const db = yield* raw(filename)
          yield* checkDamagedRows(
            store,
            "sqlite",
            (column, damage) =>
              Effect.sync(() => db.prepare(`UPDATE effect_kv SET ${column} = ? WHERE key = 'k'`).run(damage)),
            (column) => Effect.sync(() => db.prepare(`SELECT ${column} FROM effect_kv WHERE key = 'k'`).pluck().get())
          )
        }).pipe(Effect.scoped))
    }))

  it.scoped("invalid store options fail the layer build with InvalidArgument before the file is created", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "sub", "kv.db")
      for (const [options, argument] of invalidStoreOptions) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(SqliteStore.layer({ filename, ...options }))))
        assert.strictEqual(error._tag, "InvalidArgument", argument)
        if (error._tag === "InvalidArgument") assert.strictEqual(error.argument, argument)
      }
      assert.isFalse(fs.existsSync(path.dirname(filename)))
    }))

  it.scoped("a file name with U+0000 fails with InvalidArgument and opens nothing (SQLite opened the name before it)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      for (const filename of [path.join(dir, "kv.db\u0000other"), path.join(dir, "kv.db\u0000")]) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(SqliteStore.layer({ filename }))))
        assert.strictEqual(error._tag, "InvalidArgument")
        if (error._tag === "InvalidArgument") assert.strictEqual(error.argument, "filename")
        const index = yield* Effect.flip(Effect.scoped(SqliteStore.makeIndex({ filename })))
        assert.strictEqual(index._tag, "InvalidArgument", "the index configuration")
      }
      assert.deepStrictEqual(fs.readdirSync(dir), [], "a file was created")
      const options = yield* Effect.flip(Effect.scoped(SqliteStore.make(null as never)))
      assert.strictEqual(options._tag, "InvalidArgument", "options that are null")
    }))
})
