/**
 * A writer process of the bench's fanout section. Arguments: `sqlite <file> 1` or `fanout <directory> <shards>`, then
 * the `synchronous` mode (`normal` or `full`), the worker id and the run time in ms. It opens its store (so that schema
 * setup is over before the clock starts), prints `ready`, waits for `go` on stdin, then `set`s distinct fresh keys
 * (`w<id>.<n>`, 256-byte values) as fast as it can for the run time, and prints one JSON report line: the writes it
 * made, the seconds it ran and the CPU seconds it used, or the error that stopped it.
 */
import type { KeyValueStore } from "effect-kv"
import { FanoutStore, SqliteStore } from "effect-kv"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as readline from "node:readline"

const [kind, location, shards, synchronous, id, millis] = process.argv.slice(2)
if (
  (kind !== "sqlite" && kind !== "fanout") || location === undefined || shards === undefined ||
  (synchronous !== "normal" && synchronous !== "full") || id === undefined || millis === undefined
) {
  console.error("usage: fanoutWriter (sqlite | fanout) <file or directory> <shards> (normal | full) <id> <millis>")
  process.exit(2)
}

// A long busy timeout: under contention a write waits for the lock rather than failing.
const open: Effect.Effect<KeyValueStore.Service, unknown, Scope.Scope> = kind === "sqlite"
  ? SqliteStore.make({ filename: location, synchronous, busyTimeout: "60 seconds" })
  : FanoutStore.make({ directory: location, shards: Number(shards), synchronous, busyTimeout: "60 seconds" })

const value = Buffer.alloc(256, 0x5a)

const run = (store: KeyValueStore.Service) =>
  Effect.gen(function*() {
    const duration = Number(millis)
    const started = performance.now()
    const cpu = process.cpuUsage()
    let writes = 0
    let elapsed = 0
    while (elapsed < duration) {
      for (let i = 0; i < 64; i++) yield* store.set(`w${id}.${writes++}`, value)
      elapsed = performance.now() - started
    }
    const used = process.cpuUsage(cpu)
    return { writes, seconds: elapsed / 1000, cpuSeconds: (used.user + used.system) / 1e6 }
  })

const report = (line: object) => process.stdout.write(JSON.stringify({ id, ...line }) + "\n")

const fail = (cause: Cause.Cause<unknown>) => {
  const failure = Cause.failureOption(cause)
  const tag = Option.isSome(failure) ? (failure.value as { readonly _tag?: string })._tag ?? "Error" : "Defect"
  report({ ok: false, tag, cause: Cause.pretty(cause) })
  process.exit(1)
}

Effect.runPromiseExit(
  Effect.gen(function*() {
    const store = yield* open
    yield* Effect.async<void>((resume) => {
      const lines = readline.createInterface({ input: process.stdin })
      lines.on("line", (line) => {
        if (line !== "go") return
        lines.close()
        resume(Effect.void)
      })
      process.stdout.write("ready\n")
    })
    return yield* run(store)
  }).pipe(Effect.scoped)
).then((exit) => {
  if (Exit.isFailure(exit)) return fail(exit.cause)
  report({ ok: true, ...exit.value })
  process.exit(0)
})
