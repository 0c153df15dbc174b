/**
 * The redis section: RedisStore against two floors and three peers, on the Redis server at `EFFECT_KV_REDIS_URL`
 * (default `redis://127.0.0.1:6379`), at 10K prefilled entries of 256 bytes: random `get` hits, `set` of fresh keys,
 * `getMany` of 1000 random hits and `setMany` of 1000 fresh keys. The floors: the plainest way on the engine (raw
 * ioredis `GET`, `SET`, one `MGET`, a pipeline of `SET`s) and raw ioredis on RedisStore's own data model (its hash per
 * entry, index and scripts, by `EVALSHA`), so the data model's cost and the wrapper's show apart. The peers: Keyv +
 * `@keyv/redis`, bentocache (Redis driver as L2) and unstorage (Redis driver), driven as their users drive them. All
 * run in the same interleaved trials; ratios are medians of the per-trial paired ratios. Goals: RedisStore `get` at
 * least 0.8x of `GET`, `set`, `getMany` and `setMany` at least 0.77x of their floors, and at least as fast as each
 * peer (lines under the table). Each target keeps its keys under its own prefix of this run
 * (`ekvbench_<pid>_<hex>:<target>:`); a connection opened first deletes every key of the run's prefix with `SCAN` +
 * `UNLINK` when the section ends (never a flush: other runs share the server). Writes `redis.csv`, `redis.json` and
 * the bar chart `redis.svg`.
 */
import * as Chart from "../chart.js"
import * as Ioredis from "../targets/ioredis.js"
import * as KeyvRedis from "../targets/keyvRedis.js"
import * as RedisPeers from "../targets/redisPeers.js"
import * as RedisStore from "../targets/redisStore.js"
import type { Section } from "./section.js"
import * as Server from "./server.js"

/** The redis section. */
export const section: Section = Server.section({
  name: "redis",
  server: "redis",
  base: "ekvbench",
  setup: (base) => Ioredis.janitor(`${base}:`),
  targets: [
    { name: "ioredis", open: (base, fx) => Ioredis.subject(`${base}:raw:`, fx) },
    { name: "ioredis (our schema)", open: (base, fx) => Ioredis.schemaSubject(`${base}:schema:`, fx) },
    { name: "RedisStore", open: (base, fx) => RedisStore.subject(`${base}:store:`, fx) },
    { name: "keyv", open: (base, fx) => KeyvRedis.subject(`${base}:keyv`, fx) },
    { name: "bentocache", open: (base, fx) => RedisPeers.bentocache(`${base}:bento`, fx) },
    { name: "unstorage", open: (base, fx) => RedisPeers.unstorage(`${base}:unstorage`, fx) }
  ],
  workloads: ["get", "set", "getMany", "setMany"],
  chart: {
    title: "RedisStore vs raw ioredis vs Keyv, bentocache, unstorage",
    subtitle:
      "Entries per second, fastest trial, 256-byte values, Redis on loopback; getMany/setMany in batches of 1000",
    series: [
      { target: "ioredis", label: "ioredis GET/SET/MGET (plain floor)", color: Chart.FLOOR },
      { target: "ioredis (our schema)", label: "ioredis on our data model", color: "#94a3b8" },
      { target: "RedisStore", label: "RedisStore", color: Chart.OURS },
      { target: "keyv", label: "Keyv + @keyv/redis", color: "#d97706" },
      { target: "bentocache", label: "bentocache (Redis L2)", color: "#059669" },
      { target: "unstorage", label: "unstorage (Redis driver)", color: "#db2777" }
    ]
  },
  legend: [
    "Every operation is a round trip to the server on loopback, awaited before the next (RedisStore: yielded in the",
    "bench's Effect program). bentocache has no batch calls: its getMany/setMany are Promise.all of single calls.",
    "cpu figures count this process only, not the server's work: they measure the client's cost, and verdicts go by",
    "the wall clock alone."
  ].join("\n")
})
