/**
 * RedisStore on a real Redis Cluster of three masters started for this file (never the shared server): the contract
 * suite, the lock contract and the namespace contract on an ioredis `Cluster` client with a hash-tagged prefix per
 * test, and a check that different stores' prefixes land on different nodes, that `clear` scans the node holding the
 * store's slot, and that a prefix without a hash tag is refused.
 */
import { afterAll, assert, it } from "@effect/vitest"
import { KeyValueStore, RedisStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { Cluster } from "ioredis"
import { locksSuite } from "../contract/locks.js"
import { namespaceSuite } from "../contract/namespace.js"
import { suite } from "../contract/suite.js"
import type { PrivateCluster } from "./fixtures/redisServer.js"
import { describeRedisBinary, hasBinary, startCluster } from "./fixtures/redisServer.js"
import { uniqueName } from "./fixtures/servers.js"

const cluster: PrivateCluster | undefined = hasBinary() ? await startCluster() : undefined
afterAll(() => cluster?.stop())

/** A Cluster client for the lifetime of the scope, once it is ready. */
const clusterClient = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<Cluster>((resolve, reject) => {
      const client = new Cluster([...cluster!.nodes], { redisOptions: { commandTimeout: 5000 } })
      client.on("error", () => {})
      client.once("ready", () => resolve(client))
      client.once("end", () => reject(new Error("the cluster client ended before it was ready")))
    })
  ),
  (client) => Effect.promise(() => client.quit().then(() => undefined, () => client.disconnect()))
)

/** Deletes every key of `prefix` on every master of the cluster. */
const removeAll = (client: Cluster, prefix: string) =>
  Effect.promise(async () => {
    for (const node of client.nodes("master")) {
      let cursor = "0"
      do {
        const [next, keys] = await node.scan(
          cursor,
          "MATCH",
          `${prefix.replace(/[*?[\]\\{}]/g, "\\$&")}*`,
          "COUNT",
          1000
        )
        if (keys.length > 0) await node.unlink(...keys)
        cursor = next
      } while (cursor !== "0")
    }
  })

/** A store on the cluster under a new hash-tagged prefix per build; its keys go with the layer. */
const freshClusterLayer = Layer.unwrapScoped(Effect.gen(function*() {
  const client = yield* clusterClient
  const prefix = `{${uniqueName("kv")}}:`
  yield* Effect.addFinalizer(() => removeAll(client, prefix))
  return RedisStore.layerClient(client, { prefix })
}))

describeRedisBinary("RedisStore on a Redis Cluster", () => {
  suite("RedisStore (cluster)", freshClusterLayer, RedisStore.capabilities)
  locksSuite("RedisStore (cluster)", freshClusterLayer, RedisStore.capabilities)
  namespaceSuite("RedisStore (cluster)", freshClusterLayer, RedisStore.capabilities)

  it.scoped("stores under different hash tags live on different nodes, and each clear finds its own keys", () =>
    Effect.gen(function*() {
      const client = yield* clusterClient
      // Hash tags whose slots belong to different masters.
      const tags = Array.from({ length: 60 }, (_, i) => `t${i}`)
      const byNode = new Map<string, string>()
      for (const tag of tags) {
        const slot = yield* Effect.promise(() => client.cluster("KEYSLOT", tag) as Promise<number>)
        const node = client.slots[slot]?.[0]
        if (node !== undefined && !byNode.has(node)) byNode.set(node, tag)
      }
      assert.strictEqual(byNode.size, 3, "the three masters each own slots")
      const stores = yield* Effect.forEach([...byNode.values()], (tag) => {
        const prefix = `{${uniqueName(tag)}}:`
        return Effect.zipRight(
          Effect.addFinalizer(() => removeAll(client, prefix)),
          RedisStore.fromClient(client, { prefix })
        )
      })
      for (const [i, store] of stores.entries()) {
        yield* store.setMany(Array.from({ length: 50 }, (_, j) => [`k${j}`, `${i}`] as const))
        yield* store.set("tagged", "x", { tags: ["t"], ttl: "1 hour" })
      }
      yield* stores[0]!.clear
      assert.strictEqual(yield* stores[0]!.size, 0)
      for (const store of stores.slice(1)) {
        assert.strictEqual(yield* store.size, 51)
        assert.strictEqual(yield* store.removeTag("t"), 1)
        const keys = Chunk.toReadonlyArray(yield* Stream.runCollect(store.keys()))
        assert.strictEqual(keys.length, 50)
      }
      const refused = yield* Effect.flip(RedisStore.fromClient(client, { prefix: "no-tag:" }))
      assert.strictEqual(refused._tag, "InvalidArgument")
      assert.isTrue(KeyValueStore.isKeyValueStore(stores[0]))
    }))
})
