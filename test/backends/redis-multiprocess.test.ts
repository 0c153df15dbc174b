/**
 * Atomic operations and locks across processes on one Redis prefix: the shared multi-process suites
 * (`multiprocess/atomic.ts`, `multiprocess/locks.ts`) with four to eight child processes on a fresh prefix of the
 * loopback server (`EFFECT_KV_REDIS_URL`). Redis has no transaction regions, so the transfer case is not registered.
 */
import { describeServer } from "./fixtures/servers.js"
import { atomicAcrossProcesses } from "./multiprocess/atomic.js"
import { locksAcrossProcesses } from "./multiprocess/locks.js"

await describeServer("redis", "Redis across processes", () => {
  atomicAcrossProcesses("RedisStore", "redis", { transactions: false })
  locksAcrossProcesses("RedisStore", "redis")
})
