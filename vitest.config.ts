import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: { conditions: ["effect-kv-source"] },
  // vitest runs tests in Vite's SSR environment, which does not inherit resolve.conditions: without this, "effect-kv"
  // resolves to a stale dist/ whenever one exists.
  ssr: { resolve: { conditions: ["effect-kv-source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/bench/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // default: each file once done, and the failures in detail; test/reporter.ts: progress while files run, and the
    // summary line; json: the report `.ci/run` reads.
    reporters: ["default", "./test/reporter.ts", ["json", { outputFile: ".vitest-report.json" }]]
  }
})
