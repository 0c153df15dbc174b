/**
 * Atomic operations, transactions and locks across processes on one PostgreSQL table: the shared multi-process suites
 * (`multiprocess/atomic.ts`, `multiprocess/locks.ts`) with four to eight child processes on a fresh table of the
 * loopback server (`EFFECT_KV_PG_URL`).
 */
import { describeServer } from "./fixtures/servers.js"
import { atomicAcrossProcesses } from "./multiprocess/atomic.js"
import { locksAcrossProcesses } from "./multiprocess/locks.js"

await describeServer("postgres", "PostgreSQL across processes", () => {
  atomicAcrossProcesses("PostgresStore", "postgres", { transactions: true })
  locksAcrossProcesses("PostgresStore", "postgres")
})
