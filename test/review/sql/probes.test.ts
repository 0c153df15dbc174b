import { MysqlClient } from "@effect/sql-mysql2"
import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, SqlStore } from "effect-kv"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { describeServer } from "../../backends/fixtures/servers.js"
import {
  eventually,
  freshTable,
  openStore,
  quote,
  type SqlServer,
  storeLayer,
  urlOf,
  withSql
} from "../../backends/fixtures/sql-servers.js"

const text = (bytes: Option.Option<Uint8Array>): string | undefined =>
  Option.getOrUndefined(Option.map(bytes, (b) => Buffer.from(b).toString("utf8")))

const cases = (server: SqlServer) => {
  const count = (name: string) =>
    withSql(server, (sql) =>
      Effect.map(
        sql.unsafe<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${quote(server, name)}`),
        (rows) => Number(rows[0]?.n)
      ))

  it.scoped("the sweeper works at a fractional TestClock time", () =>
    Effect.gen(function*() {
      const table = yield* freshTable(server)
      const store = yield* openStore(storeLayer(server, { table, sweepInterval: "5 seconds" }))
      yield* TestClock.adjust(Duration.millis(0.5))
      yield* store.set("short", "v", { ttl: "1 second" })
      yield* store.set("forever", "v")
      yield* TestClock.adjust("6 seconds")
      yield* eventually(Effect.map(count(table), (n) => n === 1), "swept")
      yield* eventually(Effect.map(store.stats, (s) => s.expirations === 1), "counted")
    }))

  const singleConnection = (table: string) => {
    const client = server === "postgres"
      ? PgClient.layer({ url: urlOf(server), maxConnections: 1 })
      : MysqlClient.layer({ url: urlOf(server), maxConnections: 1 })
    return SqlStore.layer({ table }).pipe(Layer.provideMerge(client))
  }

  it.scopedLive("a killed connection is a BackendError, and the store works again afterwards", () =>
    Effect.gen(function*() {
      const table = yield* freshTable(server)
      const context = yield* Layer.build(singleConnection(table))
      const store = Context.get(context, KeyValueStore.KeyValueStore)
      const sql = Context.get(context, SqlClient.SqlClient)
      yield* store.set("a", "1")
      const id = server === "postgres"
        ? (yield* sql.unsafe<{ id: unknown }>("SELECT pg_backend_pid() AS id"))[0]!.id
        : (yield* sql.unsafe<{ id: unknown }>("SELECT CONNECTION_ID() AS id"))[0]!.id
      yield* withSql(server, (other) =>
        server === "postgres"
          ? other.unsafe(`SELECT pg_terminate_backend(${Number(id)})`)
          : other.unsafe(`KILL ${Number(id)}`))
      yield* Effect.sleep("200 millis")
      const failed = yield* Effect.exit(Effect.timeout(store.get("a"), "10 seconds"))
      if (Exit.isFailure(failed)) {
        const error = Option.getOrUndefined(Exit.causeOption(failed).pipe(Option.flatMap((c) => Option.some(c))))
        assert.isTrue(Exit.isFailure(failed))
        const squashed = Exit.isFailure(failed) ? failed.cause : undefined
        assert.match(String(squashed), /BackendError/, String(error))
      }
      let ok: string | undefined
      for (let i = 0; i < 5 && ok === undefined; i++) {
        const got = yield* Effect.either(Effect.timeout(store.get("a"), "10 seconds"))
        if (got._tag === "Right") ok = text(got.right)
      }
      assert.strictEqual(ok, "1")
      yield* store.set("b", "2")
      assert.strictEqual(text(yield* store.get("b")), "2")
      yield* store.withTransaction(store.set("c", "3"))
      assert.strictEqual(text(yield* store.get("c")), "3")
    }))

  it.scopedLive("a killed connection inside a region fails the region with a typed error; the store recovers", () =>
    Effect.gen(function*() {
      const table = yield* freshTable(server)
      const context = yield* Layer.build(singleConnection(table))
      const store = Context.get(context, KeyValueStore.KeyValueStore)
      const sql = Context.get(context, SqlClient.SqlClient)
      const exit = yield* Effect.exit(Effect.timeout(
        store.withTransaction(Effect.gen(function*() {
          yield* store.set("x", "1")
          const id = server === "postgres"
            ? (yield* sql.unsafe<{ id: unknown }>("SELECT pg_backend_pid() AS id"))[0]!.id
            : (yield* sql.unsafe<{ id: unknown }>("SELECT CONNECTION_ID() AS id"))[0]!.id
          yield* withSql(server, (other) =>
            server === "postgres"
              ? other.unsafe(`SELECT pg_terminate_backend(${Number(id)})`)
              : other.unsafe(`KILL ${Number(id)}`))
          yield* Effect.sleep("200 millis")
          yield* store.set("y", "2")
        })),
        "15 seconds"
      ))
      assert.isTrue(Exit.isFailure(exit))
      assert.notMatch(String(Exit.isFailure(exit) ? exit.cause : ""), /TimeoutException/)
      let size: number | undefined
      for (let i = 0; i < 5 && size === undefined; i++) {
        const got = yield* Effect.either(Effect.timeout(store.size, "10 seconds"))
        if (got._tag === "Right") size = got.right
      }
      assert.strictEqual(size, 0)
      yield* store.withTransaction(store.set("z", "3"))
      assert.strictEqual(yield* store.size, 1)
    }))

  it.scopedLive("a region interrupted while waiting for the region lock ends promptly and leaves nothing held", () =>
    Effect.gen(function*() {
      const table = yield* freshTable(server)
      const a = yield* openStore(storeLayer(server, { table, maxConnections: 2 }))
      const b = yield* openStore(storeLayer(server, { table, maxConnections: 1 }))
      const release = yield* Effect.makeLatch(false)
      const holder = yield* Effect.fork(a.withTransaction(Effect.zipRight(a.set("held", "1"), release.await)))
      yield* Effect.sleep("300 millis")
      const waiter = yield* Effect.fork(b.withTransaction(b.set("waiter", "1")))
      yield* Effect.sleep("1500 millis")
      const started = performance.now()
      yield* Fiber.interrupt(waiter)
      assert.isBelow(performance.now() - started, 3000)
      yield* release.open
      yield* Fiber.join(holder)
      // b's only connection is clean: a region of b commits and runs at once, a's next region too.
      yield* Effect.timeout(b.withTransaction(b.set("after", "1")), "5 seconds")
      yield* Effect.timeout(a.withTransaction(a.set("after2", "1")), "5 seconds")
      assert.strictEqual(yield* a.has("waiter"), false)
      assert.strictEqual(yield* a.has("after"), true)
    }))

  it.scoped("increment/add/compareAndSwap on an absent key leave no row when the function fails", () =>
    Effect.gen(function*() {
      const table = yield* freshTable(server)
      const store = yield* openStore(storeLayer(server, { table }))
      yield* store.set("nan", "x")
      yield* Effect.flip(store.increment("nan"))
      yield* Effect.exit(store.update("absent", () => { throw new Error("boom") }))
      assert.strictEqual(yield* count(table), 1)
      assert.strictEqual(yield* store.removePattern("**"), 1)
      assert.strictEqual(yield* count(table), 0)
    }))
}

await describeServer("postgres", "probes postgres", () => describe("pg", () => cases("postgres")))
await describeServer("mysql", "probes mysql", () => describe("mysql", () => cases("mysql")))
