/**
 * PostgresStore / MysqlStore (and SqlStore over their clients) when things go wrong on the server side: a connection
 * killed behind the store's back (`pg_terminate_backend`, MariaDB's `KILL`), outside and inside a transaction region,
 * is a typed error and never a hang, and the pool recovers; a transaction region interrupted while it waits for the
 * table's region lock held by another pool ends at once and leaves its connection clean (no transaction, no lock),
 * even when that connection is the pool's only one (PostgreSQL cancels an interrupted statement through another
 * connection of the pool, so the region polls the lock instead of waiting in a statement); and on MySQL a write
 * beyond `max_allowed_packet` is a `BackendError` that writes nothing, batches included. Each test uses a table of its
 * own, dropped afterwards, and kills only connections of its own pools.
 *
 * A stalled link (a TCP proxy of the test's own between the store and the server stops forwarding, connections left
 * open, as a partition or a dead NAT entry leaves them): every operation, a transaction region and a lock acquisition
 * included, fails with `Timeout` within `commandTimeout`; releasing a held lock ends within it too; a lock's own
 * `timeout` bounds its acquisition even when it is shorter than `commandTimeout`; a held lock whose heartbeat cannot
 * reach the server is reported lost; and once the link is back, the same store works again at once.
 */
import { MysqlClient } from "@effect/sql-mysql2"
import { PgClient } from "@effect/sql-pg"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, SqlStore } from "effect-kv"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Figures from "./fixtures/figures.js"
import { addressOf, describeServer, urls } from "./fixtures/servers.js"
import {
  eventually,
  freshTable,
  openStore,
  quote,
  type SqlServer,
  storeLayer,
  urlOf,
  withSql
} from "./fixtures/sql-servers.js"
import { expectFailure, failureOf, operations, show, timed } from "./fixtures/stalls.js"
import { tcpProxy } from "./fixtures/tcpProxy.js"

/** The command timeout of the stores behind a stalled link. */
const COMMAND_TIMEOUT = 1000
/** What a loaded machine may add to a deadline. */
const MARGIN = 2000

/** The server's URL with its address replaced by the proxy's. */
const proxied = (server: SqlServer, port: number): Redacted.Redacted => {
  const url = new URL(urls[server])
  url.hostname = "127.0.0.1"
  url.port = String(port)
  return Redacted.make(url.toString())
}

const text = (bytes: Option.Option<Uint8Array>): string | undefined =>
  Option.getOrUndefined(Option.map(bytes, (b) => Buffer.from(b).toString("utf8")))

const cases = (server: SqlServer) => {
  // A SqlStore over a pool of one connection, so that the connection the store uses is known.
  const singleConnection = (table: string) => {
    const client = server === "postgres"
      ? PgClient.layer({ url: urlOf(server), maxConnections: 1 })
      : MysqlClient.layer({ url: urlOf(server), maxConnections: 1 })
    return SqlStore.layer({ table }).pipe(Layer.provideMerge(client))
  }

  const connectionId = (sql: SqlClient.SqlClient) =>
    Effect.map(
      sql.unsafe<{ id: unknown }>(
        server === "postgres" ? "SELECT pg_backend_pid() AS id" : "SELECT CONNECTION_ID() AS id"
      ),
      (rows) => Number(rows[0]!.id)
    )

  const kill = (id: number) =>
    withSql(
      server,
      (other) => other.unsafe(server === "postgres" ? `SELECT pg_terminate_backend(${id})` : `KILL ${id}`)
    ).pipe(
      Effect.zipRight(Effect.sleep("200 millis"))
    )

  // The first success of `effect` within a few attempts (the pool may hand out the dead connection once more).
  const recovered = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.gen(function*() {
      for (let i = 0; i < 5; i++) {
        const result = yield* Effect.either(Effect.timeout(effect, "10 seconds"))
        if (result._tag === "Right") return Option.some(result.right)
      }
      return Option.none<A>()
    })

  it.scopedLive("a killed connection is a BackendError, and the store works again afterwards", () =>
    Effect.gen(function*() {
      const table = yield* freshTable(server)
      const context = yield* Layer.build(singleConnection(table))
      const store = Context.get(context, KeyValueStore.KeyValueStore)
      yield* store.set("a", "1")
      yield* kill(yield* connectionId(Context.get(context, SqlClient.SqlClient)))
      const first = yield* Effect.exit(Effect.timeout(store.get("a"), "10 seconds"))
      if (Exit.isFailure(first)) assert.match(String(first.cause), /BackendError/)
      assert.strictEqual(Option.map(yield* recovered(store.get("a")), text).pipe(Option.getOrUndefined), "1")
      yield* store.set("b", "2")
      yield* store.withTransaction(store.set("c", "3"))
      assert.strictEqual(yield* store.size, 3)
    }))

  it.scopedLive("a connection killed inside a region fails the region with a typed error; the store recovers", () =>
    Effect.gen(function*() {
      const table = yield* freshTable(server)
      const context = yield* Layer.build(singleConnection(table))
      const store = Context.get(context, KeyValueStore.KeyValueStore)
      const sql = Context.get(context, SqlClient.SqlClient)
      const exit = yield* Effect.exit(Effect.timeout(
        store.withTransaction(Effect.gen(function*() {
          yield* store.set("x", "1")
          yield* kill(yield* connectionId(sql))
          yield* store.set("y", "2")
        })),
        "15 seconds"
      ))
      assert.isTrue(Exit.isFailure(exit))
      assert.notMatch(String(Exit.isFailure(exit) ? exit.cause : ""), /TimeoutException/)
      assert.deepStrictEqual(yield* recovered(store.size), Option.some(0), "nothing of the region was kept")
      yield* store.withTransaction(store.set("z", "3"))
      assert.strictEqual(yield* store.size, 1)
    }))

  it.scopedLive(
    "a region interrupted while waiting for the region lock ends at once and leaves nothing held",
    () =>
      Effect.gen(function*() {
        const table = yield* freshTable(server)
        const a = yield* openStore(storeLayer(server, { table, maxConnections: 2 }))
        // One connection: the one the waiting region holds.
        const b = yield* openStore(storeLayer(server, { table, maxConnections: 1 }))
        const release = yield* Effect.makeLatch(false)
        const holder = yield* Effect.fork(a.withTransaction(Effect.zipRight(a.set("held", "1"), release.await)))
        yield* Effect.sleep("300 millis")
        const waiter = yield* Effect.fork(b.withTransaction(b.set("waiter", "1")))
        yield* Effect.sleep("1500 millis")
        const started = performance.now()
        yield* Effect.timeout(Fiber.interrupt(waiter), "10 seconds")
        assert.isBelow(performance.now() - started, 3000)
        yield* release.open
        yield* Fiber.join(holder)
        // b's only connection is clean (no transaction, no lock): regions of both stores run at once.
        yield* Effect.timeout(b.withTransaction(b.set("after", "1")), "5 seconds")
        yield* Effect.timeout(a.withTransaction(a.set("after2", "1")), "5 seconds")
        assert.strictEqual(yield* a.has("waiter"), false)
        assert.strictEqual(yield* a.size, 3)
      }),
    30_000
  )

  // A store on a fresh table behind a proxy of its own.
  const behindProxy = (options: { readonly commandTimeout?: number; readonly connectTimeout?: number } = {}) =>
    Effect.gen(function*() {
      const table = yield* freshTable(server)
      const proxy = yield* tcpProxy(addressOf(server))
      const store = yield* openStore(storeLayer(server, {
        table,
        url: proxied(server, proxy.port),
        maxConnections: 4,
        connectTimeout: options.connectTimeout ?? COMMAND_TIMEOUT,
        ...(options.commandTimeout === undefined ? {} : { commandTimeout: options.commandTimeout })
      }))
      return { proxy, store }
    })

  it.scopedLive(
    "a stalled link: every operation fails with Timeout within the command timeout, and works again once it is back",
    () =>
      Effect.gen(function*() {
        const { proxy, store } = yield* behindProxy({ commandTimeout: COMMAND_TIMEOUT })
        yield* store.set("k", "before")
        const held = yield* Scope.make()
        yield* Scope.extend(store.lock("held", { ttl: "1 minute" }), held)
        // Connections in the pool, so that operations meet both stalled connections and stalled connects.
        yield* Effect.all(Array.from({ length: 4 }, () => store.get("k")), { concurrency: 4 })

        proxy.stall()
        const stalled = yield* Effect.gen(function*() {
          for (const [name, operation] of operations(store)) {
            yield* expectFailure(name, operation, {
              bound: COMMAND_TIMEOUT + MARGIN,
              tags: ["Timeout"],
              backend: server
            })
          }
          const release = yield* timed(Scope.close(held, Exit.void))
          assert.isDefined(release.exit, "releasing a held lock hung")
          assert.isBelow(release.millis, COMMAND_TIMEOUT + MARGIN, "releasing a held lock")
        }).pipe(Effect.ensuring(Effect.sync(() => proxy.resume())), Effect.exit)
        assert.isTrue(Exit.isSuccess(stalled), String(stalled))

        // Back at once: one attempt each, within a second (plus what the machine adds).
        for (const [name, operation] of [["set", store.set("after", "1")], ["get", store.get("after")]] as const) {
          const { exit, millis } = yield* timed(operation, 10_000)
          assert.isTrue(exit !== undefined && Exit.isSuccess(exit), `${name} after the link came back: ${show(exit)}`)
          assert.isBelow(millis, 1000 + MARGIN, `${name} after the link came back took ${Math.round(millis)} ms`)
        }
        assert.strictEqual(text(yield* store.get("after")), "1")
        for (const [name, operation] of operations(store)) {
          const { exit } = yield* timed(operation, 10_000)
          assert.isTrue(exit !== undefined && Exit.isSuccess(exit), `${name} after the link came back: ${show(exit)}`)
        }
        Figures.record({
          name: "stalled link: every operation fails with Timeout in time, then recovers",
          backend: server === "postgres" ? "PostgresStore" : "MysqlStore",
          count: operations(store).length + 1,
          detail: `each operation and a lock release behind a stalled TCP proxy, within ${COMMAND_TIMEOUT} ms + margin`
        })
      }),
    120_000
  )

  it.scopedLive(
    "a stalled link: a lock's timeout bounds its acquisition, below the command timeout too",
    () =>
      Effect.gen(function*() {
        // The store's own deadlines are the defaults (5 seconds): the lock's timeout is the shorter.
        const { proxy, store } = yield* behindProxy({ connectTimeout: 5000 })
        yield* store.set("k", "v")
        proxy.stall()
        const outcome = yield* timed(Effect.scoped(store.lock("l", { timeout: "1 second" })), 30_000).pipe(
          Effect.ensuring(Effect.sync(() => proxy.resume()))
        )
        assert.isDefined(outcome.exit, "the acquisition hung")
        const error = outcome.exit === undefined ? undefined : failureOf(outcome.exit)
        assert.strictEqual(error?._tag, "LockTimeout", show(outcome.exit))
        assert.isBelow(outcome.millis, 1000 + MARGIN, `lock({ timeout: "1 second" }) took ${outcome.millis} ms`)
      }),
    60_000
  )

  it.scopedLive(
    "a stalled link: a held lock whose heartbeat cannot reach the server is reported lost",
    () =>
      Effect.gen(function*() {
        const { proxy, store } = yield* behindProxy({ commandTimeout: COMMAND_TIMEOUT })
        const lock = yield* store.lock("l", { ttl: "2 seconds" })
        proxy.stall()
        const lost = yield* timed(lock.lost, 30_000).pipe(Effect.ensuring(Effect.sync(() => proxy.resume())))
        assert.isDefined(lost.exit, "the heartbeat hung: the lease was never reported lost")
        const error = lost.exit === undefined ? undefined : failureOf(lost.exit)
        assert.strictEqual(error?._tag, "LockLost", show(lost.exit))
        assert.isBelow(lost.millis, 2000 + COMMAND_TIMEOUT + MARGIN, `lost after ${lost.millis} ms`)
      }),
    60_000
  )

  it.scopedLive(
    "a stalled link: a transaction region open when the link stalls fails with Timeout and ends",
    () =>
      Effect.gen(function*() {
        const { proxy, store } = yield* behindProxy({ commandTimeout: COMMAND_TIMEOUT })
        const inside = yield* Effect.makeLatch(false)
        const stalled = yield* Effect.makeLatch(false)
        const region = yield* Effect.fork(timed(
          store.withTransaction(Effect.gen(function*() {
            yield* store.set("r1", "1")
            yield* inside.open
            yield* stalled.await
            yield* store.set("r2", "2")
          })),
          30_000
        ))
        yield* inside.await
        proxy.stall()
        yield* stalled.open
        const { exit, millis } = yield* Fiber.join(region).pipe(Effect.ensuring(Effect.sync(() => proxy.resume())))
        assert.strictEqual(exit === undefined ? undefined : failureOf(exit)?._tag, "Timeout", show(exit))
        assert.isBelow(millis, COMMAND_TIMEOUT + MARGIN + 1000, `the region took ${Math.round(millis)} ms`)
        assert.strictEqual(yield* store.has("r1"), false, "the region was rolled back")
        yield* store.withTransaction(store.set("r3", "3"))
        assert.strictEqual(yield* store.size, 1)
      }),
    60_000
  )

  it.scopedLive(
    "a statement waiting for another transaction's row lock fails with Timeout within the command timeout",
    () =>
      Effect.gen(function*() {
        const table = yield* freshTable(server)
        const store = yield* openStore(storeLayer(server, { table, commandTimeout: COMMAND_TIMEOUT }))
        yield* store.set("k", "1")
        const locked = yield* Effect.makeLatch(false)
        const done = yield* Effect.makeLatch(false)
        const holder = yield* Effect.fork(withSql(server, (sql) =>
          sql.withTransaction(Effect.gen(function*() {
            yield* sql.unsafe(`SELECT * FROM ${quote(server, table)} FOR UPDATE`)
            yield* locked.open
            yield* done.await
          }))))
        yield* locked.await
        const { exit, millis } = yield* timed(store.increment("k"), 30_000).pipe(Effect.ensuring(done.open))
        yield* Fiber.join(holder)
        assert.strictEqual(exit === undefined ? undefined : failureOf(exit)?._tag, "Timeout", show(exit))
        assert.isBelow(millis, COMMAND_TIMEOUT + MARGIN, `increment took ${Math.round(millis)} ms`)
        assert.strictEqual(yield* store.increment("k"), 2n)
      }),
    60_000
  )

  it.scopedLive("the server itself stops a lock wait the store gave up on", () =>
    Effect.gen(function*() {
      const table = yield* freshTable(server)
      const store = yield* openStore(storeLayer(server, { table, commandTimeout: COMMAND_TIMEOUT }))
      yield* store.set("k", "1")
      // Sessions of the server waiting for a lock on the table.
      const waiting = withSql(server, (sql) =>
        Effect.map(
          sql.unsafe<{ n: unknown }>(
            server === "postgres"
              ? `SELECT COUNT(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE NOT l.granted AND a.query LIKE '%${table}%' AND a.pid <> pg_backend_pid()`
              : `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX
                  WHERE trx_state = 'LOCK WAIT' AND trx_query LIKE '%${table}%'`
          ),
          (rows) => Number(rows[0]?.n ?? 0)
        ))
      const locked = yield* Effect.makeLatch(false)
      const done = yield* Effect.makeLatch(false)
      const holder = yield* Effect.fork(withSql(server, (sql) =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql.unsafe(`SELECT * FROM ${quote(server, table)} FOR UPDATE`)
          yield* locked.open
          yield* done.await
        }))))
      yield* locked.await
      const outcome = yield* Effect.gen(function*() {
        const { exit } = yield* timed(store.increment("k"), 30_000)
        assert.strictEqual(exit === undefined ? undefined : failureOf(exit)?._tag, "Timeout", show(exit))
        // The holder still holds its lock: only the server's own limit can have ended the store's wait.
        yield* eventually(Effect.map(waiting, (n) => n === 0), "a session of the store still waits for the lock")
      }).pipe(Effect.ensuring(done.open), Effect.exit)
      yield* Fiber.join(holder)
      assert.isTrue(Exit.isSuccess(outcome), show(outcome))
    }), 60_000)

  it.scopedLive(
    "a transaction left idle past idleInTransactionTimeout is ended by the server, its locks freed",
    () =>
      Effect.gen(function*() {
        const table = yield* freshTable(server)
        const a = yield* openStore(storeLayer(server, { table, idleInTransactionTimeout: "1 second" }))
        const b = yield* openStore(storeLayer(server, { table }))
        yield* a.set("k", "1")
        const inside = yield* Effect.makeLatch(false)
        const region = yield* Effect.fork(Effect.exit(a.withTransaction(Effect.gen(function*() {
          yield* a.set("k", "2")
          yield* inside.open
          yield* Effect.sleep("6 seconds")
          yield* a.set("j", "1")
        }))))
        yield* inside.await
        // Waits for the row `a`'s transaction locked, which only the server's limit frees before the region ends.
        const { exit, millis } = yield* timed(b.increment("k"), 30_000)
        assert.isTrue(exit !== undefined && Exit.isSuccess(exit), show(exit))
        if (exit !== undefined && Exit.isSuccess(exit)) assert.strictEqual(exit.value, 2n, "the region was rolled back")
        assert.isBelow(millis, 1000 + MARGIN + 1000, `the row stayed locked for ${Math.round(millis)} ms`)
        const ended = yield* Fiber.join(region)
        assert.isDefined(failureOf(ended), `the region ended without a typed failure: ${show(ended)}`)
        assert.strictEqual(yield* a.has("j"), false)
        yield* a.withTransaction(a.set("j", "2"))
        assert.strictEqual(text(yield* b.get("j")), "2")
      }),
    60_000
  )

  if (server === "mysql") {
    it.scopedLive(
      "a write beyond max_allowed_packet is a BackendError, writes nothing, and the store works after",
      () =>
        Effect.gen(function*() {
          const table = yield* freshTable(server)
          const store = yield* openStore(storeLayer(server, { table, maxConnections: 2 }))
          const packet = yield* withSql(server, (sql) =>
            Effect.map(sql.unsafe<{ n: unknown }>("SELECT @@max_allowed_packet AS n"), (rows) =>
              Number(rows[0]!.n)))
          const huge = new Uint8Array(packet + 1024).fill(65)
          yield* store.set("big", "before")
          assert.strictEqual(
            (yield* Effect.flip(Effect.timeout(store.set("big", huge), "20 seconds")))._tag,
            "BackendError"
          )
          const tagged = yield* Effect.flip(Effect.timeout(store.set("big", huge, { tags: ["t"] }), "20 seconds"))
          assert.strictEqual(tagged._tag, "BackendError")
          const batch = yield* Effect.flip(
            Effect.timeout(store.setMany([["a", "1"], ["big", huge], ["c", "3"]]), "20 seconds")
          )
          assert.strictEqual(batch._tag, "BackendError")
          assert.deepStrictEqual((yield* store.getMany(["a", "c"])).map(Option.isSome), [false, false])
          assert.strictEqual(text(yield* store.get("big")), "before")
          // Rows of almost half a packet each go through, each in a statement of its own.
          const half = new Uint8Array(Math.floor(packet / 2) - 4096).fill(66)
          yield* store.setMany([["h1", half], ["h2", half], ["h3", half]])
          assert.strictEqual(yield* store.size, 4)
        }),
      60_000
    )
  }
}

await describeServer("postgres", "PostgresStore faults", () => describe("postgres", () => cases("postgres")))
await describeServer("mysql", "MysqlStore faults", () => describe("mysql", () => cases("mysql")))
