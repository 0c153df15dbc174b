/**
 * Tiered's invalidation buses in one process, on the loopback servers: two instances over one shared MemoryStore L2,
 * each with its own bus connection; the second one's goes through a TCP proxy that can stall (a silent partition:
 * sockets stay open, nothing gets through). A write on one instance drops the key from the other's L1; a stalled
 * bus is noticed within two heartbeats, after which the instance reads the L2 only and has emptied its L1; once the
 * link heals it reconnects, uses its L1 again, and sends the messages it could not send meanwhile.
 */
import { assert, it } from "@effect/vitest"
import { MemoryStore, Tiered } from "effect-kv"
import type { KeyValueStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { addressOf, describeServer, uniqueName, urls } from "../backends/fixtures/servers.js"
import { tcpProxy } from "../backends/fixtures/tcpProxy.js"

type Store = KeyValueStore.Service
type Kind = "redis" | "postgres"

const decoder = new TextDecoder()
const read = (store: Store, key: string) =>
  Effect.map(store.get(key), Option.match({ onNone: () => undefined, onSome: (bytes) => decoder.decode(bytes) }))
const info = (store: Store) => Effect.map(Tiered.info(store), Option.getOrThrow)

/** Polls `check` every 10 ms until it holds, for at most `millis`; fails the test otherwise. */
const eventually = <E>(what: string, check: Effect.Effect<boolean, E>, millis = 5000) =>
  Effect.gen(function*() {
    const deadline = performance.now() + millis
    while (!(yield* check)) {
      if (performance.now() > deadline) return yield* Effect.dieMessage(`not within ${millis} ms: ${what}`)
      yield* Effect.sleep("10 millis")
    }
  })

const through = (kind: Kind, port: number): string => {
  const url = new URL(urls[kind])
  url.hostname = "127.0.0.1"
  url.port = String(port)
  return url.toString()
}

const busOf = (kind: Kind, url: string, channel: string): Tiered.Bus =>
  kind === "redis"
    ? Tiered.redisBus({ url, channel, heartbeat: 200, connectTimeout: 500, commandTimeout: 500 })
    : Tiered.postgresBus({ url, channel, heartbeat: 200, connectTimeout: 500, commandTimeout: 500 })

const setup = (kind: Kind) =>
  Effect.gen(function*() {
    const l2 = yield* MemoryStore.make()
    const proxy = yield* tcpProxy(addressOf(kind))
    const channel = uniqueName("tiered_bus")
    const a = yield* Tiered.make(l2, { l1: {}, invalidation: busOf(kind, urls[kind], channel) })
    const b = yield* Tiered.make(l2, { l1: {}, invalidation: busOf(kind, through(kind, proxy.port), channel) })
    return { l2, proxy, a, b }
  })

const busSuite = (kind: Kind) => {
  it.scopedLive("a write on one instance drops the key from the other's L1", () =>
    Effect.gen(function*() {
      const { a, b } = yield* setup(kind)
      yield* a.set("k", "1")
      assert.strictEqual(yield* read(b, "k"), "1")
      assert.strictEqual(yield* read(b, "k"), "1")
      assert.strictEqual((yield* info(b)).hits, 1, "the second read is an L1 hit")
      for (
        const [write, expected] of [[a.set("k", "2"), "2"], [a.increment("n", 1), "2"], [a.clear, undefined]] as const
      ) {
        yield* read(b, "k")
        yield* read(b, "n")
        yield* write
        yield* eventually(`the other instance sees ${expected}`, Effect.map(read(b, "k"), (v) => v === expected))
      }
      assert.isAtLeast((yield* info(b)).received, 3)
    }))

  it.scopedLive(
    "a stalled bus is noticed within two heartbeats: the L1 is emptied and unused until the bus is back",
    () =>
      Effect.gen(function*() {
        const { a, b, proxy } = yield* setup(kind)
        yield* a.set("k", "1")
        yield* read(b, "k")
        assert.strictEqual((yield* info(b)).entries, 1)
        proxy.stall()
        const stalledAt = performance.now()
        yield* eventually("b notices the stalled bus", Effect.map(info(b), (i) => !i.connected), 2000)
        const noticedAfter = performance.now() - stalledAt
        assert.strictEqual((yield* info(b)).entries, 0, "the L1 was emptied")
        yield* a.set("k", "2")
        const fills = (yield* info(b)).fills
        assert.strictEqual(yield* read(b, "k"), "2", "read from the L2")
        assert.strictEqual((yield* info(b)).fills, fills, "nothing fills the L1 while the bus is down")
        proxy.resume()
        yield* eventually("b is connected again", Effect.map(info(b), (i) => i.connected), 10_000)
        yield* read(b, "k")
        assert.strictEqual((yield* info(b)).entries, 1, "the L1 is used again")
        yield* a.set("k", "3")
        yield* eventually("invalidation works again", Effect.map(read(b, "k"), (v) => v === "3"))
        process.stderr.write(`Tiered ${kind} bus: a stall noticed after ${noticedAfter.toFixed(0)} ms\n`)
      })
  )

  it.scopedLive("messages an instance could not send while its bus was down are sent once it is back", () =>
    Effect.gen(function*() {
      const { a, b, proxy } = yield* setup(kind)
      yield* a.set("k", "1")
      proxy.stall()
      yield* eventually("b notices the stalled bus", Effect.map(info(b), (i) => !i.connected), 2000)
      assert.strictEqual(yield* read(a, "k"), "1")
      yield* b.set("k", "2")
      assert.strictEqual(yield* read(a, "k"), "1", "a cannot know yet: its L1 still holds the old value")
      proxy.resume()
      yield* eventually("a sees the write once b's bus is back", Effect.map(read(a, "k"), (v) => v === "2"), 10_000)
    }))
}

await describeServer("redis", "Tiered with the Redis bus", () => busSuite("redis"))
await describeServer("postgres", "Tiered with the PostgreSQL bus", () => busSuite("postgres"))
