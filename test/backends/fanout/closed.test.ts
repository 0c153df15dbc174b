/**
 * FanoutStore after its scope closed: every operation fails as a single SqliteStore's does (same error tag, same
 * method).
 */
import { assert, describe, it } from "@effect/vitest"
import { FanoutStore, KeyValueStore, SqliteStore } from "effect-kv"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import { tempDir } from "../fixtures/temp.js"

const ops = (s: KeyValueStore.Service): Record<string, Effect.Effect<unknown, unknown, Scope.Scope>> => ({
  get: s.get("k"),
  getString: s.getString("k"),
  getEntry: s.getEntry("k"),
  set: s.set("k", "v"),
  has: s.has("k"),
  remove: s.remove("k"),
  pop: s.pop("k"),
  add: s.add("k", "v"),
  touch: s.touch("k", "1 hour"),
  ttl: s.ttl("k"),
  increment: s.increment("n"),
  getMany: s.getMany(["a", "b"]),
  setMany: s.setMany([["a", "1"], ["b", "2"]]),
  removeMany: s.removeMany(["a", "b"]),
  keys: Stream.runCollect(s.keys()).pipe(Effect.map(Chunk.toArray)),
  keysPattern: Stream.runCollect(s.keys("a*.x")).pipe(Effect.map(Chunk.toArray)),
  entries: Stream.runCollect(s.entries()).pipe(Effect.map(Chunk.toArray)),
  countPattern: s.countPattern("a*"),
  countPattern2: s.countPattern("a*.x"),
  removePattern: s.removePattern("a*"),
  removePattern2: s.removePattern("a*.x"),
  removeTag: s.removeTag("t"),
  expire: s.expire,
  clear: s.clear,
  size: s.size,
  volume: s.volume,
  check: s.check(),
  lock: s.lock("L", { timeout: 0 })
})

const outcome = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isSuccess(exit)
    ? "success"
    : Option.match(Cause.failureOption(exit.cause), {
      onNone: () => "defect",
      onSome: (e) => `${(e as { _tag: string })._tag}/${(e as { method?: string }).method}`
    })

describe("FanoutStore after its scope closed", () => {
  it.scoped("fails every operation as a single store does", () =>
    Effect.gen(function*() {
      const scope1 = yield* Scope.make()
      const scope2 = yield* Scope.make()
      const one = yield* Scope.extend(SqliteStore.make({ filename: path.join(yield* tempDir, "kv.db") }), scope1)
      const fan = yield* Scope.extend(FanoutStore.make({ directory: yield* tempDir, shards: 4 }), scope2)
      yield* Scope.close(scope1, Exit.void)
      yield* Scope.close(scope2, Exit.void)
      const stores = { one, fan, nsOne: KeyValueStore.prefix(one, "ns."), nsFan: KeyValueStore.prefix(fan, "ns.") }
      const results: Record<string, Record<string, string>> = {}
      for (const [name, store] of Object.entries(stores)) {
        results[name] = {}
        for (const [op, effect] of Object.entries(ops(store))) {
          results[name]![op] = outcome(yield* Effect.exit(Effect.scoped(effect)))
        }
      }
      assert.deepStrictEqual(results.fan, results.one)
      assert.deepStrictEqual(results.nsFan, results.nsOne)
    }))
})
