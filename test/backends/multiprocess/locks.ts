/**
 * Locks across processes, on any backend that several processes share (`locksAcrossProcesses(name, kind, leases)`,
 * with `fixtures/lock-worker.ts`). Four child processes, released together, each run 50 critical sections under
 * `withLock("counter")` that read a value, sleep, and write it back plus one: the value ends at 200 and no two
 * sections' time intervals overlap, across all processes. A child holding a lock with a 1 second ttl is SIGKILLed:
 * this process takes the lock over, and only once the lease the child last renewed has expired (read from the engine
 * behind the store's back), with a greater fencing token. A lease deleted behind the holder's back is reported as
 * `LockLost` by `lost`, `verify` and `withLock`. A holder SIGSTOPped past its lease, while another process takes the
 * lock and writes, makes no write with its fence once it is SIGCONTed: `LockLost`, and the other holder's value
 * stays (a few rounds, each with a new paused process).
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore } from "effect-kv"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Backend, fresh, type Kind, leasePeek, storeLayer, withStore } from "../fixtures/backends.js"
import * as Figures from "../fixtures/figures.js"
import type { FenceReport, Held, Report, Spec } from "../fixtures/lock-worker.js"
import { tempDir } from "../fixtures/temp.js"
import * as Workers from "../fixtures/workers.js"

const script = "test/backends/fixtures/lock-worker.ts"

/** Polls `f` every 10 ms until it yields a value. */
const until = <A, E>(f: Effect.Effect<A | undefined, E>) =>
  Effect.gen(function*() {
    for (;;) {
      const a = yield* f
      if (a !== undefined) return a
      yield* Effect.sleep("10 millis")
    }
  })

const expectLockLost = <A>(self: Effect.Effect<A, unknown>, what: string) =>
  Effect.gen(function*() {
    const result = yield* Effect.either(self)
    assert.isTrue(Either.isLeft(result), `${what} succeeded`)
    const error = (result as Either.Left<unknown, A>).left as { readonly _tag?: string }
    assert.strictEqual(error._tag, "LockLost", `${what} failed with ${String(error._tag)}`)
  })

/** The `Held` record a worker wrote to `file`, once it is there. */
const heldIn = (file: string) =>
  until(Effect.sync(() => fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) as Held : undefined))

/** Rounds of the SIGSTOP scenario per backend (each with a fresh paused process). */
const PAUSE_ROUNDS = 3

/** A store of `backend` for the rest of the scope. */
const openStore = (backend: Backend) =>
  Effect.map(Layer.build(storeLayer(backend)), Context.get(KeyValueStore.KeyValueStore))

/** Registers the multi-process lock tests on fresh stores of `kind`. */
export const locksAcrossProcesses = (name: string, kind: Kind) => {
  const peek = leasePeek[kind]
  describe(`${name} locks across processes`, () => {
    it.scopedLive(
      "4 processes × 50 sections under withLock: no lost update, no two sections at once",
      () =>
        Effect.gen(function*() {
          const store = yield* fresh(kind)
          const ids = ["w0", "w1", "w2", "w3"]
          const reports = yield* Workers.run<Report>(
            script,
            ids.map((id) => [JSON.stringify({ mode: "count", store, id, sections: 50 } satisfies Spec)]),
            { timeout: "30 seconds" }
          )
          const sections = reports.flatMap((report) => {
            if (!report.ok) return assert.fail(`worker ${report.id} failed with ${report.tag}: ${report.cause}`)
            assert.strictEqual(report.intervals.length, 50, `worker ${report.id}'s sections`)
            return report.intervals.map(([requested, start, end]) => ({ id: report.id, requested, start, end }))
          }).sort((a, b) => a.start - b.start)
          // Read first, so that an overlap reports whether an update was lost with it.
          const value = Option.getOrUndefined(yield* withStore(store, (s) => s.getString("value")))
          sections.forEach((section, i) => {
            const before = sections[i - 1]
            // 0.1 ms of slack for the processes' clocks; a section lasts over a millisecond (it sleeps one).
            if (before !== undefined && section.start < before.end - 0.1) {
              assert.fail(
                `${before.id}'s section [${before.start}, ${before.end}] overlaps ${section.id}'s, which started at ` +
                  `${section.start} (the counter ended at ${value})`
              )
            }
          })
          // The lock had something to exclude: some section asked for it while another worker's section held it, and
          // waited. (Not that the workers' spans overlap: a lock need not be fair, and a holder that takes it again
          // at once may run all its sections while the others wait.)
          const waited = sections.filter((section) =>
            sections.some((other) =>
              other.id !== section.id && other.start < section.start && other.end > section.requested
            )
          ).length
          assert.isAbove(waited, 0, "no section waited for another worker's: nothing contended for the lock")
          assert.strictEqual(value, "200")
        }),
      Workers.testTimeout
    )

    it.scopedLive("a SIGKILLed holder's lease is taken over once it expires, not before", () =>
      Effect.gen(function*() {
        const backend = yield* fresh(kind)
        const pidFile = path.join(yield* tempDir, "held.json")
        const store = yield* openStore(backend)
        const spec: Spec = { mode: "hold", store: backend, id: "holder", pidFile, ttlMillis: 1000 }
        const child = yield* Effect.fork(Effect.either(
          Workers.run<Report>(script, [[JSON.stringify(spec)]], { timeout: "20 seconds" })
        ))
        const held = yield* heldIn(pidFile).pipe(Effect.timeout("15 seconds"))
        // Long enough for a renewal or two (every third of the ttl).
        yield* Effect.sleep("500 millis")
        process.kill(held.pid, "SIGKILL")
        const killedAt = yield* Clock.currentTimeMillis
        const crashed = yield* Fiber.join(child)
        assert.isTrue(Either.isLeft(crashed) && crashed.left._tag === "WorkerCrashed", "the holder was not killed")

        const expiresAt = yield* peek.expiry(backend, "held")
        assert.isNumber(expiresAt, "the dead holder's lease")
        assert.isAbove(expiresAt as number, held.acquiredAt + 1000, "the holder never renewed its lease")
        assert.isAbove(expiresAt as number, killedAt, "the lease had expired before the kill")

        const lock = yield* store.lock("held", { ttl: "1 second", timeout: "5 seconds" })
        const acquiredAt = yield* Clock.currentTimeMillis
        assert.isAtLeast(acquiredAt, expiresAt as number, "took the lock over before the dead holder's lease expired")
        assert.isBelow(acquiredAt - (expiresAt as number), 1000, "took the lock over long after the lease expired")
        assert.isTrue(lock.fencingToken > BigInt(held.token), `token ${lock.fencingToken} after ${held.token}`)
      }), 30_000)

    it.scopedLive(
      `a holder SIGSTOPped past its lease makes no fenced write once another process took the lock (${PAUSE_ROUNDS} rounds)`,
      () =>
        Effect.gen(function*() {
          const backend = yield* fresh(kind)
          const dir = yield* tempDir
          const store = yield* openStore(backend)
          for (let round = 0; round < PAUSE_ROUNDS; round++) {
            const pidFile = path.join(dir, `paused-${round}.json`)
            const resumeFile = path.join(dir, `resume-${round}`)
            const spec: Spec = {
              mode: "fence",
              store: backend,
              id: `paused-${round}`,
              pidFile,
              resumeFile,
              ttlMillis: 1000
            }
            const child = yield* Effect.fork(
              Workers.run<FenceReport>(script, [[JSON.stringify(spec)]], { timeout: "30 seconds" })
            )
            // The worker holds the lock, has written under it, and now spins without a turn of its event loop.
            const held = yield* heldIn(pidFile).pipe(Effect.timeout("15 seconds"))
            process.kill(held.pid, "SIGSTOP")
            assert.strictEqual(Option.getOrUndefined(yield* store.getString("resource")), "A: while held")
            yield* Effect.scoped(Effect.gen(function*() {
              // Taken once the paused holder's lease has expired.
              const lock = yield* store.lock("fenced", { ttl: "30 seconds", timeout: "10 seconds" })
              assert.isTrue(lock.fencingToken > BigInt(held.token), `token ${lock.fencingToken} after ${held.token}`)
              yield* store.set("resource", "B", { fence: lock })
              fs.writeFileSync(resumeFile, "")
              process.kill(held.pid, "SIGCONT")
              const [report] = yield* Fiber.join(child)
              if (!report!.ok) return assert.fail(`the paused worker failed with ${report!.tag}: ${report!.cause}`)
              const value = Option.getOrUndefined(yield* store.getString("resource"))
              assert.strictEqual(report!.afterPause, "LockLost", `round ${round}: the paused holder's write`)
              assert.strictEqual(value, "B", `round ${round}: the value after the paused holder resumed`)
              yield* store.set("resource", "B, still holding", { fence: lock })
            }))
          }
          Figures.record({
            name: "SIGSTOP past the lease: no stale fenced write",
            backend: name,
            count: PAUSE_ROUNDS,
            detail: `${PAUSE_ROUNDS} paused holders, two processes each, 0 stale writes`
          })
        }),
      60_000
    )

    it.scopedLive(
      "a lease deleted behind the holder's back is LockLost for lost, verify and withLock",
      () =>
        Effect.gen(function*() {
          const backend = yield* fresh(kind)
          const store = yield* openStore(backend)
          const lock = yield* store.lock("a", { ttl: "300 millis" })
          yield* lock.verify
          assert.strictEqual(yield* peek.steal(backend, "a"), 1)
          yield* expectLockLost(lock.lost.pipe(Effect.timeout("2 seconds")), "lost")
          yield* expectLockLost(lock.verify, "verify")

          const work = yield* Effect.fork(store.withLock("b", { ttl: "300 millis" })(Effect.never))
          yield* until(Effect.map(peek.steal(backend, "b"), (n) => n === 1 ? true : undefined)).pipe(
            Effect.timeout("2 seconds")
          )
          yield* expectLockLost(Fiber.join(work).pipe(Effect.timeout("2 seconds")), "withLock")
        }),
      15_000
    )
  })
}
