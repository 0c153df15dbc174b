/**
 * Memoized functions on `SqliteStore` (a temporary file): results, `undefined` results, typed results and cached
 * failures survive closing and reopening the store; the on/off flag is kept in the file too; the ttl is kept (through
 * `TestClock`, which drives the store's expiry).
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, Memoize, SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

class Report extends Schema.Class<Report>("Report")({ title: Schema.String, at: Schema.Date, total: Schema.BigInt }) {}
class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { id: Schema.Number }) {}

/** A fresh database file, removed after `f`. */
const withFile = <A, E, R>(f: (filename: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-memoize-"))),
    (dir) => f(path.join(dir, "cache.db")),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** Opens the store on `filename`, runs `effect` with it, closes it. */
const session = <A, E>(filename: string, effect: Effect.Effect<A, E, KeyValueStore.KeyValueStore>) =>
  Effect.provide(effect, Layer.fresh(SqliteStore.layer({ filename })))

describe("Memoize on SqliteStore", () => {
  it.effect("results, undefined results, typed results and cached failures survive reopening the store", () =>
    withFile((filename) =>
      Effect.gen(function*() {
        const runs = yield* Ref.make(0)
        const count = <A, E>(effect: Effect.Effect<A, E>) => Effect.zipRight(Ref.update(runs, (n) => n + 1), effect)
        const total = Memoize.effect((a: number, b: number) => count(Effect.succeed(a + b)), { namespace: "total" })
        const touch = Memoize.effect((_: string) => count(Effect.void), { namespace: "touch" })
        const report = Memoize.effect(
          (title: string) => count(Effect.succeed(new Report({ title, at: new Date(5_000), total: 10n ** 20n }))),
          { namespace: "report", schema: Report }
        )
        const find = Memoize.effect((id: number) => count(Effect.fail(new NotFound({ id }))), {
          namespace: "find",
          cacheFailures: { schema: NotFound }
        })
        const all = Effect.gen(function*() {
          const sum = yield* total(2, 3)
          const nothing = yield* touch("x")
          const r = yield* report("q1")
          const failure = yield* Effect.flip(find(9))
          return { sum, nothing, r, failure }
        })
        const first = yield* session(filename, all)
        assert.strictEqual(yield* Ref.get(runs), 4)
        const second = yield* session(filename, all)
        assert.strictEqual(yield* Ref.get(runs), 4, "every result came from the file")
        assert.strictEqual(second.sum, 5)
        assert.isUndefined(second.nothing)
        assert.instanceOf(second.r, Report)
        assert.strictEqual(second.r.total, 10n ** 20n)
        assert.strictEqual(second.r.at.getTime(), first.r.at.getTime())
        assert.instanceOf(second.failure, NotFound)
        assert.strictEqual(second.failure.id, 9)
      })
    ))

  it.effect("the flag kept in the file switches caching off for the next session", () =>
    withFile((filename) =>
      Effect.gen(function*() {
        const runs = yield* Ref.make(0)
        const memo = Memoize.effect((n: number) => Effect.as(Ref.update(runs, (k) => k + 1), n), {
          namespace: "flagged",
          when: { flag: "cache.on" }
        })
        yield* session(filename, Effect.zipRight(memo(1), memo(1)))
        assert.strictEqual(yield* Ref.get(runs), 1)
        yield* session(filename, Effect.flatMap(KeyValueStore.KeyValueStore, (s) => Memoize.disable(s, "cache.on")))
        yield* session(filename, Effect.zipRight(memo(1), memo(1)))
        assert.strictEqual(yield* Ref.get(runs), 3)
      })
    ))

  it.effect("the ttl holds on SQLite", () =>
    withFile((filename) =>
      session(
        filename,
        Effect.gen(function*() {
          const runs = yield* Ref.make(0)
          const memo = Memoize.effect((n: number) => Effect.as(Ref.update(runs, (k) => k + 1), n), {
            namespace: "ttl",
            ttl: "10 seconds"
          })
          yield* memo(1)
          yield* TestClock.adjust("9 seconds")
          yield* memo(1)
          assert.strictEqual(yield* Ref.get(runs), 1)
          yield* TestClock.adjust("2 seconds")
          yield* memo(1)
          assert.strictEqual(yield* Ref.get(runs), 2)
        })
      )
    ))
})
