import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: { conditions: ["effect-kv-source"] },
  // vitest runs tests in Vite's SSR environment, which does not inherit resolve.conditions: without this, "effect-kv"
  // resolves to a stale dist/ whenever one exists.
  ssr: { resolve: { conditions: ["effect-kv-source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/bench/**"],
    // chai's deep equality told Effect's data types apart only by what they yield (see the file).
    setupFiles: ["./test/setup/effectEquality.ts"],
    // A last resort against a hang, not a measure of speed: a test does a set amount of work, which takes several times
    // longer on a busy machine (the model tests on a server took 43 to 56 s of a 60 s limit at a load of 12 on two
    // cores, and then failed at 60 s). Tests bound their own waits (operations have deadlines, `eventually` five
    // seconds, each model sequence and each silence of worker processes their own), which catch a hang much earlier.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: "forks",
    // default: each file once done, and the failures in detail; test/reporter.ts: progress while files run, and the
    // summary line; json: the report `.ci/run` reads.
    reporters: ["default", "./test/reporter.ts", ["json", { outputFile: ".vitest-report.json" }]]
  }
})
