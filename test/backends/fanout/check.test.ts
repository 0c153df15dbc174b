/**
 * FanoutStore `check`: each shard checks and repairs itself, so the report describes the state found before any
 * repair, invalid options change nothing, a shard whose engine reports damage repairs nothing (as a single store),
 * the shards' expired-entry removals are one repair line, opposite drifts of two shards do not cancel, and a repair
 * is not counted as expirations.
 */
import { assert, describe, it } from "@effect/vitest"
import { FanoutStore, SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { damageExpiryIndex } from "../fixtures/damaged.js"
import { tempDir, withDb } from "../fixtures/temp.js"

const fileOf = (filename: string, key: string): string =>
  withDb(filename, (db) => db.prepare(`SELECT file FROM effect_kv WHERE key = ?`).pluck().get(key) as string)

const large = (): Uint8Array => crypto.randomBytes(40 * 1024)

describe("FanoutStore check({ fix: true })", () => {
  it.scoped("reports an expired dangling row as a single store does (it is removed by expire first instead)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      // A single store: the reference.
      const single = path.join(yield* tempDir, "kv.db")
      const store1 = yield* SqliteStore.make({ filename: single, sweepInterval: "1000 days" })
      yield* store1.set("gone", large(), { ttl: "1 hour" })
      fs.rmSync(path.join(`${single}.files`, fileOf(single, "gone")))
      // A fan-out of one shard: the same store, sharded trivially.
      const directory = yield* tempDir
      const fan = yield* FanoutStore.make({ directory, shards: 1, sweepInterval: "1000 days" })
      yield* fan.set("gone", large(), { ttl: "1 hour" })
      const shardFile = path.join(directory, "shard-0.db")
      fs.rmSync(path.join(`${shardFile}.files`, fileOf(shardFile, "gone")))

      yield* TestClock.adjust("2 hours")
      const expected = yield* store1.check({ fix: true })
      const actual = yield* fan.check({ fix: true })
      assert.isFalse(expected.ok, "the single store reports the dangling row")
      assert.deepStrictEqual(expected.danglingRows, ["gone"])
      assert.deepStrictEqual(
        { ok: actual.ok, danglingRows: actual.danglingRows },
        { ok: expected.ok, danglingRows: expected.danglingRows },
        `fan-out report ${JSON.stringify(actual)} vs single store ${JSON.stringify(expected)}`
      )
    }))

  it.scoped("returns a report, repairing nothing, when a shard's engine reports damage (as a single store does)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      const fill = (store: { readonly set: FanoutStore.FanoutStore["set"] }) =>
        Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => store.set(`k${i}`, "v", { ttl: `${i + 1} hours` })
        )
      // The expiry index's definition no longer matches its entries.
      const damage = damageExpiryIndex
      const rowsIn = (filename: string) =>
        withDb(filename, (db) => db.prepare("SELECT COUNT(*) FROM effect_kv").pluck().get() as number)

      // The reference: a single store with the same damage.
      const single = path.join(yield* tempDir, "kv.db")
      yield* Effect.scoped(Effect.flatMap(SqliteStore.make({ filename: single }), fill))
      damage(single)
      // A fan-out of two shards; shard 0 gets the damage.
      const directory = yield* tempDir
      yield* Effect.scoped(Effect.flatMap(FanoutStore.make({ directory, shards: 2 }), fill))
      const shard0 = path.join(directory, "shard-0.db")
      const before = rowsIn(shard0)
      damage(shard0)

      const store1 = yield* SqliteStore.make({ filename: single, sweepInterval: "1000 days" })
      const fan = yield* FanoutStore.make({ directory, sweepInterval: "1000 days" })
      yield* TestClock.adjust("330 minutes")

      const expected = yield* Effect.exit(store1.check({ fix: true }))
      assert.strictEqual(expected._tag, "Success", "the single store reports its damage")
      if (expected._tag === "Success") {
        assert.isFalse(expected.value.ok)
        assert.deepStrictEqual(expected.value.fixed, [])
      }
      assert.strictEqual(rowsIn(single), 20, "the single store repaired nothing")

      const actual = yield* Effect.exit(fan.check({ fix: true }))
      assert.strictEqual(actual._tag, "Success", `fan-out check failed: ${JSON.stringify(actual)}`)
      if (actual._tag === "Success") {
        assert.isFalse(actual.value.ok)
        assert.notDeepEqual(actual.value.engine, ["ok"])
      }
      assert.strictEqual(rowsIn(shard0), before, "expired rows removed from the damaged shard")
    }))

  it.scoped("does not count its repair as expirations in stats (a single store's check does not)", () =>
    Effect.gen(function*() {
      const single = path.join(yield* tempDir, "kv.db")
      const store1 = yield* SqliteStore.make({ filename: single, sweepInterval: "1000 days" })
      const fan = yield* FanoutStore.make({ directory: yield* tempDir, shards: 2, sweepInterval: "1000 days" })
      for (const s of [store1, fan]) {
        for (let i = 0; i < 5; i++) yield* s.set(`k${i}`, "v", { ttl: "1 second" })
      }
      yield* TestClock.adjust("2 seconds")
      const r1 = yield* store1.check({ fix: true })
      const r2 = yield* fan.check({ fix: true })
      assert.strictEqual(r1.expiredPending, 5)
      assert.strictEqual(r2.expiredPending, 5)
      assert.strictEqual((yield* store1.stats).expirations, 0)
      assert.strictEqual((yield* fan.stats).expirations, (yield* store1.stats).expirations)
    }))
})

describe("FanoutStore check: counter drift of several shards", () => {
  it.scoped("drifts of opposite sign on two shards do not add up to a drift of zero", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      // Only shards with size limits keep counters.
      const fan = yield* FanoutStore.make({ directory, shards: 2, sweepInterval: "1000 days", maxEntries: 1_000_000 })
      yield* fan.setMany(Array.from({ length: 20 }, (_, i) => [`k${i}`, "v"] as const))
      withDb(path.join(directory, "shard-0.db"), (db) =>
        db.exec("UPDATE effect_kv_counters SET entries = entries + 2, bytes = bytes + 7"))
      withDb(path.join(directory, "shard-1.db"), (db) =>
        db.exec("UPDATE effect_kv_counters SET entries = entries - 2, bytes = bytes - 7"))
      const shards = yield* Effect.forEach(fan.shards, (shard) =>
        shard.check())
      assert.deepStrictEqual(
        shards.map((r) =>
          r.counterDrift
        ),
        [{ entries: 2, bytes: 7 }, { entries: -2, bytes: -7 }]
      )
      const report = yield* fan.check()
      assert.isFalse(report.ok)
      // "How far the stored counters are from a recount; undefined when they agree": they are 4 entries and 14 bytes
      // away from a recount in total, not 0.
      assert.notDeepEqual(report.counterDrift, { entries: 0, bytes: 0 })
    }))
})

describe("FanoutStore check: invalid options", () => {
  it.scoped("check({ fix: true, minOrphanAge: <invalid> }) fails with InvalidArgument before changing anything", () =>
    Effect.gen(function*() {
      const fan = yield* FanoutStore.make({ directory: yield* tempDir, shards: 2, sweepInterval: "1000 days" })
      for (let i = 0; i < 6; i++) yield* fan.set(`k${i}`, "v", { ttl: "1 second" })
      yield* TestClock.adjust("2 seconds")
      const error = yield* Effect.flip(fan.check({ fix: true, minOrphanAge: "soon" as never }))
      assert.strictEqual(error._tag, "InvalidArgument")
      // nothing was repaired: the expired entries are still pending
      assert.strictEqual((yield* fan.check()).expiredPending, 6)
    }))
})
