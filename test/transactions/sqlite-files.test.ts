/**
 * Large-value files of SqliteStore through regions, savepoints, setMany and evictions: after every scenario the
 * directory holds exactly the files the rows name (no orphan, no dangling row) and the values read back.
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStore } from "effect-kv"
import { SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-review-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const large = (fill: number) => new Uint8Array(40 * 1024).fill(fill)

const filesOf = (filename: string): number => {
  try {
    return fs.readdirSync(`${filename}.files`).length
  } catch {
    return 0
  }
}

const consistent = (store: KeyValueStore.Service, filename: string, expected: Record<string, number>) =>
  Effect.gen(function*() {
    const report = yield* store.check({ minOrphanAge: 0 })
    assert.deepStrictEqual(report.orphanedFiles, [], "orphaned files")
    assert.deepStrictEqual(report.danglingRows, [], "dangling rows")
    assert.isTrue(report.ok)
    for (const [key, fill] of Object.entries(expected)) {
      const value = yield* store.get(key)
      assert.isTrue(Option.isSome(value), key)
      if (Option.isSome(value)) assert.strictEqual(value.value[0], fill, key)
    }
    assert.strictEqual(filesOf(filename), Object.keys(expected).length, "one file per large value")
  })

describe("transactions: SqliteStore large values in regions", () => {
  it.scoped("setMany of large values (with duplicates) in committed and rolled-back levels", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename })
      yield* store.setMany([["a", large(1)], ["b", large(2)]])
      yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
        yield* store.setMany([["a", large(3)], ["a", large(4)], ["c", large(5)]])
        yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
          yield* store.setMany([["b", large(6)], ["d", large(7)]])
          yield* store.remove("a")
          return yield* Effect.fail("inner")
        })))
        yield* store.withTransaction(store.setMany([["e", large(8)], ["c", large(9)]]))
        yield* store.remove("b")
        return yield* Effect.fail("outer")
      })))
      yield* consistent(store, filename, { a: 1, b: 2 })
      yield* store.withTransaction(Effect.gen(function*() {
        yield* store.setMany([["a", large(3)], ["a", large(4)], ["c", large(5)]])
        yield* Effect.exit(store.withTransaction(Effect.zipRight(store.set("b", large(6)), Effect.fail("inner"))))
        yield* store.withTransaction(store.setMany([["e", large(8)], ["c", large(9)]]))
        yield* store.remove("b")
      }))
      yield* consistent(store, filename, { a: 4, c: 9, e: 8 })
    }))

  it.scoped("a setMany refused by the limits inside a region deletes its files, the region goes on", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename, maxEntries: 2, eviction: "none" })
      yield* store.set("a", large(1))
      yield* store.withTransaction(Effect.gen(function*() {
        const refused = yield* Effect.flip(store.setMany([["b", large(2)], ["c", large(3)]]))
        assert.strictEqual(refused._tag, "StoreFull")
        yield* store.set("a", large(4))
      }))
      yield* consistent(store, filename, { a: 4 })
    }))

  it.scoped("an eviction of a large value inside a rolled-back region keeps its file", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename, maxEntries: 1 })
      yield* store.set("a", large(1))
      yield* Effect.exit(store.withTransaction(Effect.zipRight(store.set("b", large(2)), Effect.fail("undo"))))
      yield* consistent(store, filename, { a: 1 })
      yield* store.withTransaction(store.set("b", large(2)))
      yield* consistent(store, filename, { b: 2 })
    }))
})
