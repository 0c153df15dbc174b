import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { describeServer } from "../../backends/fixtures/servers.js"
import { freshTable, openStore, storeLayer, withSql } from "../../backends/fixtures/sql-servers.js"

await describeServer("mysql", "packet", () =>
  describe("mysql", () => {
    it.scopedLive("a write beyond max_allowed_packet is a typed error, writes nothing, and the store works after", () =>
      Effect.gen(function*() {
        const table = yield* freshTable("mysql")
        const store = yield* openStore(storeLayer("mysql", { table, maxConnections: 2 }))
        const packet = yield* withSql("mysql", (sql) =>
          Effect.map(sql.unsafe<{ n: unknown }>("SELECT @@max_allowed_packet AS n"), (rows) => Number(rows[0]!.n)))
        const huge = new Uint8Array(packet + 1024).fill(65)
        yield* store.set("big", "before")
        const single = yield* Effect.flip(Effect.timeout(store.set("big", huge), "20 seconds"))
        assert.strictEqual(single._tag, "BackendError")
        const tagged = yield* Effect.flip(Effect.timeout(store.set("big", huge, { tags: ["t"] }), "20 seconds"))
        assert.strictEqual(tagged._tag, "BackendError")
        const batch = yield* Effect.flip(
          Effect.timeout(store.setMany([["a", "1"], ["big", huge], ["c", "3"]]), "20 seconds")
        )
        assert.strictEqual(batch._tag, "BackendError")
        assert.strictEqual(Option.isSome(yield* store.get("a")), false)
        assert.strictEqual(Option.isSome(yield* store.get("c")), false)
        assert.strictEqual(Buffer.from(Option.getOrThrow(yield* store.get("big"))).toString(), "before")
        yield* store.set("after", "x")
        assert.strictEqual(yield* store.size, 2)
        // A batch of many rows just under half a packet each goes through.
        const half = new Uint8Array(Math.floor(packet / 2) - 4096).fill(66)
        yield* store.setMany([["h1", half], ["h2", half], ["h3", half]])
        assert.strictEqual(yield* store.size, 5)
      }), 60_000)
  }))
