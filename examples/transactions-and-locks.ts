/**
 * Transactions, locks and integrity on the embedded SQLite store: a transfer between two balances that rolls back
 * when it would overdraw, a nested region whose failure undoes only its own writes, a critical section under a
 * cross-process lock with its fencing token and a fenced write, a semaphore of two holders, and a `check` of the file.
 */
import { KeyValueStore, SqliteStore } from "effect-kv"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

class Overdrawn extends Data.TaggedError("Overdrawn")<{ readonly balance: bigint }> {}

const program = Effect.gen(function*() {
  const store = yield* KeyValueStore.KeyValueStore
  yield* store.setMany([["acct.alice", "100"], ["acct.bob", "0"]])

  // Both balances change, or neither does.
  const transfer = (from: string, to: string, amount: number) =>
    store.withTransaction(Effect.gen(function*() {
      const balance = yield* store.decrement(from, amount)
      if (balance < 0n) return yield* new Overdrawn({ balance })
      yield* store.increment(to, amount)
    }))

  yield* transfer("acct.alice", "acct.bob", 30)
  const refused = yield* Effect.flip(transfer("acct.alice", "acct.bob", 500))
  const balances = yield* store.getMany(["acct.alice", "acct.bob"])
  yield* Console.log(
    `after transfers: ${balances.map((b) => new TextDecoder().decode(Option.getOrThrow(b))).join(" / ")}`
  )
  yield* Console.log(`refused: ${refused._tag}`)

  // A nested region is a savepoint: its failure rolls back only what it wrote.
  yield* store.withTransaction(Effect.gen(function*() {
    yield* store.set("audit.1", "kept")
    yield* Effect.ignore(store.withTransaction(Effect.zipRight(store.set("audit.2", "undone"), Effect.fail("no"))))
  }))
  yield* Console.log(`audit keys: ${(yield* store.countPattern("audit.*"))} (audit.2 rolled back)`)

  // A critical section under a lock that other processes respect too: a lease renewed while held, with a fencing
  // token that grows with every holder. A holder stalled past its lease may still be running when the next one gets
  // the lock: a write fenced by the lock happens only while its lease is still held (`LockLost` otherwise).
  const token = yield* Effect.scoped(Effect.gen(function*() {
    const lock = yield* store.lock("report", { ttl: "10 seconds", timeout: "5 seconds" })
    yield* store.set("report.last-token", String(lock.fencingToken), { fence: lock })
    return lock.fencingToken
  }))
  const runs = yield* store.withLock("report")(store.increment("report.runs"))
  yield* Console.log(`report lock: fencing token ${token}, report runs ${runs}`)

  // A semaphore: at most two holders of "workers" at a time.
  yield* Effect.scoped(Effect.gen(function*() {
    const a = yield* store.lock("workers", { holders: 2 })
    const b = yield* store.lock("workers", { holders: 2 })
    const third = yield* Effect.flip(store.lock("workers", { holders: 2, timeout: "100 millis" }))
    yield* Console.log(`semaphore: tokens ${a.fencingToken} and ${b.fencingToken}; a third waits: ${third._tag}`)
  }))

  const report = yield* store.check()
  yield* Console.log(
    `check: ok=${report.ok} engine=${report.engine.join(",")} expired pending=${report.expiredPending}`
  )
})

program.pipe(
  Effect.provide(SqliteStore.layer({ filename: ".effect-kv/transactions.db" })),
  Effect.runPromise
).catch((error) => {
  console.error(error)
  process.exit(1)
})
