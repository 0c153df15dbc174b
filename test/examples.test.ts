/**
 * Runs every program in `examples/` as a real child process (as a user would with tsx) and checks it exits 0, so the
 * examples shown in the README cannot rot. `choosing-a-backend.ts` also runs once per server backend (`KV_BACKEND`
 * set to postgres, mysql and redis), against the loopback servers; `tiered-cache.ts` needs Redis and runs only where
 * it answers (or fails under `EFFECT_KV_REQUIRE_SERVERS=1`).
 */
import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { describeServer, type Server } from "./backends/fixtures/servers.js"

const root = path.resolve(import.meta.dirname, "..")
const tsx = createRequire(import.meta.url).resolve("tsx")
const examples = fs.readdirSync(path.join(root, "examples")).filter((file) => file.endsWith(".ts")).sort()
/** Examples that need the Redis server: run in the Redis block below. */
const needsRedis = ["tiered-cache.ts"]

/** Runs one example in a fresh directory with `env` added; returns its stdout. */
const runExample = (file: string, env: Record<string, string> = {}): string => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-example-"))
  try {
    const result = spawnSync(
      process.execPath,
      ["--conditions=effect-kv-source", "--import", pathToFileURL(tsx).href, path.join(root, "examples", file)],
      { cwd, encoding: "utf8", timeout: 60_000, env: { ...process.env, NODE_OPTIONS: "", ...env } }
    )
    assert.strictEqual(result.status, 0, `${file} failed:\n${result.stdout}\n${result.stderr}`)
    assert.isAbove(result.stdout.trim().length, 0, `${file} printed nothing`)
    return result.stdout
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true })
  }
}

describe("examples", () => {
  it("has the examples the README promises", () => {
    for (
      const name of [
        "quickstart.ts",
        "typed-store.ts",
        "testing-with-testclock.ts",
        "hierarchical-keys.ts",
        "transactions-and-locks.ts",
        "choosing-a-backend.ts",
        "composing-wrappers.ts",
        "memoize.ts",
        "tiered-cache.ts"
      ]
    ) {
      assert.include(examples, name)
    }
  })

  for (const file of examples) {
    if (needsRedis.includes(file)) continue
    it(`${file} runs and exits 0`, () => runExample(file))
  }
})

const servers: ReadonlyArray<Server> = ["postgres", "mysql", "redis"]
for (const backend of servers) {
  await describeServer(backend, `examples on ${backend}`, () => {
    it(`choosing-a-backend.ts runs on KV_BACKEND=${backend}`, () => {
      const stdout = runExample("choosing-a-backend.ts", { KV_BACKEND: backend })
      assert.include(stdout, `backend: ${backend}`)
    })
    if (backend === "redis") {
      for (const file of needsRedis) it(`${file} runs and exits 0`, () => runExample(file))
    }
  })
}
