/**
 * Differential fuzz: a 4-shard FanoutStore against a single SqliteStore, the same random operations on both
 * (keys with braces, U+0000, astral and BMP-high characters; patterns with escaped braces; namespaces over both),
 * every result compared.
 */
import { assert, describe, it } from "@effect/vitest"
import { FanoutStore, KeyValueStore, Pattern, SqliteStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import { tempDir } from "../fixtures/temp.js"

const chars = ["a", "b", "{", "}", ".", "\u0000", "é", "😀", "\uFF21", "x"]
const keyArb = FastCheck.array(FastCheck.constantFrom(...chars), { minLength: 1, maxLength: 6 }).map((c) => c.join(""))
const escape = (text: string) => text.replace(/[\\*?[\]{}]/g, (c) => `\\${c}`)
const patternArb = FastCheck.tuple(
  FastCheck.array(FastCheck.constantFrom(...chars), { maxLength: 4 }).map((c) => escape(c.join(""))),
  FastCheck.constantFrom("", "*", "**", ".**", "?", "*x", "{a,b}*", ".*")
).map(([literal, tail]) => literal + tail)
const nsArb = FastCheck.constantFrom("", "{a}.", "{", "a{", "x{a}", "{}", "{b", "b}", "{a}")

type Op =
  | { readonly op: "set"; readonly key: string; readonly tag: boolean }
  | { readonly op: "setMany"; readonly keys: ReadonlyArray<string> }
  | { readonly op: "getMany"; readonly keys: ReadonlyArray<string> }
  | { readonly op: "removeMany"; readonly keys: ReadonlyArray<string> }
  | { readonly op: "keys"; readonly pattern: string }
  | { readonly op: "entries"; readonly pattern: string }
  | { readonly op: "count"; readonly pattern: string }
  | { readonly op: "removePattern"; readonly pattern: string }
  | { readonly op: "removeTag" }
  | { readonly op: "size" }
  | { readonly op: "clear" }

const opArb: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  {
    weight: 6,
    arbitrary: FastCheck.record({ op: FastCheck.constant("set" as const), key: keyArb, tag: FastCheck.boolean() })
  },
  {
    weight: 3,
    arbitrary: FastCheck.record({
      op: FastCheck.constant("setMany" as const),
      keys: FastCheck.array(keyArb, { maxLength: 8 })
    })
  },
  {
    weight: 2,
    arbitrary: FastCheck.record({
      op: FastCheck.constant("getMany" as const),
      keys: FastCheck.array(keyArb, { maxLength: 8 })
    })
  },
  {
    weight: 1,
    arbitrary: FastCheck.record({
      op: FastCheck.constant("removeMany" as const),
      keys: FastCheck.array(keyArb, { maxLength: 8 })
    })
  },
  { weight: 3, arbitrary: FastCheck.record({ op: FastCheck.constant("keys" as const), pattern: patternArb }) },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("entries" as const), pattern: patternArb }) },
  { weight: 2, arbitrary: FastCheck.record({ op: FastCheck.constant("count" as const), pattern: patternArb }) },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("removePattern" as const), pattern: patternArb }) },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("removeTag" as const) }) },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("size" as const) }) },
  { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("clear" as const) }) }
)

const caseArb = FastCheck.record({
  ns: nsArb,
  ops: FastCheck.array(opArb, { minLength: 1, maxLength: 30 })
})

const collect = <A, E>(s: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(s), Chunk.toArray)
const txt = (b: Uint8Array) => Buffer.from(b).toString("utf8")

const run = (store: KeyValueStore.Service, op: Op, i: number): Effect.Effect<unknown> => {
  const eff: Effect.Effect<unknown, unknown> = (() => {
    switch (op.op) {
      case "set":
        return store.set(op.key, `v${i}`, op.tag ? { tags: ["t"] } : undefined)
      case "setMany":
        return store.setMany(op.keys.map((k, j) => [k, `m${i}.${j}`] as const))
      case "getMany":
        return Effect.map(store.getMany(op.keys), (vs) => vs.map((v) => Option.getOrNull(Option.map(v, txt))))
      case "removeMany":
        return store.removeMany(op.keys)
      case "keys":
        return collect(store.keys(op.pattern))
      case "entries":
        return Effect.map(collect(store.entries(op.pattern)), (rows) => rows.map(([k, v]) => [k, txt(v)]))
      case "count":
        return store.countPattern(op.pattern)
      case "removePattern":
        return store.removePattern(op.pattern)
      case "removeTag":
        return store.removeTag("t")
      case "size":
        return store.size
      case "clear":
        return store.clear
    }
  })()
  return Effect.either(eff).pipe(Effect.map(Either.mapLeft((e) => (e as { _tag?: string })._tag)))
}

describe("FanoutStore vs SqliteStore (differential)", () => {
  it.scoped("every operation gives the single store's result", () =>
    Effect.gen(function*() {
      const fan = yield* FanoutStore.make({ directory: yield* tempDir, shards: 4, sweepInterval: "1000 days" })
      const one = yield* SqliteStore.make({ filename: path.join(yield* tempDir, "kv.db"), sweepInterval: "1000 days" })
      const cases = FastCheck.sample(caseArb, {
        numRuns: Number(process.env.RUNS ?? 300),
        seed: Number(process.env.SEED ?? 42)
      })
      const failures: Array<string> = []
      for (const c of cases) {
        yield* fan.clear
        yield* one.clear
        yield* fan.resetStats
        yield* one.resetStats
        const a = c.ns === "" ? fan : KeyValueStore.prefix(fan, c.ns)
        const b = c.ns === "" ? one : KeyValueStore.prefix(one, c.ns)
        for (let i = 0; i < c.ops.length; i++) {
          const op = c.ops[i]!
          if ("pattern" in op && Either.isLeft(Pattern.compile(op.pattern))) continue
          const x = yield* run(a, op, i)
          const y = yield* run(b, op, i)
          if (JSON.stringify(x) !== JSON.stringify(y)) {
            failures.push(JSON.stringify({ ns: c.ns, op, fanout: x, single: y, before: c.ops.slice(0, i) }))
            break
          }
        }
        if (failures.length > 0) break
        const sa = yield* a.stats
        const sb = yield* b.stats
        if (JSON.stringify(sa) !== JSON.stringify(sb)) {
          failures.push(JSON.stringify({ ns: c.ns, ops: c.ops, fanout: sa, single: sb }))
          break
        }
        const all = yield* collect(fan.keys())
        const ref = yield* collect(one.keys())
        if (JSON.stringify(all) !== JSON.stringify(ref)) {
          failures.push(JSON.stringify({ ns: c.ns, ops: c.ops, fanout: all, single: ref }))
          break
        }
      }
      assert.deepStrictEqual(failures, [])
    }), 600_000)
})

describe("FanoutStore vs SqliteStore (bulk, across page edges)", () => {
  it.scoped(
    "keys/entries/patterns over thousands of tricky keys, at the root and in namespaces",
    () =>
      Effect.gen(function*() {
        const fan = yield* FanoutStore.make({ directory: yield* tempDir, shards: 3, sweepInterval: "1000 days" })
        const one = yield* SqliteStore.make({
          filename: path.join(yield* tempDir, "kv.db"),
          sweepInterval: "1000 days"
        })
        const bulkKey = FastCheck.array(FastCheck.constantFrom(...chars, "n", "n."), { minLength: 1, maxLength: 9 })
          .map((c) => c.join(""))
        const keys = Array.from(new Set(FastCheck.sample(bulkKey, { numRuns: 6000, seed: 7 })))
        for (const s of [fan, one]) {
          for (let i = 0; i < keys.length; i += 1000) {
            yield* s.setMany(keys.slice(i, i + 1000).map((k) => [k, k] as const))
          }
        }
        const patterns = ["**", "n.**", "*", "a*", "\\{*", "\\{a\\}*", "*.*", "?*", "{a,b}*.*", "n*"]
        for (const ns of ["", "n.", "{", "a", "{a}"]) {
          const a = ns === "" ? fan : KeyValueStore.prefix(fan, ns)
          const b = ns === "" ? one : KeyValueStore.prefix(one, ns)
          assert.deepStrictEqual(yield* collect(a.keys()), yield* collect(b.keys()), `keys in ${ns}`)
          const ea = (yield* collect(a.entries())).map(([k, v]) => [k, txt(v)])
          const eb = (yield* collect(b.entries())).map(([k, v]) => [k, txt(v)])
          assert.deepStrictEqual(ea, eb, `entries in ${ns}`)
          assert.strictEqual(yield* a.size, yield* b.size, `size in ${ns}`)
          for (const p of patterns) {
            assert.deepStrictEqual(yield* collect(a.keys(p)), yield* collect(b.keys(p)), `keys(${p}) in ${ns}`)
            assert.strictEqual(yield* a.countPattern(p), yield* b.countPattern(p), `count(${p}) in ${ns}`)
          }
        }
        for (const p of ["a*.*", "\\{*"]) {
          assert.strictEqual(yield* fan.removePattern(p), yield* one.removePattern(p), `removePattern(${p})`)
        }
        const ns = KeyValueStore.prefix(fan, "n.")
        const nsOne = KeyValueStore.prefix(one, "n.")
        yield* ns.clear
        yield* nsOne.clear
        assert.deepStrictEqual(yield* collect(fan.keys()), yield* collect(one.keys()), "after removals")
      }),
    600_000
  )
})
