/**
 * The crash harness: a writer process (`fixtures/crash-writer.ts`) doing acknowledged `set`, `setMany` and
 * transactions as fast as it can on one SQLite file is killed with SIGKILL at a random moment, 24 times over on the
 * same file. After each kill the store is reopened and: every acknowledged write is there with its exact value; every
 * batch and transaction, acknowledged or not, is there entirely or not at all (the transactions' counter equals the
 * number of transactions present); `check` finds the engine sound, no dangling row and no counter drift (orphaned
 * large-value files are allowed: a kill between writing a file and committing its row leaves one, and `fix` deletes
 * them); and the store accepts writes again.
 */
import { assert, describe, it } from "@effect/vitest"
import { SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as child_process from "node:child_process"
import * as crypto from "node:crypto"
import * as path from "node:path"
import * as readline from "node:readline"
import { expected } from "./fixtures/crash-writer.js"
import * as Figures from "./fixtures/figures.js"
import { tempDir } from "./fixtures/temp.js"
import * as Workers from "./fixtures/workers.js"

const RUNS = 24

interface Run {
  readonly acknowledged: number
  readonly orphans: number
  readonly millis: number
}

/** Starts the writer, kills it `millis` after it opened the store; the highest acknowledged write (-1: none). */
const writeUntilKilled = (script: string, filename: string, tag: string, millis: number) =>
  Effect.async<number, Error>((resume) => {
    const child = child_process.spawn(process.execPath, ["--enable-source-maps", script, filename, tag], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let last = -1
    let timer: ReturnType<typeof setTimeout> | undefined
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      if (line === "ready") timer = setTimeout(() => child.kill("SIGKILL"), millis)
      else if (line.startsWith("ack ")) last = Number(line.slice(4))
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      if (signal === "SIGKILL") resume(Effect.succeed(last))
      else resume(Effect.fail(new Error(`the writer exited with ${signal ?? code} before the kill`)))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const text = (value: Option.Option<Uint8Array>) => Option.map(value, (bytes) => Buffer.from(bytes).toString())

describe("SqliteStore crash harness", () => {
  it.scopedLive(
    `${RUNS} writers killed with SIGKILL at random moments lose no acknowledged write`,
    () =>
      Effect.gen(function*() {
        const script = yield* Workers.bundle("test/backends/fixtures/crash-writer.ts")
        const filename = path.join(yield* tempDir, "crash.db")
        const runs: Array<Run> = []
        for (let run = 0; run < RUNS; run++) {
          const tag = `r${run}`
          const millis = crypto.randomInt(30, 400)
          const last = yield* writeUntilKilled(script, filename, tag, millis)
          yield* Effect.scoped(Effect.gen(function*() {
            const store = yield* SqliteStore.make({ filename })
            // Every acknowledged write, with its value.
            for (let i = 0; i <= last; i++) {
              for (const [key, value] of expected(tag, i)) {
                assert.deepStrictEqual(
                  text(yield* store.get(key)),
                  Option.some(Buffer.from(value).toString()),
                  `run ${run}: write ${i} (${key}) was acknowledged`
                )
              }
            }
            // The write in flight at the kill (and only it) may be there or not, but never in part.
            const inFlight = expected(tag, last + 1)
            const present = yield* Effect.forEach(inFlight, ([key]) => store.has(key))
            assert.isTrue(present.every((p) => p === present[0]), `run ${run}: write ${last + 1} is there in part`)
            const transactions = [...Array(last + 2).keys()].filter((i) => i % 4 === 3 && (i <= last || present[0]))
            const written = [...Array(last + 1).keys()].reduce((n, i) => n + expected(tag, i).length, 0) +
              (present[0] ? inFlight.length : 0) + (transactions.length > 0 ? 1 : 0)
            assert.strictEqual(yield* store.countPattern(`${tag}.**`), written, `run ${run}: keys beyond the writes`)
            assert.deepStrictEqual(
              text(yield* store.get(`${tag}.count`)),
              transactions.length === 0 ? Option.none() : Option.some(String(transactions.length)),
              `run ${run}: the transactions' counter`
            )
            // Sound, with at most orphaned files; fixed, it is clean.
            const report = yield* store.check({ minOrphanAge: 0 })
            assert.deepStrictEqual(report.engine, ["ok"], `run ${run}: engine`)
            assert.deepStrictEqual(report.danglingRows, [], `run ${run}: dangling rows`)
            assert.isUndefined(report.counterDrift, `run ${run}: counter drift`)
            if (report.orphanedFiles.length > 0) {
              yield* store.check({ fix: true, minOrphanAge: 0 })
              assert.isTrue((yield* store.check({ minOrphanAge: 0 })).ok, `run ${run}: clean after fix`)
            }
            // It accepts writes.
            yield* store.set(`${tag}.after`, "1")
            assert.deepStrictEqual(text(yield* store.get(`${tag}.after`)), Option.some("1"))
            runs.push({ acknowledged: last + 1, orphans: report.orphanedFiles.length, millis })
          }))
        }
        console.log(
          `crash harness: ${runs.length} runs, ${runs.reduce((n, r) => n + r.acknowledged, 0)} acknowledged writes ` +
            `(${runs.map((r) => r.acknowledged).join(", ")}), ` +
            `${runs.reduce((n, r) => n + r.orphans, 0)} orphaned files found and fixed`
        )
        assert.strictEqual(runs.length, RUNS)
        const acknowledged = runs.reduce((n, r) => n + r.acknowledged, 0)
        Figures.record({
          name: "SIGKILL crash runs: every acknowledged write survives",
          backend: "SqliteStore",
          count: runs.length,
          detail: `${acknowledged.toLocaleString("en-US")} acknowledged writes checked after the kills`
        })
        assert.isAbove(runs.filter((r) => r.acknowledged > 0).length, RUNS / 2, "most writers wrote something")
      }),
    120_000
  )
})
