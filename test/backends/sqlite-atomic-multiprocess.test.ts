/**
 * Atomic operations across processes on one SQLite file: the shared multi-process suite
 * (`multiprocess/atomic.ts`: increment, compare-and-swap, append, transactions and simultaneous opening, by four to
 * eight child processes on one fresh file).
 */
import { atomicAcrossProcesses } from "./multiprocess/atomic.js"

atomicAcrossProcesses("SqliteStore", "sqlite", { transactions: true })
