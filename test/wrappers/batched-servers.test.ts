/**
 * The Batched wrapper on real servers: 100 concurrent gets through Batched reach the server as one round trip, counted
 * on a private `redis-server` (`INFO stats` read events, `INFO commandstats` commands) and, for PostgreSQL, by a proxy
 * in the test process that counts the protocol's round trips (`Sync` and simple `Query` messages) between a
 * PostgresStore and the loopback server; the same gets unbatched take many. Results are checked in order (hits,
 * misses, expired keys). On PostgreSQL, reads inside a store region and inside the application's own
 * `sql.withTransaction` see the transaction's writes. The contract suite runs through Batched over PostgresStore and
 * RedisStore.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, it } from "@effect/vitest"
import { Batched, KeyValueStore, PostgresStore, RedisStore, SqlStore } from "effect-kv"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import { freshRedisLayer, rawClient } from "../backends/fixtures/redis.js"
import { describeRedisBinary, privateServer } from "../backends/fixtures/redisServer.js"
import { addressOf, describeServer } from "../backends/fixtures/servers.js"
import { freshLayer, freshTable, sqlLayer } from "../backends/fixtures/sql-servers.js"
import { suite } from "../contract/suite.js"
import { mixedReads } from "./fixtures/batched.js"

const text = (bytes: Option.Option<Uint8Array>): string | undefined =>
  Option.getOrUndefined(Option.map(bytes, (b) => new TextDecoder().decode(b)))

const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

const openStore = <E>(layer: Layer.Layer<KeyValueStore.KeyValueStore, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, KeyValueStore.KeyValueStore))

const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)

/** Writes hits (i % 3 == 0), entries that expire at once (i % 3 == 1) and leaves misses; waits for the expiry. */
const fill = (store: KeyValueStore.Service) =>
  Effect.gen(function*() {
    yield* Effect.forEach(keys, (key, i) =>
      i % 3 === 0
        ? store.set(key, `v${i}`)
        : i % 3 === 1
        ? store.set(key, `gone${i}`, { ttl: "5 millis" })
        : Effect.void, { discard: true })
    yield* realSleep(30)
  })

const checkResults = (results: ReadonlyArray<Option.Option<Uint8Array>>) =>
  results.forEach((found, i) => assert.strictEqual(text(found), i % 3 === 0 ? `v${i}` : undefined, keys[i]))

const concurrentGets = (store: KeyValueStore.Service) => Effect.forEach(keys, store.get, { concurrency: "unbounded" })

describeRedisBinary("Batched over RedisStore (private server)", () => {
  it.live("100 concurrent gets reach the server as one round trip", () =>
    Effect.gen(function*() {
      const server = yield* privateServer
      const raw = yield* rawClient(server.url)
      const plain = yield* openStore(RedisStore.layer({ url: server.url, sweepInterval: "1 hour" }))
      const store = yield* Batched.make(plain)
      yield* fill(plain)
      const info = (section: string, field: RegExp) =>
        Effect.promise(async () => Number((await raw.info(section)).match(field)?.[1] ?? 0))
      const reads = info("stats", /total_reads_processed:(\d+)/)
      const hmget = info("commandstats", /cmdstat_hmget:calls=(\d+)/)
      // what reading the counters costs (one read event per INFO)
      const r0 = yield* reads
      const r1 = yield* reads
      const own = r1 - r0
      const measure = (self: Effect.Effect<ReadonlyArray<Option.Option<Uint8Array>>, unknown>) =>
        Effect.gen(function*() {
          const before = yield* reads
          const commands = yield* hmget
          const results = yield* self
          const after = yield* reads
          checkResults(results)
          return { readEvents: after - before - 2 * own, commands: (yield* hmget) - commands }
        })
      const batched = yield* measure(concurrentGets(store))
      assert.deepStrictEqual(batched, { readEvents: 1, commands: 100 })
      const unbatched = yield* measure(concurrentGets(plain))
      assert.strictEqual(unbatched.commands, 100)
      assert.isAbove(unbatched.readEvents, 1, "the count tells one round trip from many")
    }).pipe(Effect.scoped), 30_000)
})

await describeServer("redis", "Batched over RedisStore", () => {
  suite(
    "RedisStore through Batched",
    freshRedisLayer().pipe(KeyValueStore.wrap(Batched.layer())),
    RedisStore.capabilities
  )
})

/** A proxy to `target` counting the PostgreSQL round trips clients start: `Sync` ('S') and simple `Query` ('Q'). */
const pgCountingProxy = (target: { readonly host: string; readonly port: number }): Effect.Effect<
  { readonly port: number; readonly roundTrips: () => number },
  never,
  Scope.Scope
> =>
  Effect.acquireRelease(
    Effect.async<{
      readonly port: number
      readonly roundTrips: () => number
      readonly server: net.Server
      readonly sockets: Set<net.Socket>
    }>(
      (resume) => {
        let roundTrips = 0
        const sockets = new Set<net.Socket>()
        const server = net.createServer((client) => {
          const upstream = net.connect(target)
          for (const socket of [client, upstream]) {
            sockets.add(socket)
            socket.on("close", () => sockets.delete(socket))
            socket.on("error", () => {})
          }
          // The client's stream: untyped start-up messages (an SSL or GSS request, then the start-up), then typed
          // messages (a type byte and a length that counts itself).
          let buffered = Buffer.alloc(0)
          let started = false
          client.on("data", (chunk: Buffer) => {
            upstream.write(chunk)
            buffered = Buffer.concat([buffered, chunk])
            for (;;) {
              if (!started) {
                if (buffered.length < 8) break
                const length = buffered.readInt32BE(0)
                if (buffered.length < length) break
                const code = buffered.readInt32BE(4)
                started = code !== 80877103 && code !== 80877104
                buffered = buffered.subarray(length)
                continue
              }
              if (buffered.length < 5) break
              const length = buffered.readInt32BE(1)
              if (buffered.length < 1 + length) break
              const type = String.fromCharCode(buffered[0]!)
              if (type === "S" || type === "Q") roundTrips++
              buffered = buffered.subarray(1 + length)
            }
          })
          upstream.on("data", (chunk) => client.write(chunk))
          client.on("close", () => upstream.destroy())
          upstream.on("close", () => client.destroy())
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address() as net.AddressInfo
          resume(Effect.succeed({ port: address.port, roundTrips: () => roundTrips, server, sockets }))
        })
      }
    ),
    ({ server, sockets }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        for (const socket of sockets) socket.destroy()
      })
  )

await describeServer("postgres", "Batched over PostgresStore", () => {
  suite(
    "PostgresStore through Batched",
    freshLayer("postgres").pipe(KeyValueStore.wrap(Batched.layer())),
    PostgresStore.capabilities
  )

  it.live("100 concurrent gets reach the server as one round trip", () =>
    Effect.gen(function*() {
      const table = yield* freshTable("postgres")
      const proxy = yield* pgCountingProxy(addressOf("postgres"))
      const url = new URL(process.env.EFFECT_KV_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test")
      url.host = `127.0.0.1:${proxy.port}`
      const plain = yield* openStore(
        PostgresStore.layer({ url: Redacted.make(url.toString()), table, sweepInterval: "1 hour" })
      )
      const store = KeyValueStore.batched(plain)
      yield* fill(plain)
      const measure = (self: Effect.Effect<ReadonlyArray<Option.Option<Uint8Array>>, unknown>) =>
        Effect.gen(function*() {
          const before = proxy.roundTrips()
          const results = yield* self
          checkResults(results)
          return proxy.roundTrips() - before
        })
      assert.strictEqual(yield* measure(concurrentGets(store)), 1)
      const requests = yield* Batched.make(plain, { requestBatching: true })
      assert.strictEqual(yield* measure(Effect.all(keys.map(requests.get), { batching: true })), 1)
      assert.strictEqual(yield* measure(concurrentGets(plain)), 100)
    }).pipe(Effect.scoped), 30_000)

  it.live("reads in a store region and in the application's transaction see its writes", () =>
    Effect.gen(function*() {
      const table = yield* freshTable("postgres")
      const context = yield* Layer.build(SqlStore.layer({ table }).pipe(Layer.provideMerge(sqlLayer("postgres"))))
      const plain = Context.get(context, KeyValueStore.KeyValueStore)
      const sql = Context.get(context, SqlClient.SqlClient)
      const store = yield* Batched.make(plain)
      yield* plain.set("a", "before")
      const inRegion = yield* store.withTransaction(Effect.gen(function*() {
        yield* store.set("a", "region")
        yield* store.set("b", "new")
        return yield* Effect.all([store.get("a"), store.get("b"), store.get("c")], { concurrency: "unbounded" })
      }))
      assert.deepStrictEqual(inRegion.map(text), ["region", "new", undefined])
      const inApp = yield* sql.withTransaction(Effect.gen(function*() {
        yield* store.set("a", "app")
        const read = yield* Effect.all([store.get("a"), store.get("b")], { concurrency: "unbounded" })
        return yield* Effect.fail(read)
      })).pipe(Effect.flip)
      assert.isArray(inApp)
      assert.deepStrictEqual((inApp as ReadonlyArray<Option.Option<Uint8Array>>).map(text), ["app", "new"])
      assert.deepStrictEqual((yield* Effect.all([store.get("a"), store.get("b")], { batching: true })).map(text), [
        "region",
        "new"
      ])
      // a reader outside and a reader inside, in the same tick, never share a batch: the outside one never sees the
      // rolled-back write, and neither waits for the other
      for (const outsideFirst of [false, true]) {
        for (const region of [store.withTransaction, sql.withTransaction]) {
          yield* plain.set("a", "before")
          const [inside, outside] = yield* mixedReads(store, region, outsideFirst)
          assert.deepStrictEqual([text(inside), text(outside)], ["inside", "before"])
        }
      }
    }).pipe(Effect.scoped), 30_000)
})
