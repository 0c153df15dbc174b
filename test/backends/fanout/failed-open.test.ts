/**
 * A FanoutStore open that fails on one shard closes the shards it had already opened (connections and sweepers), as a
 * failed `SqliteStore.make` leaves nothing behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { FanoutStore, SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "../fixtures/temp.js"

const openFiles = (directory: string): Array<string> =>
  fs.readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = fs.readlinkSync(path.join("/proc/self/fd", fd))
      return target.startsWith(directory) ? [target] : []
    } catch {
      return []
    }
  })

describe.runIf(fs.existsSync("/proc/self/fd"))("FanoutStore open failing on a later shard", () => {
  it.scoped("closes the shards it already opened", () =>
    Effect.gen(function*() {
      // control: a failed SqliteStore.make leaves nothing open
      const plain = yield* tempDir
      fs.writeFileSync(path.join(plain, "kv.db"), Buffer.alloc(8192, 0x41))
      assert.strictEqual(
        (yield* Effect.flip(SqliteStore.make({ filename: path.join(plain, "kv.db") })))._tag,
        "StoreCorrupted"
      )
      assert.deepStrictEqual(openFiles(plain), [])

      const directory = yield* tempDir
      yield* Effect.scoped(FanoutStore.make({ directory, shards: 2 }))
      fs.writeFileSync(path.join(directory, "shard-1.db"), Buffer.alloc(8192, 0x41)) // not a database
      const error = yield* Effect.flip(FanoutStore.make({ directory }))
      assert.strictEqual(error._tag, "StoreCorrupted")
      // the caller's scope is still open (it may retry, or go on without the store)
      const open = openFiles(directory)
      assert.deepStrictEqual(open, [], `files of the failed store still open: ${open.join(", ")}`)
    }))
})
