/**
 * SqliteStore's large values, kept as files in `<database>.files/`: what goes to a file and what stays inline, byte
 * for byte round trips up to 64 MiB, every path that overwrites or removes a row deleting its file once the change
 * committed (and only then: a rolled-back write keeps the old file and leaves no new one, a fenced write refused with
 * `LockLost` too), a file missing, truncated or altered in place behind the store's back read as a typed
 * `StoreCorrupted` (the checksum in its name), a file of the previous format (names without checksums) upgraded at
 * open, `volume`, the threshold option, `SqlStore` refusing such rows with `Unsupported`, and crash safety: a writer
 * process killed at random moments never leaves a row naming a missing or truncated file, and every acknowledged write
 * reads back.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import type { KeyValueStoreError } from "effect-kv"
import { KeyValueStore, SqliteStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as child_process from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import * as crc32 from "../../src/internal/crc32.js"
import * as largeValues from "../../src/internal/sqlite/largeValues.js"
import { toFormat2 } from "./fixtures/format2.js"
import { sqlStoreLayer, tempDir, withDb } from "./fixtures/temp.js"

const threshold = 32 * 1024

const random = (size: number): Uint8Array => crypto.randomBytes(size)

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0

/** The names in the store's file directory (empty when it does not exist), sorted. */
const filesOf = (filename: string): Array<string> => {
  try {
    return fs.readdirSync(`${filename}.files`).sort()
  } catch {
    return []
  }
}

interface FileRow {
  readonly key: string
  readonly file: string | null
  readonly size: number
  readonly inline: number
}

/** The rows of the default table, read with a connection of its own behind the store's back. */
const rowsOf = (filename: string): Array<FileRow> => {
  const db = new Database(filename)
  try {
    return db.prepare("SELECT key, file, size, length(value) AS inline FROM effect_kv ORDER BY key").all() as Array<
      FileRow
    >
  } finally {
    db.close()
  }
}

const fileOf = (filename: string, key: string): string | null | undefined =>
  rowsOf(filename).find((row) => row.key === key)?.file

/** Runs `sql` on the database with a connection of its own (to plant triggers that fail some writes). */
const exec = (filename: string, sql: string): void => {
  const db = new Database(filename)
  try {
    db.exec(sql)
  } finally {
    db.close()
  }
}

// Any write of a key starting with "boom" fails inside the engine, after the store wrote the value's file.
const failBoomWrites = `
  CREATE TRIGGER boom_insert BEFORE INSERT ON effect_kv WHEN new.key LIKE 'boom%'
    BEGIN SELECT RAISE(ABORT, 'boom'); END;
  CREATE TRIGGER boom_update BEFORE UPDATE ON effect_kv WHEN new.key LIKE 'boom%'
    BEGIN SELECT RAISE(ABORT, 'boom'); END;`

/** A store on a fresh file in a temp directory that lives as long as the test's scope. */
const open = (options: Omit<SqliteStore.Options, "filename"> = {}) =>
  Effect.gen(function*() {
    const filename = path.join(yield* tempDir, "kv.db")
    const store = yield* SqliteStore.make({ ...options, filename })
    return { store, filename }
  })

const valueOf = (found: Option.Option<Uint8Array>): Uint8Array => Option.getOrThrow(found)

/** Changes one byte in the middle of a file, in place: same length, same name. */
const alterInPlace = (file: string): void => {
  const fd = fs.openSync(file, "r+")
  try {
    const at = Math.floor(fs.fstatSync(fd).size / 2)
    const byte = Buffer.alloc(1)
    fs.readSync(fd, byte, 0, 1, at)
    byte[0] = byte[0]! ^ 0x5a
    fs.writeSync(fd, byte, 0, 1, at)
  } finally {
    fs.closeSync(fd)
  }
}

describe("SqliteStore large values", () => {
  it.scoped("a 64 MiB value round-trips byte for byte through set, get and getEntry", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      const value = random(64 * 1024 * 1024)
      yield* store.set("big", value)
      assert.isTrue(sameBytes(valueOf(yield* store.get("big")), value))
      const entry = Option.getOrThrow(yield* store.getEntry("big"))
      assert.strictEqual(entry.size, value.byteLength)
      assert.isTrue(sameBytes(entry.value, value))
      const [row] = rowsOf(filename)
      assert.deepStrictEqual({ inline: row!.inline, size: row!.size }, { inline: 0, size: value.byteLength })
      assert.isTrue(largeValues.isValueFile(row!.file!))
      assert.deepStrictEqual(filesOf(filename), [row!.file])
      assert.strictEqual(fs.statSync(path.join(`${filename}.files`, row!.file!)).size, value.byteLength)
    }))

  it.scoped("values up to the threshold stay inline, larger ones go to files", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      const values = { below: random(threshold - 1), at: random(threshold), above: random(threshold + 1) }
      for (const [key, value] of Object.entries(values)) yield* store.set(key, value)
      const rows = rowsOf(filename)
      assert.deepStrictEqual(rows.map((row) => [row.key, row.file !== null, row.size]), [
        ["above", true, threshold + 1],
        ["at", false, threshold],
        ["below", false, threshold - 1]
      ])
      assert.strictEqual(filesOf(filename).length, 1)
      for (const [key, value] of Object.entries(values)) {
        assert.isTrue(sameBytes(valueOf(yield* store.get(key)), value), key)
      }
      const many = yield* store.getMany(["below", "above", "missing"])
      assert.isTrue(sameBytes(valueOf(many[1]!), values.above))
      assert.isTrue(Option.isNone(many[2]!))
      const entries = Chunk.toArray(yield* Stream.runCollect(store.entries()))
      assert.deepStrictEqual(entries.map(([key]) => key), ["above", "at", "below"])
      assert.isTrue(sameBytes(entries[0]![1], values.above))
    }))

  it.scoped("the directory is only created when a value needs it", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      yield* store.set("small", random(100))
      assert.isFalse(fs.existsSync(`${filename}.files`))
      yield* store.set("large", random(threshold + 1))
      assert.isTrue(fs.statSync(`${filename}.files`).isDirectory())
    }))

  it.scoped("overwriting a large value deletes its file once the new value committed", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      yield* store.set("k", random(threshold * 2))
      const first = fileOf(filename, "k")!
      const next = random(threshold * 3)
      yield* store.set("k", next)
      const second = fileOf(filename, "k")!
      assert.notStrictEqual(second, first, "a new value gets a new file name")
      assert.deepStrictEqual(filesOf(filename), [second])
      assert.isTrue(sameBytes(valueOf(yield* store.get("k")), next))
      yield* store.set("k", "small")
      assert.isNull(fileOf(filename, "k"))
      assert.deepStrictEqual(filesOf(filename), [])
      assert.deepStrictEqual(Option.map(yield* store.getString("k"), String), Option.some("small"))
      // small → large → large through the read-modify-write path
      yield* store.update("k", () => Option.some(random(threshold + 10)))
      const third = fileOf(filename, "k")!
      yield* store.update("k", () => Option.some(random(threshold + 20)))
      assert.deepStrictEqual(filesOf(filename), [fileOf(filename, "k")])
      assert.notStrictEqual(fileOf(filename, "k"), third)
      // setMany over existing large values, one key twice
      const last = random(threshold + 30)
      yield* store.setMany([["k", random(threshold + 1)], ["j", random(threshold + 1)], ["k", last]])
      assert.strictEqual(filesOf(filename).length, 2)
      assert.isTrue(sameBytes(valueOf(yield* store.get("k")), last))
    }))

  it.scoped("every way of removing an entry deletes its file", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open({ sweepInterval: "10 seconds" })
      const large = () => random(threshold + 1)
      const check = (what: string, expected: number) =>
        assert.strictEqual(filesOf(filename).length, expected, `files after ${what}`)
      yield* store.set("a", large())
      assert.isTrue(yield* store.remove("a"))
      check("remove", 0)
      yield* store.setMany([["a", large()], ["b", large()], ["c", "small"]])
      assert.strictEqual(yield* store.removeMany(["a", "b", "c"]), 3)
      check("removeMany", 0)
      const popped = large()
      yield* store.set("p", popped)
      assert.isTrue(sameBytes(valueOf(yield* store.pop("p")), popped))
      check("pop", 0)
      yield* store.set("t.1", large(), { tags: ["t"] })
      yield* store.set("t.2", large(), { tags: ["t", "u"] })
      yield* store.set("keep", large())
      assert.strictEqual(yield* store.removeTag("t"), 2)
      check("removeTag", 1)
      yield* store.set("p.1", large())
      yield* store.set("p.2.x", large())
      assert.strictEqual(yield* store.removePattern("p.**"), 2)
      check("removePattern", 1)
      yield* store.set("e.1", large(), { ttl: "1 second" })
      yield* store.set("e.2", large(), { ttl: "1 second" })
      yield* TestClock.adjust("2 seconds")
      check("expiry before expire (rows stay until removed)", 3)
      assert.strictEqual(yield* store.expire, 2)
      check("expire", 1)
      yield* store.set("s.1", large(), { ttl: "1 second" })
      yield* store.set("s.2", large(), { ttl: "1 second" })
      check("writes", 3)
      yield* TestClock.adjust("10 seconds")
      check("the sweeper", 1)
      yield* store.set("x", large())
      yield* store.clear
      check("clear", 0)
      yield* store.set("y", large())
      yield* store.set("y", large(), { ttl: "1 second" })
      yield* TestClock.adjust("2 seconds")
      yield* store.set("y", "small")
      check("overwriting an expired large value", 0)
    }))

  it.scoped("a read-modify-write that throws leaves no new file and the old file intact", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      const old = random(threshold * 2)
      yield* store.set("k", old)
      const before = filesOf(filename)
      const exit = yield* Effect.exit(store.update("k", () => {
        throw new Error("bug in f")
      }))
      assert.strictEqual(exit._tag, "Failure")
      assert.deepStrictEqual(filesOf(filename), before)
      assert.isTrue(sameBytes(valueOf(yield* store.get("k")), old))
    }))

  it.scoped("a write that fails after its file was written deletes the new file and keeps the old one", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      const old = random(threshold * 2)
      yield* store.set("boom", old)
      yield* store.set("fine", random(threshold * 2))
      const before = filesOf(filename)
      exec(filename, failBoomWrites)
      const failures = [
        yield* Effect.flip(store.set("boom", random(threshold * 3))),
        yield* Effect.flip(store.set("boom", random(threshold * 3), { tags: ["t"] })),
        yield* Effect.flip(store.update("boom", () => Option.some(random(threshold * 3)))),
        yield* Effect.flip(store.setMany([["fine", random(threshold * 3)], ["boom", random(threshold * 3)]]))
      ]
      assert.deepStrictEqual(failures.map((error) => error._tag), Array(4).fill("BackendError"))
      assert.deepStrictEqual(filesOf(filename), before, "no new file, and the old files stay")
      assert.isTrue(sameBytes(valueOf(yield* store.get("boom")), old))
    }))

  it.scoped("a fenced write refused with LockLost leaves no new file and the old one; a fenced removal deletes it", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      const old = random(threshold * 2)
      const lock = yield* Effect.scoped(Effect.gen(function*() {
        const lock = yield* store.lock("L")
        yield* store.set("k", old, { fence: lock })
        yield* store.setMany([["j", random(threshold * 2)]], { fence: lock })
        return lock
      }))
      const before = filesOf(filename)
      assert.strictEqual(before.length, 2)
      const refused = [
        yield* Effect.flip(store.set("k", random(threshold * 3), { fence: lock })),
        yield* Effect.flip(store.update("k", () => Option.some(random(threshold * 3)), { fence: lock })),
        yield* Effect.flip(
          store.setMany([["k", random(threshold * 3)], ["n", random(threshold * 3)]], { fence: lock })
        ),
        yield* Effect.flip(store.remove("k", { fence: lock })),
        yield* Effect.flip(store.removeMany(["k", "j"], { fence: lock }))
      ]
      assert.deepStrictEqual(refused.map((error) => error._tag), Array(5).fill("LockLost"))
      assert.deepStrictEqual(filesOf(filename), before, "no new file, and the old files stay")
      assert.isTrue(sameBytes(valueOf(yield* store.get("k")), old))
      yield* Effect.scoped(Effect.gen(function*() {
        const held = yield* store.lock("L")
        assert.isTrue(yield* store.remove("k", { fence: held }))
        assert.strictEqual(yield* store.removeMany(["j"], { fence: held }), 1)
      }))
      assert.deepStrictEqual(filesOf(filename), [], "a fenced removal deletes the file once it committed")
      assert.isTrue((yield* store.check()).ok)
    }))

  it.scoped("a setMany that fails validation midway writes no file", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      yield* store.set("old", random(threshold * 2))
      const before = filesOf(filename)
      const error = yield* Effect.flip(
        store.setMany([["a", random(threshold * 2)], ["b", random(threshold * 2)], ["", random(threshold * 2)]])
      )
      assert.strictEqual(error._tag, "InvalidKey")
      assert.deepStrictEqual(filesOf(filename), before)
      assert.isTrue(Option.isNone(yield* store.get("a")))
    }))

  it.scoped("a value file deleted behind the store's back is StoreCorrupted on every read, naming key and file", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      yield* store.set("lost", random(threshold * 2))
      yield* store.set("small", "v")
      const file = fileOf(filename, "lost")!
      fs.rmSync(path.join(`${filename}.files`, file))
      const reads: ReadonlyArray<readonly [string, Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]> = [
        ["get", store.get("lost")],
        ["getEntry", store.getEntry("lost")],
        ["getMany", store.getMany(["small", "lost"])],
        ["entries", Stream.runCollect(store.entries())],
        ["update", store.update("lost", () => Option.some("x"))],
        ["pop", store.pop("lost")]
      ]
      for (const [name, read] of reads) {
        const error = yield* Effect.flip(read)
        assert.strictEqual(error._tag, "StoreCorrupted", name)
        assert.include(error.message, file, name)
        assert.include(error.message, "lost", name)
      }
      // Removing and overwriting still work and keep the store usable.
      assert.isTrue(yield* store.remove("lost"))
      assert.deepStrictEqual(Option.map(yield* store.getString("small"), String), Option.some("v"))
    }))

  it.scoped("a truncated value file is StoreCorrupted for every read of its value", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      yield* store.set("cut", random(threshold * 2))
      fs.truncateSync(path.join(`${filename}.files`, fileOf(filename, "cut")!), threshold)
      const reads: ReadonlyArray<readonly [string, Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]> = [
        ["get", store.get("cut")],
        ["getString", store.getString("cut")],
        ["getEntry", store.getEntry("cut")],
        ["getMany", store.getMany(["cut"])],
        ["entries", Stream.runDrain(store.entries())],
        ["append", store.append("cut", "x")]
      ]
      for (const [method, read] of reads) {
        const error = yield* Effect.flip(read)
        assert.strictEqual(error._tag, "StoreCorrupted", method)
        assert.strictEqual(error.method, method)
      }
    }))

  it.scoped("a value file altered in place (same length) is StoreCorrupted on every read, naming the key", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      const value = random(threshold * 3)
      yield* store.set("altered", value)
      yield* store.set("small", "v")
      const file = fileOf(filename, "altered")!
      assert.match(file, /^[0-9a-f]{32}\.[0-9a-f]{8}\.value$/, "the name carries the checksum")
      alterInPlace(path.join(`${filename}.files`, file))
      const reads: ReadonlyArray<readonly [string, Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]> = [
        ["get", store.get("altered")],
        ["getString", store.getString("altered")],
        ["getEntry", store.getEntry("altered")],
        ["getMany", store.getMany(["small", "altered"])],
        ["entries", Stream.runCollect(store.entries())],
        ["pop", store.pop("altered")],
        ["update", store.update("altered", () => Option.some("x"))],
        ["append", store.append("altered", "x")],
        ["compareAndSwap", store.compareAndSwap("altered", Option.some(value), Option.none())]
      ]
      for (const [name, read] of reads) {
        const error = yield* Effect.flip(read)
        assert.strictEqual(error._tag, "StoreCorrupted", name)
        assert.strictEqual(error.key, "altered", name)
        assert.include(error.message, "checksum", name)
        assert.include(error.message, file, name)
      }
      assert.deepStrictEqual(filesOf(filename), [file], "no read removed or replaced the damaged entry")
      const report = yield* store.check()
      assert.deepStrictEqual(report.danglingRows, ["altered"])
      assert.isFalse(report.ok)
      const fixed = yield* store.check({ fix: true })
      assert.deepStrictEqual(fixed.fixed, [`deleted dangling row "altered" (file ${JSON.stringify(file)})`])
      assert.isTrue((yield* store.check({ minOrphanAge: 0 })).ok)
      assert.isTrue(Option.isNone(yield* store.get("altered")))
      assert.deepStrictEqual(Option.map(yield* store.getString("small"), String), Option.some("v"))
    }))

  it("the checksum is CRC-32, and its JavaScript version (for Node without zlib.crc32) computes the same", () => {
    assert.strictEqual(crc32.toHex(crc32.crc32(Buffer.from("123456789"))), "cbf43926")
    assert.strictEqual(crc32.toHex(crc32.portable(Buffer.from("123456789"))), "cbf43926")
    const bytes = random(100_000)
    assert.strictEqual(crc32.portable(bytes), crc32.crc32(bytes))
    assert.strictEqual(crc32.crc32(bytes.subarray(777), crc32.crc32(bytes.subarray(0, 777))), crc32.crc32(bytes))
    assert.strictEqual(crc32.portable(bytes.subarray(777), crc32.portable(bytes.subarray(0, 777))), crc32.crc32(bytes))
  })

  it.scoped("a store of format 2 (value files without checksums) is upgraded at open and its values still read", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const values = { a: random(threshold * 2), b: random(threshold * 2), cut: random(threshold * 2) }
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* SqliteStore.make({ filename })
        for (const [key, value] of Object.entries(values)) yield* store.set(key, value)
      }))
      toFormat2(filename)
      assert.isTrue(filesOf(filename).every((name) => /^[0-9a-f]{32}\.value$/.test(name)))
      const formatOf = () => withDb(filename, (db) => db.prepare("SELECT value FROM effect_kv_meta").pluck().get())
      assert.strictEqual(formatOf(), "2")
      const store = yield* SqliteStore.make({ filename })
      assert.strictEqual(formatOf(), "4", "the open upgraded the format row")
      yield* SqliteStore.make({ filename })
      assert.strictEqual(formatOf(), "4", "a second open changes nothing")
      // Legacy files are verified by their length until their key is written again.
      fs.truncateSync(path.join(`${filename}.files`, fileOf(filename, "cut")!), threshold)
      assert.strictEqual((yield* Effect.flip(store.get("cut")))._tag, "StoreCorrupted")
      assert.isTrue(sameBytes(valueOf(yield* store.get("a")), values.a))
      assert.isTrue(sameBytes(valueOf(yield* store.get("b")), values.b))
      yield* store.set("b", values.b)
      assert.match(fileOf(filename, "b")!, /^[0-9a-f]{32}\.[0-9a-f]{8}\.value$/, "a rewrite names a checksum")
      const report = yield* store.check({ minOrphanAge: 0 })
      assert.deepStrictEqual(report.danglingRows, ["cut"], "legacy files are checked by length")
    }))

  it.scoped("a file column that is not a name the store writes is StoreCorrupted and never opened or deleted", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      yield* store.set("k", "v")
      const outside = path.join(path.dirname(filename), "outside.txt")
      fs.writeFileSync(outside, "keep me")
      exec(filename, `UPDATE effect_kv SET file = '../outside.txt', value = x'' WHERE key = 'k'`)
      const error = yield* Effect.flip(store.get("k"))
      assert.strictEqual(error._tag, "StoreCorrupted")
      assert.isTrue(yield* store.remove("k"))
      assert.strictEqual(fs.readFileSync(outside, "utf8"), "keep me")
    }))

  it.scoped("a read that finds its file gone reads the row again (another process replaced it meanwhile)", () =>
    Effect.gen(function*() {
      const databaseFile = path.join(yield* tempDir, "kv.db")
      const db = new Database(":memory:")
      db.exec("CREATE TABLE t (key TEXT PRIMARY KEY, file TEXT)")
      const files = largeValues.make(db, { backend: "sqlite", table: "t", databaseFile, threshold: 0, durable: false })
      const gone: largeValues.Row = { value: new Uint8Array(0), file: `${"0".repeat(32)}.value` }
      const replaced: largeValues.Row = { value: new Uint8Array([1, 2, 3]), file: null }
      assert.deepStrictEqual(files.load("get", "k", gone, () => replaced), replaced)
      assert.isUndefined(files.load("get", "k", gone, () => undefined))
      db.close()
    }))

  it.scoped("volume counts the files: it grows with a large value and shrinks after its removal", () =>
    Effect.gen(function*() {
      const { store } = yield* open()
      const empty = yield* store.volume
      yield* store.set("big", random(4 * 1024 * 1024))
      const full = yield* store.volume
      assert.isAtLeast(full - empty, 4 * 1024 * 1024)
      yield* store.remove("big")
      // The write-ahead log grew a little with the removal; the 4 MiB are gone.
      assert.isBelow(yield* store.volume, empty + 1024 * 1024)
    }))

  it.scoped("largeValueThreshold: Infinity keeps every value inline", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open({ largeValueThreshold: Infinity })
      const value = random(2 * 1024 * 1024)
      yield* store.set("big", value)
      assert.isFalse(fs.existsSync(`${filename}.files`))
      assert.deepStrictEqual(rowsOf(filename).map((row) => [row.file, row.inline]), [[null, value.byteLength]])
      assert.isTrue(sameBytes(valueOf(yield* store.get("big")), value))
    }))

  it.scoped("largeValueThreshold: 0 puts every non-empty value in a file", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open({ largeValueThreshold: 0 })
      yield* store.set("one", "x")
      yield* store.set("empty", "")
      assert.deepStrictEqual(rowsOf(filename).map((row) => [row.key, row.file !== null]), [["empty", false], [
        "one",
        true
      ]])
      assert.deepStrictEqual(Option.map(yield* store.getString("one"), String), Option.some("x"))
      // An empty inline value and a value in a file both have an empty `value` column: both read back.
      assert.deepStrictEqual(Option.map(yield* store.getString("empty"), String), Option.some(""))
      const many = yield* store.getMany(["empty", "one", "none"])
      assert.deepStrictEqual(many.map((found) => Option.map(found, (bytes) => Buffer.from(bytes).toString())), [
        Option.some(""),
        Option.some("x"),
        Option.none()
      ])
    }))

  it.scoped("a :memory: database keeps every value inline", () =>
    Effect.gen(function*() {
      const store = yield* SqliteStore.make({ filename: ":memory:", largeValueThreshold: 0 })
      const value = random(threshold * 2)
      yield* store.set("k", value)
      assert.isTrue(sameBytes(valueOf(yield* store.get("k")), value))
      assert.isTrue(yield* store.remove("k"))
    }))

  it.scoped("an invalid largeValueThreshold fails the open with InvalidArgument", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      for (const largeValueThreshold of [-1, 1.5, Number.NaN, -Infinity, 2 ** 53]) {
        const error = yield* Effect.flip(
          Effect.scoped(SqliteStore.make({ filename: path.join(dir, "kv.db"), largeValueThreshold }))
        )
        assert.strictEqual(error._tag, "InvalidArgument", String(largeValueThreshold))
        assert.include(error.message, "largeValueThreshold")
      }
    }))

  it.scoped("SqlStore fails with Unsupported when it reads a row whose value is in a file", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* SqliteStore.make({ filename })
        yield* store.set("big", random(threshold * 2))
        yield* store.set("small", "v")
      }))
      const context = yield* Layer.build(sqlStoreLayer(filename))
      const store = yield* Effect.provide(KeyValueStore.KeyValueStore, context)
      const reads: ReadonlyArray<readonly [string, Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]> = [
        ["get", store.get("big")],
        ["getEntry", store.getEntry("big")],
        ["getMany", store.getMany(["small", "big"])],
        ["entries", Stream.runCollect(store.entries())],
        ["update", store.update("big", () => Option.some("x"))]
      ]
      for (const [name, read] of reads) {
        const error = yield* Effect.flip(read)
        assert.strictEqual(error._tag, "Unsupported", name)
        assert.include(error.message, "big", name)
      }
      assert.deepStrictEqual(Option.map(yield* store.getString("small"), String), Option.some("v"))
    }))
})

interface Round {
  readonly acknowledged: number
  readonly orphans: number
  readonly temp: number
}

const root = path.resolve(import.meta.dirname, "../..")

const sha256 = (value: Option.Option<Uint8Array>): string =>
  Option.match(value, {
    onNone: () => "-",
    onSome: (bytes) => crypto.createHash("sha256").update(bytes).digest("hex")
  })

interface Writer {
  readonly child: child_process.ChildProcess
  /** Hands the writer's stdout lines, those already printed first, to `f`. */
  readonly listen: (f: (line: string) => void) => void
}

/** Starts a writer process on `filename`; it loads, then waits for `go`. Killed when the scope closes. */
const spawnWriter = (filename: string, thresholdBytes: number) =>
  Effect.acquireRelease(
    Effect.sync((): Writer => {
      const script = "test/backends/fixtures/large-value-writer.ts"
      const child = child_process.spawn(
        process.execPath,
        ["--conditions=effect-kv-source", "--import", "tsx", script, filename, String(thresholdBytes)],
        { cwd: root, stdio: ["pipe", "pipe", "inherit"] }
      )
      child.stdin!.on("error", () => {})
      const early: Array<string> = []
      let listener: ((line: string) => void) | undefined
      readline.createInterface({ input: child.stdout! }).on("line", (line) => {
        if (listener === undefined) early.push(line)
        else listener(line)
      })
      return {
        child,
        listen: (f) => {
          listener = f
          for (const line of early.splice(0)) f(line)
        }
      }
    }),
    ({ child }) =>
      Effect.sync(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      })
  )

/**
 * Releases `writer`, lets it write for `millis` once its store is open, kills it with SIGKILL and folds what it
 * printed into `state` (key → SHA-256 hex, or `-` for absent): acknowledged writes replace the state; the one write in
 * flight at the kill is returned, as it may or may not have happened.
 */
const runWriter = (writer: Writer, millis: number, state: Map<string, string>) =>
  Effect.async<{ readonly acknowledged: number; readonly inFlight: Map<string, string> }, Error>((resume) => {
    const { child } = writer
    let pending = new Map<string, string>()
    let acknowledged = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    writer.listen((line) => {
      if (line === "loaded") child.stdin!.write("go\n")
      else if (line === "ready") timer = setTimeout(() => child.kill("SIGKILL"), millis)
      else if (line === "ok") {
        for (const [key, hash] of pending) state.set(key, hash)
        pending = new Map()
        acknowledged++
      } else if (line.startsWith("set ")) {
        const words = line.split(" ").slice(1)
        pending = new Map()
        for (let i = 0; i + 1 < words.length; i += 2) pending.set(words[i]!, words[i + 1]!)
      }
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      if (signal !== "SIGKILL") resume(Effect.fail(new Error(`writer exited with ${signal ?? code} before the kill`)))
      else resume(Effect.succeed({ acknowledged, inFlight: pending }))
    })
  })

describe("SqliteStore large values under SIGKILL", () => {
  it.scopedLive(
    "a writer killed at random moments leaves no row naming a missing file, loses no acknowledged write",
    () =>
      Effect.gen(function*() {
        const filename = path.join(yield* tempDir, "kv.db")
        const thresholdBytes = 16 * 1024
        const roundCount = 5
        const state = new Map<string, string>()
        const rounds: Array<Round> = []
        // Every writer loads its modules at once (most of a writer's run time); each opens the file when released.
        const writers = yield* Effect.all(
          Array.from({ length: roundCount }, () => spawnWriter(filename, thresholdBytes))
        )
        for (const [round, writer] of writers.entries()) {
          const { acknowledged, inFlight } = yield* runWriter(writer, crypto.randomInt(100, 401), state)
          // Every row naming a file names an existing file of the row's size and checksum.
          const named = new Set<string>()
          for (const row of rowsOf(filename)) {
            if (row.file === null) continue
            named.add(row.file)
            const stat = fs.statSync(path.join(`${filename}.files`, row.file), { throwIfNoEntry: false })
            assert.isDefined(stat, `round ${round}: ${row.key} names the missing file ${row.file}`)
            assert.strictEqual(stat!.size, row.size, `round ${round}: size of ${row.file} (${row.key})`)
            const defect = largeValues.inspectFile(path.join(`${filename}.files`, row.file), row.file, row.size)
            assert.isUndefined(defect, `round ${round}: ${row.file} (${row.key}) ${defect}`)
          }
          // Files no row names (allowed: a crash between writing a file and committing its row leaves one).
          const orphans = filesOf(filename).filter((name) => !named.has(name))
          // Every acknowledged write reads back, unless the write in flight at the kill replaced it.
          yield* Effect.scoped(Effect.gen(function*() {
            const store = yield* SqliteStore.make({ filename, largeValueThreshold: thresholdBytes })
            for (const key of new Set([...state.keys(), ...inFlight.keys()])) {
              const stored = sha256(yield* store.get(key))
              const allowed = [state.get(key) ?? "-", inFlight.get(key)]
              assert.include(allowed, stored, `round ${round}: ${key}`)
              state.set(key, stored)
            }
          }))
          rounds.push({ acknowledged, orphans: orphans.length, temp: orphans.filter(largeValues.isTempFile).length })
        }
        console.log(
          `large-value crash rounds: ${
            rounds.map((r) => `${r.acknowledged} acknowledged, ${r.orphans} orphaned files (${r.temp} temp)`).join("; ")
          }`
        )
        assert.isAbove(rounds.reduce((n, r) => n + r.acknowledged, 0), 0, "the writers wrote something")
      }),
    60_000
  )
})
