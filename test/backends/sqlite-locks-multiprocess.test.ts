/**
 * Locks across processes on one SQLite file: the shared multi-process suite (`multiprocess/locks.ts`: 4 processes ×
 * 50 critical sections under `withLock`, a SIGKILLed holder's lease taken over only once it expired, and a lease row
 * deleted through another connection reported as `LockLost`).
 */
import { locksAcrossProcesses } from "./multiprocess/locks.js"

locksAcrossProcesses("SqliteStore", "sqlite")
