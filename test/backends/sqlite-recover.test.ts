/**
 * A damaged SQLite store file, damaged as a disk or a careless copy damages it (pages of the entries table and of its
 * indexes made unreadable, the file header overwritten, the file cut short): opening it fails with a typed
 * `StoreCorrupted` (never a defect) unless `verifyOnOpen: false`, `check({ fix: true })` says it cannot repair it in
 * place and names `SqliteStore.recover`, and `recover` copies every entry on an undamaged page (compared with what was
 * written: values, value files, tags, metadata, expiry, and the locks' fencing tokens) into a new file that opens and
 * checks clean, names by key what it lost, and never writes to the damaged file. Also its argument errors, and value
 * files it finds missing or altered.
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStore, KeyValueStoreError } from "effect-kv"
import { FanoutStore, SqliteStore } from "effect-kv"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { damageHeader, damagePage, type Page, pagesOf, truncate } from "./fixtures/damaged.js"
import { tempDir, withDb } from "./fixtures/temp.js"

interface Written {
  readonly value: Buffer
  readonly tags: ReadonlyArray<string>
  readonly metadata: { readonly i: number } | undefined
  readonly ttl: boolean
}

const SMALL = 3000
const LARGE = 12

const keyOf = (i: number): string => `k.${String(i).padStart(5, "0")}`

/** Writes 3000 small entries (some tagged, with metadata or a ttl), 12 large ones in files, and takes a lock twice. */
const writeStore = (filename: string) =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* SqliteStore.make({ filename, sweepInterval: "1000 days" })
    const written = new Map<string, Written>()
    for (let i = 0; i < SMALL; i++) {
      written.set(keyOf(i), {
        value: crypto.randomBytes(300),
        tags: i % 10 === 0 ? ["tens", `t${i}`] : [],
        metadata: i % 7 === 0 ? { i } : undefined,
        ttl: i % 5 === 0
      })
    }
    for (let i = 0; i < LARGE; i++) {
      written.set(`big.${i}`, { value: crypto.randomBytes(40 * 1024), tags: ["big"], metadata: { i }, ttl: false })
    }
    const entries = Array.from(written, ([key, w]) =>
      [key, w.value, {
        tags: w.tags,
        ...(w.metadata === undefined ? {} : { metadata: w.metadata }),
        ...(w.ttl ? { ttl: "10 days" as const } : {})
      }] as const)
    for (let i = 0; i < entries.length; i += 500) yield* store.setMany(entries.slice(i, i + 500))
    let fence = 0n
    for (let i = 0; i < 2; i++) {
      fence = yield* Effect.scoped(Effect.map(store.lock("job"), (lock) => lock.fencingToken))
    }
    return { written, fence }
  }))

/** A fresh directory with a store file written by `writeStore`, closed (its log checkpointed into the file). */
const fixture = Effect.gen(function*() {
  const dir = yield* tempDir
  const filename = path.join(dir, "kv.db")
  const { fence, written } = yield* writeStore(filename)
  assert.isFalse(fs.existsSync(`${filename}-wal`))
  return { dir, filename, to: path.join(dir, "recovered", "kv.db"), written, fence }
})

const tableLeaves = (filename: string): Array<Page> =>
  pagesOf(filename).get("effect_kv")!.filter((page) => page.type === "leaf")

/** The keys of the rows on the given leaves of the entries table (rows are in rowid order across the leaves). */
const keysOnLeaves = (filename: string, leaves: ReadonlyArray<Page>): Set<string> =>
  withDb(filename, (db) => {
    const all = tableLeaves(filename)
    const keys = new Set<string>()
    let offset = 0
    for (const leaf of all) {
      if (leaves.some((damaged) => damaged.page === leaf.page)) {
        const rows = db.prepare("SELECT key FROM effect_kv ORDER BY rowid LIMIT ? OFFSET ?").pluck().all(
          leaf.cells,
          offset
        ) as Array<string>
        for (const key of rows) keys.add(key)
      }
      offset += leaf.cells
    }
    return keys
  })

const digest = (file: string): string => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex")

/** The typed failure of an effect that must fail (never a defect). */
const failure = <A>(
  exit: Exit.Exit<A, KeyValueStoreError.KeyValueStoreError>
): KeyValueStoreError.KeyValueStoreError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  if (Exit.isSuccess(exit)) throw new Error("unreachable")
  assert.isFalse(Cause.isDie(exit.cause), Cause.pretty(exit.cause))
  return Option.getOrThrow(Cause.failureOption(exit.cause))
}

const openFails = (filename: string) =>
  Effect.gen(function*() {
    const error = failure(yield* Effect.exit(Effect.scoped(SqliteStore.make({ filename }))))
    assert.strictEqual(error._tag, "StoreCorrupted", error.message)
    assert.include(error.message, "SqliteStore.recover")
  })

/**
 * Opens the recovered store and compares it with what was written: every key not lost reads back as written (value,
 * tags, metadata, expiry), every lost key is absent, `check` is clean, and a lock of the same name continues its
 * fencing tokens.
 */
const verifyRecovered = (
  to: string,
  written: ReadonlyMap<string, Written>,
  lost: ReadonlySet<string>,
  fence: bigint
) =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* SqliteStore.make({ filename: to, verifyOnOpen: true })
    const keys = Chunk.toArray(yield* Stream.runCollect(store.keys()))
    assert.deepStrictEqual(keys, [...written.keys()].filter((key) => !lost.has(key)).sort())
    for (const [key, w] of written) {
      const found = yield* store.getEntry(key)
      if (lost.has(key)) {
        assert.isTrue(Option.isNone(found), key)
        continue
      }
      const entry = Option.getOrThrow(found)
      assert.isTrue(Buffer.from(entry.value).equals(w.value), key)
      assert.deepStrictEqual([...entry.tags].sort(), [...w.tags].sort(), key)
      assert.deepStrictEqual(Option.getOrUndefined(entry.metadata), w.metadata, key)
      assert.strictEqual(Option.isSome(entry.expiresAt), w.ttl, key)
    }
    const tens = [...written].filter(([key, w]) => !lost.has(key) && w.tags.includes("tens")).length
    assert.strictEqual(yield* store.removeTag("tens"), tens, "tags are indexed again")
    const report = yield* store.check({ minOrphanAge: 0 })
    assert.isTrue(report.ok, JSON.stringify(report))
    const token = yield* Effect.scoped(Effect.map(store.lock("job"), (lock) => lock.fencingToken))
    assert.isAbove(Number(token), Number(fence), "fencing tokens go on from the damaged file's")
  }))

describe("SqliteStore on a damaged file", () => {
  it.scoped("damaged pages of the entries table: open fails typed, recover copies every other entry and names the lost", () =>
    Effect.gen(function*() {
      const { filename, fence, to, written } = yield* fixture
      const leaves = tableLeaves(filename)
      const damaged = [leaves[3]!, leaves[40]!, leaves[41]!]
      const expectedLost = keysOnLeaves(filename, damaged)
      assert.isAbove(expectedLost.size, 10)
      for (const leaf of damaged) damagePage(filename, leaf.page)
      yield* openFails(filename)
      const before = digest(filename)

      const report = yield* SqliteStore.recover({ from: filename, to })
      assert.strictEqual(digest(filename), before, "the damaged file is never written")
      assert.deepStrictEqual(new Set(report.lost.map((lost) => lost.key)), expectedLost)
      assert.deepStrictEqual(report.unreadable, [], "the key index named every lost entry")
      assert.strictEqual(report.entries, written.size - expectedLost.size)
      assert.strictEqual(report.files, LARGE)
      assert.isFalse(report.complete)
      assert.isFalse(report.headerRebuilt)
      assert.notDeepEqual(report.engine, ["ok"])
      assert.deepStrictEqual(fs.readdirSync(path.dirname(to)).sort(), ["kv.db", "kv.db.files"], "no working copy left")
      yield* verifyRecovered(to, written, expectedLost, fence)
    }))

  it.scoped("damaged pages of the indexes lose nothing: recover rebuilds them", () =>
    Effect.gen(function*() {
      const { filename, fence, to, written } = yield* fixture
      const trees = pagesOf(filename)
      const keyIndex = trees.get("sqlite_autoindex_effect_kv_1")!
      damagePage(filename, keyIndex.find((page) => page.type === "leaf")!.page)
      damagePage(filename, keyIndex.find((page) => page.type === "internal")!.page)
      damagePage(filename, trees.get("effect_kv_expires")![0]!.page)
      damagePage(filename, trees.get("effect_kv_tags")![0]!.page)
      yield* openFails(filename)
      const report = yield* SqliteStore.recover({ from: filename, to })
      assert.deepStrictEqual(report.lost, [])
      assert.deepStrictEqual(report.unreadable, [])
      assert.isTrue(report.complete)
      assert.strictEqual(report.entries, written.size)
      yield* verifyRecovered(to, written, new Set(), fence)
    }))

  it.scoped("an overwritten file header: open fails typed, recover rebuilds the header and copies everything", () =>
    Effect.gen(function*() {
      const { filename, fence, to, written } = yield* fixture
      damageHeader(filename)
      yield* openFails(filename)
      const report = yield* SqliteStore.recover({ from: filename, to })
      assert.isTrue(report.headerRebuilt)
      assert.deepStrictEqual(report.lost, [])
      assert.isTrue(report.complete)
      yield* verifyRecovered(to, written, new Set(), fence)
    }))

  it.scoped("a file cut short: open fails typed, recover copies every entry on the pages that remain", () =>
    Effect.gen(function*() {
      const { filename, fence, to, written } = yield* fixture
      const pages = fs.statSync(filename).size / 4096
      const cut = Math.floor(pages * 0.7)
      // The rows of leaves past the cut, or under an internal page past it, are gone.
      const tree = pagesOf(filename).get("effect_kv")!
      const gone = new Set(tree.filter((page) => page.page > cut).map((page) => page.path))
      const unreachable = tree.filter((page) =>
        page.type === "leaf" && [...gone].some((ancestor) => page.path.startsWith(ancestor))
      )
      const expectedLost = keysOnLeaves(filename, unreachable)
      assert.isAbove(expectedLost.size, 0)
      truncate(filename, cut)
      yield* openFails(filename)
      const report = yield* SqliteStore.recover({ from: filename, to })
      const lost = new Set(report.lost.map((lost) => lost.key))
      // The key index may have lost pages past the cut too: the keys it could not name are in unreadable stretches.
      for (const key of lost) assert.isTrue(expectedLost.has(key), key)
      if (report.unreadable.length === 0) assert.deepStrictEqual(lost, expectedLost)
      assert.strictEqual(report.entries, written.size - expectedLost.size)
      assert.isFalse(report.complete)
      yield* verifyRecovered(to, written, expectedLost, fence)
    }))

  it.scoped("verifyOnOpen: false opens a damaged file; check reports the damage and names recover, fixing nothing", () =>
    Effect.gen(function*() {
      const { filename } = yield* fixture
      damagePage(filename, tableLeaves(filename)[5]!.page)
      const error = failure(
        yield* Effect.exit(Effect.scoped(SqliteStore.make({ filename, verifyOnOpen: "no" as never })))
      )
      assert.strictEqual(error._tag, "InvalidArgument")
      const store = yield* SqliteStore.make({ filename, verifyOnOpen: false, sweepInterval: "1000 days" })
      const report: KeyValueStore.CheckReport = yield* store.check({ fix: true })
      assert.isFalse(report.ok)
      assert.notDeepEqual(report.engine, ["ok"])
      assert.deepStrictEqual(report.fixed, [])
      assert.strictEqual(report.unrepairable?.length, 1)
      assert.include(report.unrepairable![0], "SqliteStore.recover")
    }))

  it.scoped("a damaged shard fails the FanoutStore's open with StoreCorrupted", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      yield* Effect.scoped(Effect.flatMap(
        FanoutStore.make({ directory, shards: 2 }),
        (store) => store.setMany(Array.from({ length: 2000 }, (_, i) => [keyOf(i), crypto.randomBytes(200)] as const))
      ))
      const shard = path.join(directory, "shard-1.db")
      damagePage(shard, tableLeaves(shard)[2]!.page)
      const error = failure(yield* Effect.exit(Effect.scoped(FanoutStore.make({ directory }))))
      assert.strictEqual(error._tag, "StoreCorrupted")
      assert.include(error.message, "shard-1.db")
    }))
})

describe("SqliteStore.recover", () => {
  it.scoped("value files missing or altered are lost entries; the others are verified and copied", () =>
    Effect.gen(function*() {
      const { filename, fence, to, written } = yield* fixture
      const fileOf = (key: string) =>
        withDb(filename, (db) => db.prepare("SELECT file FROM effect_kv WHERE key = ?").pluck().get(key) as string)
      const files = `${filename}.files`
      fs.rmSync(path.join(files, fileOf("big.1")))
      const altered = path.join(files, fileOf("big.2"))
      const bytes = fs.readFileSync(altered)
      bytes[1000] = bytes[1000]! ^ 1
      fs.writeFileSync(altered, bytes)
      const report = yield* SqliteStore.recover({ from: filename, to })
      assert.deepStrictEqual(report.engine, ["ok"])
      assert.deepStrictEqual(report.lost.map((lost) => lost.key).sort(), ["big.1", "big.2"])
      assert.include(report.lost.find((lost) => lost.key === "big.1")!.reason, "missing")
      assert.include(report.lost.find((lost) => lost.key === "big.2")!.reason, "checksum")
      assert.strictEqual(report.files, LARGE - 2)
      assert.strictEqual(fs.readdirSync(`${to}.files`).length, LARGE - 2)
      yield* verifyRecovered(to, written, new Set(["big.1", "big.2"]), fence)
    }))

  it.scoped("invalid arguments, an existing target and an unreadable schema are typed errors; no target is left", () =>
    Effect.gen(function*() {
      const { dir, filename, to } = yield* fixture
      const errorOf = (options: SqliteStore.RecoverOptions) =>
        Effect.map(Effect.exit(SqliteStore.recover(options)), failure)
      const missing = yield* errorOf({ from: path.join(dir, "none.db"), to })
      assert.deepStrictEqual([missing._tag, (missing as KeyValueStoreError.InvalidArgument).argument], [
        "InvalidArgument",
        "from"
      ])
      assert.strictEqual((yield* errorOf({ from: filename, to: filename }))._tag, "InvalidArgument")
      assert.strictEqual((yield* errorOf({ from: filename, to: ":memory:" }))._tag, "InvalidArgument")
      assert.strictEqual((yield* errorOf({ from: filename, to, table: "no such" }))._tag, "InvalidArgument")
      assert.strictEqual((yield* errorOf(null as never))._tag, "InvalidArgument")
      const other = path.join(dir, "other.db")
      fs.writeFileSync(other, "")
      assert.strictEqual((yield* errorOf({ from: filename, to: other }))._tag, "InvalidArgument")
      assert.strictEqual((yield* errorOf({ from: filename, to, table: "absent" }))._tag, "StoreCorrupted")
      // Page 1 holds the schema: with its b-tree damaged there is nothing to read.
      damagePage(filename, 1)
      assert.strictEqual((yield* errorOf({ from: filename, to }))._tag, "StoreCorrupted")
      assert.deepStrictEqual(fs.readdirSync(path.dirname(to)), [], "no target, no working copy")
    }))
})
