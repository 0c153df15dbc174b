/**
 * RedisStore when its server goes away, on a private `redis-server` (never the shared one): killed mid-run, every
 * operation fails with a typed `BackendError` within the command timeout and nothing hangs, operations in flight
 * included; restarted on the same port, the same store instance works again by itself. A frozen server (SIGSTOP:
 * connected but silent) fails operations by the command timeout; a client the application owns, whose own settings
 * would queue commands without a deadline, is bounded by the store's timeout as well. A closed port at open fails the
 * layer with `BackendError` within the connect timeout.
 */
import { assert, it } from "@effect/vitest"
import type { KeyValueStore } from "effect-kv"
import { RedisStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import * as Figures from "./fixtures/figures.js"
import { freshPrefix } from "./fixtures/redis.js"
import { describeRedisBinary, freePort, privateServer } from "./fixtures/redisServer.js"
import { addressOf, describeServer } from "./fixtures/servers.js"
import { expectFailure, failureOf, operations, show, timed } from "./fixtures/stalls.js"
import { tcpProxy } from "./fixtures/tcpProxy.js"

const COMMAND_TIMEOUT = 1000
/** The generous bound every failure must come within. */
const BOUND = 3 * COMMAND_TIMEOUT

/** Asserts that every operation fails with `tag` (a BackendError of backend "redis") within `bound` ms. */
const expectAllFail = (
  store: KeyValueStore.Service,
  when: string,
  bound = BOUND,
  tag: "BackendError" | "Timeout" = "BackendError"
) =>
  Effect.forEach(
    operations(store),
    ([name, operation]) => expectFailure(`${name} ${when}`, operation, { bound, tags: [tag], backend: "redis" }),
    { discard: true }
  )

/** Polls `self` (real time) until it succeeds, for at most `millis`; returns how long it took. */
const recovers = <A, E>(self: Effect.Effect<A, E>, millis: number) =>
  Effect.gen(function*() {
    const start = performance.now()
    for (;;) {
      const exit = yield* Effect.exit(self)
      if (Exit.isSuccess(exit)) return performance.now() - start
      if (performance.now() - start > millis) assert.fail(`did not recover within ${millis} ms: ${String(exit.cause)}`)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
    }
  })

describeRedisBinary("RedisStore faults (private redis-server)", () => {
  it.live(
    "killed server: typed failures within the timeout, nothing hangs; restarted: the same store works again",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* privateServer
        const store = yield* RedisStore.make({ url: server.url, prefix: "faults:", commandTimeout: COMMAND_TIMEOUT })
        yield* store.set("before", "1")
        assert.strictEqual(yield* store.increment("n"), 1n)

        // Operations in flight when the server dies end too, each with a result or a typed failure.
        const inFlight = yield* Effect.fork(Effect.forEach(
          Array.from({ length: 300 }, (_, i) => i),
          (i) => timed(i % 2 === 0 ? store.set(`k${i}`, "v") : store.increment("n")),
          { concurrency: 20 }
        ))
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
        const killedAt = performance.now()
        yield* Effect.promise(() => server.kill())
        const results = yield* inFlight.await.pipe(Effect.flatMap(Effect.orDie))
        const drained = performance.now() - killedAt
        assert.isBelow(drained, BOUND + 1000, `the operations in flight took ${Math.round(drained)} ms to end`)
        let failed = 0
        for (const { exit } of results) {
          assert.isDefined(exit, "an operation in flight hung")
          if (exit !== undefined && Exit.isFailure(exit)) {
            failed++
            assert.strictEqual(failureOf(exit)?._tag, "BackendError", show(exit))
          }
        }
        assert.isAbove(failed, 0, "the server was killed before every operation had finished")

        yield* expectAllFail(store, "with the server down")
        // Still down a while later (the client keeps trying to reconnect): failures stay quick.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1500)))
        yield* expectAllFail(store, "with the server down for a while")

        yield* Effect.promise(() => server.restart())
        const took = yield* recovers(store.set("after", "2"), 10_000)
        assert.isBelow(took, 10_000)
        assert.strictEqual(Option.getOrNull(yield* store.getString("after")), "2")
        assert.strictEqual(yield* store.increment("n"), 1n, "the restarted server kept nothing (no persistence)")
        assert.strictEqual(yield* store.size, 2)
      })),
    60_000
  )

  it.live(
    "a frozen server fails operations by the command timeout, and they work again once it thaws",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* privateServer
        const store = yield* RedisStore.make({ url: server.url, prefix: "frozen:", commandTimeout: COMMAND_TIMEOUT })
        yield* store.set("k", "v")
        server.freeze()
        const frozen = yield* Effect.gen(function*() {
          for (const [name, operation] of operations(store).slice(0, 6)) {
            const { exit, millis } = yield* timed(operation)
            assert.strictEqual(
              exit === undefined ? undefined : failureOf(exit)?._tag,
              "Timeout",
              `${name}: ${show(exit)}`
            )
            assert.isAtLeast(millis, COMMAND_TIMEOUT * 0.9, `${name} failed before the timeout`)
            assert.isBelow(millis, BOUND, `${name} took ${Math.round(millis)} ms`)
          }
        }).pipe(Effect.ensuring(Effect.sync(() => server.thaw())), Effect.exit)
        assert.isTrue(Exit.isSuccess(frozen), String(frozen))
        yield* recovers(store.get("k"), 10_000)
        assert.strictEqual(Option.getOrNull(yield* store.getString("k")), "v")
      })),
    60_000
  )

  it.live(
    "fromClient: a client that would queue commands forever is still bounded by the store's timeout",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* privateServer
        // ioredis defaults: an offline queue, 20 retries per request, no command timeout.
        const client = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const client = new Redis(server.url, { lazyConnect: true })
            client.on("error", () => {})
            await client.connect()
            return client
          }),
          (client) => Effect.sync(() => client.disconnect())
        )
        const store = yield* RedisStore.fromClient(client, { prefix: "owned:", commandTimeout: 300 })
        yield* store.set("k", "v")
        yield* Effect.promise(() => server.kill())
        yield* expectAllFail(store, "with the server down behind an application's client", 3 * 300, "Timeout")
        yield* Effect.promise(() => server.restart())
        yield* recovers(store.set("k", "again"), 10_000)
        assert.strictEqual(client.status, "ready", "the store does not close the application's client")
      })),
    60_000
  )

  it.live("a closed port at open fails the layer with BackendError within the connect timeout", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const { exit, millis } = yield* timed(Effect.scoped(Layer.build(RedisStore.layer({
        url: `redis://127.0.0.1:${port}`,
        prefix: "closed:",
        connectTimeout: "2 seconds"
      }))))
      const error = exit === undefined ? undefined : failureOf(exit)
      assert.strictEqual(error?._tag, "BackendError", show(exit))
      if (error?._tag === "BackendError") assert.strictEqual(error.method, "open")
      assert.isBelow(millis, 2000 + 1000, `the open took ${Math.round(millis)} ms`)
    }))

  it.live("a server that accepts the connection but never answers fails the open by the connect timeout", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* privateServer
      server.freeze()
      yield* Effect.addFinalizer(() => Effect.sync(() => server.thaw()))
      const { exit, millis } = yield* timed(Effect.scoped(RedisStore.make({
        url: server.url,
        prefix: "silent:",
        connectTimeout: "1 second",
        commandTimeout: "1 second"
      })))
      assert.isTrue(exit !== undefined && Exit.isFailure(exit), `opened on a silent server: ${show(exit)}`)
      assert.isBelow(millis, 1000 + 1500, `the open took ${Math.round(millis)} ms`)
    })))
})

// The shared server, through a proxy of the test's own that stops forwarding on command (the server is never touched).
await describeServer("redis", "RedisStore behind a stalled link", () => {
  /** What a loaded machine may add to a deadline. */
  const MARGIN = 2000

  const behindProxy = (options: { readonly commandTimeout?: number } = {}) =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix("stall")
      const proxy = yield* tcpProxy(addressOf("redis"))
      const store = yield* RedisStore.make({
        url: `redis://127.0.0.1:${proxy.port}`,
        prefix,
        ...(options.commandTimeout === undefined ? {} : { commandTimeout: options.commandTimeout })
      })
      return { proxy, store }
    })

  it.live(
    "every operation fails with Timeout within the command timeout, and works again once the link is back",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { proxy, store } = yield* behindProxy({ commandTimeout: COMMAND_TIMEOUT })
        yield* store.set("k", "before")
        const held = yield* Scope.make()
        yield* Scope.extend(store.lock("held", { ttl: "1 minute" }), held)

        proxy.stall()
        const stalled = yield* Effect.gen(function*() {
          for (const [name, operation] of operations(store)) {
            yield* expectFailure(name, operation, {
              bound: COMMAND_TIMEOUT + MARGIN,
              tags: ["Timeout"],
              backend: "redis"
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
        assert.strictEqual(Option.getOrNull(yield* store.getString("after")), "1")
        for (const [name, operation] of operations(store)) {
          const { exit } = yield* timed(operation, 10_000)
          assert.isTrue(exit !== undefined && Exit.isSuccess(exit), `${name} after the link came back: ${show(exit)}`)
        }
        Figures.record({
          name: "stalled link: every operation fails with Timeout in time, then recovers",
          backend: "RedisStore",
          count: operations(store).length + 1,
          detail: `each operation and a lock release behind a stalled TCP proxy, within ${COMMAND_TIMEOUT} ms + margin`
        })
      })),
    120_000
  )

  it.live(
    "lock({ timeout: \"1 second\" }) returns LockTimeout within the second, below the command timeout",
    () =>
      Effect.scoped(Effect.gen(function*() {
        // The store's command timeout is the default (5 seconds): the lock's timeout is the shorter.
        const { proxy, store } = yield* behindProxy()
        yield* store.set("k", "v")
        proxy.stall()
        const outcome = yield* timed(Effect.scoped(store.lock("l", { timeout: "1 second" })), 30_000).pipe(
          Effect.ensuring(Effect.sync(() => proxy.resume()))
        )
        assert.isDefined(outcome.exit, "the acquisition hung")
        assert.strictEqual(
          outcome.exit === undefined ? undefined : failureOf(outcome.exit)?._tag,
          "LockTimeout",
          show(outcome.exit)
        )
        assert.isBelow(
          outcome.millis,
          1000 + MARGIN,
          `lock({ timeout: "1 second" }) took ${Math.round(outcome.millis)} ms`
        )
      })),
    60_000
  )
})
