/**
 * The shard-count manifest with two processes creating the store at once: another process that records its manifest
 * and opens its shards between this open's look for the manifest and its look for shard files does not make this open
 * fail; it reads the recorded count. The interleaving is made deterministic by running the other open right after
 * this one's `existsSync(fanout.json)` answered.
 */
import { assert, describe, it } from "@effect/vitest"
import { FanoutStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fs from "node:fs"
import * as path from "node:path"
import { vi } from "vitest"
import { tempDir } from "../fixtures/temp.js"

const hook: { armed: (() => void) | undefined } = vi.hoisted(() => ({ armed: undefined }))

vi.mock("node:fs", async (importOriginal) => {
  const original = await importOriginal<typeof fs>()
  const existsSync = (file: fs.PathLike): boolean => {
    const answer = original.existsSync(file)
    if (String(file).endsWith("fanout.json") && hook.armed !== undefined) {
      const other = hook.armed
      hook.armed = undefined
      other()
    }
    return answer
  }
  return { ...original, default: { ...original, existsSync }, existsSync }
})

describe("FanoutStore manifest: two openers at once", () => {
  it.scoped("an opener that saw no manifest, while another created the store, opens it", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      // "Another process": opens (creating) the store with 4 shards and closes it, all between this process's
      // existsSync(fanout.json) and what follows it.
      hook.armed = () => {
        Effect.runSync(Effect.scoped(FanoutStore.make({ directory, shards: 4 })))
      }
      const exit = yield* Effect.exit(Effect.scoped(FanoutStore.make({ directory, shards: 4 })))
      assert.isUndefined(hook.armed, "the other opener ran")
      assert.isTrue(fs.existsSync(path.join(directory, "fanout.json")))
      assert.isTrue(Exit.isSuccess(exit), `the second opener failed: ${JSON.stringify(exit)}`)
    }))
})
