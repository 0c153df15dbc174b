/**
 * The enumeration part of the contract, registered by `suite` for stores whose `capabilities.enumeration` is true:
 * `keys`, `entries`/`getPattern`, `countPattern` and `removePattern` over hierarchical keys, with every rule of the
 * glob dialect checked against hand-written expectations, paging across several engine pages, expiry, cursor edge
 * cases (keys containing U+0000, keys at the top of the code point range), malformed and pathological patterns.
 */
import { assert, describe } from "@effect/vitest"
import type { KeyValueStore, KeyValueStoreError } from "effect-kv"
import { Pattern } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { assertBytes } from "./bytes.js"

type Store = KeyValueStore.Service
type Test = (title: string, body: (store: Store) => Effect.Effect<void, unknown>) => void

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

/** The keys of the hierarchical fixture, written with `.` as separator. */
const fixture: ReadonlyArray<string> = [
  "app",
  "app.config",
  "app.config.debug",
  "app.config.db.host",
  "app.temp.a",
  "apple",
  "env.dev.config",
  "env.prod.config",
  "env.test.config",
  "log.2024-01",
  "log.2024-02",
  "log.2023-12",
  "log.1.txt",
  "log.a.txt",
  "users.1.name",
  "users.22.name",
  "users.1.email",
  "users.😀.name",
  "x.error",
  "a.b.error",
  "error",
  "star*.lit",
  "q?.lit"
]

/** Pattern (with `.` as separator) → the fixture keys it matches. */
const expectations: ReadonlyArray<readonly [pattern: string, keys: ReadonlyArray<string>]> = [
  ["app", ["app"]],
  ["app.*", ["app.config"]],
  ["app.*.*", ["app.config.debug", "app.temp.a"]],
  ["app.**", ["app", "app.config", "app.config.db.host", "app.config.debug", "app.temp.a"]],
  ["app.**.host", ["app.config.db.host"]],
  ["app.config.**", ["app.config", "app.config.db.host", "app.config.debug"]],
  ["**.error", ["a.b.error", "error", "x.error"]],
  ["**", fixture],
  ["*", ["app", "apple", "error"]],
  ["app*", ["app", "apple"]],
  ["users.*.name", ["users.1.name", "users.22.name", "users.😀.name"]],
  ["users.?.name", ["users.1.name", "users.😀.name"]],
  ["users.??.name", ["users.22.name"]],
  ["log.[0-9].txt", ["log.1.txt"]],
  ["log.[!0-9].txt", ["log.a.txt"]],
  ["log.[^0-9].txt", ["log.a.txt"]],
  ["log.2024-*", ["log.2024-01", "log.2024-02"]],
  ["log.202[3-4]-1?", ["log.2023-12"]],
  ["env.{dev,prod}.config", ["env.dev.config", "env.prod.config"]],
  ["{env,users}.*.{config,email}", ["env.dev.config", "env.prod.config", "env.test.config", "users.1.email"]],
  ["{app,log}.{a*,[0-9]*}", ["log.2023-12", "log.2024-01", "log.2024-02"]],
  ["star\\*.lit", ["star*.lit"]],
  ["q\\?.lit", ["q?.lit"]],
  ["app\\.config", ["app.config"]],
  ["nothing.**", []],
  ["*.*.*.*", ["app.config.db.host"]]
]

const malformed: ReadonlyArray<readonly [string, string]> = [
  ["an unterminated class", "log.[0-9"],
  ["an unterminated brace", "env.{dev,prod"],
  ["a stray closing brace", "env.dev}"],
  ["a trailing backslash", "app\\"],
  ["a reversed range", "log.[9-0]"],
  ["an empty class", "log.[]"]
]

/** Writes the fixture with the store's separator in place of `.`. */
const local = (store: Store, text: string) => text.split(".").join(store.separator)

/** Registers the enumeration cases; `timed` registers a case that needs expiry. */
export const enumerationCases = (test: Test, timed: Test): void => {
  describe("keys and patterns", () => {
    for (const [pattern, expected] of expectations) {
      test(`pattern ${pattern} matches exactly ${expected.length} fixture keys, in byte order`, (store) =>
        Effect.gen(function*() {
          const keys = fixture.map((key) => local(store, key))
          yield* store.setMany(keys.map((key) => [key, `v:${key}`] as const))
          const want = expected.map((key) => local(store, key)).sort(byteOrder)
          const glob = local(store, pattern)
          assert.deepStrictEqual(yield* collect(store.keys(glob)), want, "keys")
          const entries = yield* collect(store.getPattern(glob))
          assert.deepStrictEqual(entries.map(([key]) => key), want, "getPattern")
          for (const [key, value] of entries) assertBytes(value, `v:${key}`, key)
          assert.strictEqual(yield* store.countPattern(glob), want.length, "countPattern")
          assert.strictEqual(yield* store.removePattern(glob), want.length, "removePattern")
          const left = yield* collect(store.keys())
          assert.deepStrictEqual(left, keys.filter((key) => !want.includes(key)).sort(byteOrder), "left")
        }))
    }

    for (const [what, pattern] of malformed) {
      test(`${what} fails every pattern operation with InvalidArgument`, (store) =>
        Effect.gen(function*() {
          yield* store.set("log.1", "v")
          const glob = local(store, pattern)
          const operations: ReadonlyArray<
            readonly [string, Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]
          > = [
            ["keys", Stream.runDrain(store.keys(glob))],
            ["entries", Stream.runDrain(store.entries(glob))],
            ["getPattern", Stream.runDrain(store.getPattern(glob))],
            ["countPattern", store.countPattern(glob)],
            ["removePattern", store.removePattern(glob)]
          ]
          for (const [name, operation] of operations) {
            const error = yield* Effect.flip(operation)
            assert.strictEqual(error._tag, "InvalidArgument", name)
          }
          assert.strictEqual(yield* store.size, 1)
        }))
    }

    test("a pathological pattern answers in linear time", (store) =>
      Effect.gen(function*() {
        yield* store.setMany([["a".repeat(1000), "v"], ["a".repeat(999) + "b", "v"], ["b", "v"]])
        const glob = "*a".repeat(40) + "c"
        assert.strictEqual(yield* store.countPattern(glob), 0)
        assert.strictEqual(yield* store.countPattern("{a,b}".repeat(30) + "**"), 2)
        assert.strictEqual(yield* store.countPattern("*a*a*a*a*a*a*a*a*a*b"), 1)
      }))

    timed("keys and patterns never show expired entries", (store) =>
      Effect.gen(function*() {
        const sep = store.separator
        yield* store.setMany([[`p${sep}live`, "1"], [`p${sep}gone`, "2", { ttl: "1 second" }], [`q`, "3"]])
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* collect(store.keys(`p${sep}*`)), [`p${sep}live`])
        assert.deepStrictEqual((yield* collect(store.entries())).map(([key]) => key), [`p${sep}live`, "q"])
        assert.strictEqual(yield* store.countPattern(`p${sep}**`), 1)
        assert.strictEqual(yield* store.countPattern("**"), 2)
        assert.strictEqual(yield* store.removePattern(`p${sep}**`), 1, "only live entries count")
        assert.strictEqual(yield* store.size, 1)
      }))

    test("enumeration pages through several engine pages in order", (store) =>
      Effect.gen(function*() {
        const sep = store.separator
        const keys = Array.from({ length: 2345 }, (_, i) => `p${sep}${String(i).padStart(5, "0")}`)
        yield* store.setMany(keys.map((key) => [key, key] as const))
        yield* store.set("q", "outside")
        assert.deepStrictEqual(yield* collect(store.keys(`p${sep}*`)), keys)
        const entries = yield* collect(store.entries(`p${sep}*`))
        assert.strictEqual(entries.length, keys.length)
        entries.forEach(([key, value], i) => {
          assert.strictEqual(key, keys[i])
          assertBytes(value, key, key)
        })
        assert.strictEqual(yield* store.countPattern(`p${sep}*`), keys.length)
        assert.strictEqual(yield* store.countPattern(`p${sep}*0`), 235)
        assert.strictEqual(yield* store.removePattern(`p${sep}*5`), 234)
        assert.strictEqual(yield* store.removePattern(`p${sep}**`), keys.length - 234)
        assert.deepStrictEqual(yield* collect(store.keys()), ["q"])
      }))

    test("a stream reads only the pages it is asked for", (store) =>
      Effect.gen(function*() {
        const keys = Array.from({ length: 3000 }, (_, i) => `k${String(i).padStart(5, "0")}`)
        yield* store.setMany(keys.map((key) => [key, "v"] as const))
        assert.deepStrictEqual(yield* collect(Stream.take(store.keys(), 3)), keys.slice(0, 3))
      }))

    test("removing keys while enumerating neither repeats nor skips a key", (store) =>
      Effect.gen(function*() {
        const keys = Array.from({ length: 2100 }, (_, i) => `k${String(i).padStart(5, "0")}`)
        yield* store.setMany(keys.map((key) => [key, "v"] as const))
        const seen = yield* collect(Stream.tap(store.keys(), (key) => store.remove(key)))
        assert.deepStrictEqual(seen, keys)
        assert.strictEqual(yield* store.size, 0)
      }))

    test("cursors are exact around U+0000 and the top of the code point range", (store) =>
      Effect.gen(function*() {
        const keys = [
          "a",
          "a\u0000",
          "a\u0000\u0000",
          "a\u0001",
          "a\u{10FFFF}",
          "a\u{10FFFF}\u{10FFFF}",
          "b",
          "\u{10FFFF}"
        ]
        yield* store.setMany(keys.map((key) => [key, "v"] as const))
        assert.deepStrictEqual(yield* collect(store.keys()), [...keys].sort(byteOrder))
        assert.deepStrictEqual(yield* collect(store.keys("a*")), keys.filter((key) => key.startsWith("a")))
        assert.deepStrictEqual(yield* collect(store.keys("a\u{10FFFF}*")), ["a\u{10FFFF}", "a\u{10FFFF}\u{10FFFF}"])
        assert.strictEqual(yield* store.countPattern("\u{10FFFF}**"), 1)
      }))

    test("a compiled Pattern is accepted; one compiled for another separator is refused", (store) =>
      Effect.gen(function*() {
        const sep = store.separator
        yield* store.setMany([[`a${sep}1`, "v"], [`a${sep}2`, "v"], ["b", "v"]])
        const compiled = Either.getOrThrow(Pattern.compile(`a${sep}*`, { separator: sep }))
        assert.deepStrictEqual(yield* collect(store.keys(compiled)), [`a${sep}1`, `a${sep}2`])
        const other = Either.getOrThrow(Pattern.compile("a/*", { separator: sep === "/" ? ":" : "/" }))
        const error = yield* Effect.flip(store.countPattern(other))
        assert.strictEqual(error._tag, "InvalidArgument")
      }))
  })
}
