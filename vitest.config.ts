import { defineConfig } from "vitest/config"

export default defineConfig({
  resolve: { conditions: ["effect-kv-source"] },
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/bench/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks"
  }
})
