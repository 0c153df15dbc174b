/**
 * The redis section: RedisStore against raw ioredis (`GET`, `SET`, and a pipeline of 1000 `SET`s for `setMany`) and
 * against Keyv + `@keyv/redis`, on the Redis server at `EFFECT_KV_REDIS_URL` (default `redis://127.0.0.1:6379`), at
 * 10K prefilled entries of 256 bytes: random `get` hits, `set` of fresh keys, `setMany` of 1000. Goals: RedisStore
 * within 1.3x of raw ioredis on each workload, and at least as fast as Keyv (a line under the table). Each target
 * keeps its keys under its own prefix of this run (`ekvbench_<pid>_<hex>:<target>:`); a connection opened first
 * deletes every key of the run's prefix with `SCAN` + `UNLINK` when the section ends (never a flush: other runs share
 * the server). Writes `redis.csv`, `redis.json` and the bar chart `redis.svg`.
 */
import * as Chart from "../chart.js"
import * as Ioredis from "../targets/ioredis.js"
import * as KeyvRedis from "../targets/keyvRedis.js"
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
    { name: "RedisStore", open: (base, fx) => RedisStore.subject(`${base}:store:`, fx) },
    { name: "keyv", open: (base, fx) => KeyvRedis.subject(`${base}:keyv`, fx) }
  ],
  chart: {
    title: "RedisStore vs raw ioredis vs Keyv",
    subtitle: "Entries per second, fastest trial, 256-byte values, Redis on loopback; setMany writes batches of 1000",
    series: [
      { target: "ioredis", label: "ioredis (raw floor)", color: Chart.FLOOR },
      { target: "RedisStore", label: "RedisStore", color: Chart.OURS },
      { target: "keyv", label: "Keyv + @keyv/redis", color: "#d97706" }
    ]
  },
  legend: [
    "Every operation is a round trip to the server on loopback, awaited before the next (RedisStore: yielded in the",
    "bench's Effect program). cpu figures count this process only, not the server's work: they measure the client's",
    "cost, and verdicts go by the wall clock alone."
  ].join("\n")
})
