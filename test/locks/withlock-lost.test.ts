/**
 * `withLock` fails with LockLost when the lease was lost (expired and taken by another holder) while its effect ran,
 * even if the heartbeat had not noticed yet: the lease is checked again when the effect succeeds.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore, SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as child_process from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import type { Spec } from "../backends/fixtures/lock-worker.js"
import { tempDir } from "../backends/fixtures/temp.js"
import * as Workers from "../backends/fixtures/workers.js"
import { tagOf } from "./helpers.js"

type LeaseTable = NonNullable<KeyValueStore.Primitives["leases"]>

/** Starts the lock worker in `hold` mode and releases it; resolves once `go` is written. */
const startHolder = (spec: Spec) =>
  Effect.gen(function*() {
    const bundled = yield* Workers.bundle("test/backends/fixtures/lock-worker.ts")
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        child_process.spawn(process.execPath, [bundled, JSON.stringify(spec)], { stdio: ["pipe", "pipe", "inherit"] })
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    yield* Effect.async<void>((resume) => {
      readline.createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line === "ready") child.stdin!.write("go\n", () => resume(Effect.void))
      })
    })
    return child
  })

const busyWaitFor = (file: string, millis: number): boolean => {
  const end = Date.now() + millis
  while (Date.now() < end) if (fs.existsSync(file)) return true
  return false
}

describe("locks: withLock and a lease lost while its effect runs", () => {
  it.scopedLive(
    "another process takes the expired lease while the effect runs: withLock fails with LockLost",
    () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const filename = path.join(dir, "kv.db")
        const pidFile = path.join(dir, "held.json")
        const store = yield* SqliteStore.make({ filename })
        let takenOver = false
        const exit = yield* Effect.exit(
          store.withLock("held", { ttl: "300 millis" })(Effect.gen(function*() {
            // The other process starts waiting for the lock.
            yield* startHolder({
              mode: "hold",
              store: { backend: "sqlite", filename },
              id: "other",
              pidFile,
              ttlMillis: 10_000
            })
            yield* Effect.sleep("500 millis")
            // A long synchronous step (CPU-bound work, a GC pause, a blocking call): no heartbeat can run meanwhile.
            takenOver = busyWaitFor(pidFile, 15_000)
            return "done"
          }))
        )
        assert.isTrue(takenOver, "the other process never got the lock (setup)")
        // The other process held the lock while the effect was still running: the section was not exclusive.
        assert.strictEqual(
          tagOf(exit),
          "LockLost",
          `withLock ended with ${tagOf(exit)} although another process took the lease`
        )
      }),
    30_000
  )

  it.scoped("a lease taken away while the effect runs is reported when the effect ends before the next beat", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const table = store.primitives.leases!
      let owner: string | undefined
      const spy: LeaseTable = {
        ...table,
        acquire: (name, o, ...rest) => Effect.tap(table.acquire(name, o, ...rest), () => Effect.sync(() => owner = o))
      }
      const spied = KeyValueStore.make({ ...store.primitives, leases: spy })
      const exit = yield* Effect.exit(
        spied.withLock("a", { ttl: "3 seconds" })(
          Effect.gen(function*() {
            // The lease is gone (expired and taken over elsewhere, here removed behind the holder's back) ...
            yield* table.release("a", owner!)
            assert.isDefined(yield* table.acquire("a", "someone-else", 1, 0, 10_000), "someone else took the lock")
            return "done" // ... and the effect finishes before the heartbeat's next beat
          })
        )
      )
      assert.isFalse(Exit.isSuccess(exit), "withLock succeeded although the lock was held by someone else meanwhile")
    }))
})
