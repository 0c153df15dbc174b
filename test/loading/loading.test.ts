/**
 * What a program loads: fresh Node processes on the package as it ships (`fixtures/emit.ts`), with every module file
 * they load recorded (`fixtures/trace.mjs`). A SqliteStore user, through the package root or `effect-kv/SqliteStore`,
 * opens a new file and reads a key without loading a server driver (ioredis, pg, mysql2, `@effect/sql-pg`,
 * `@effect/sql-mysql2`), `@effect/experimental` or `@effect/platform-node`; through the subpath, without
 * `effect/Schema` and `fast-check` either. A server backend whose driver is not installed (hidden by a resolve hook,
 * `fixtures/hide.mjs`) fails its open with `MissingDependency` naming the package, and the error classes round-trip
 * through `KeyValueStoreErrorSchema` into the same classes.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStoreError } from "effect-kv"
import * as KeyValueStoreErrorSchema from "effect-kv/KeyValueStoreErrorSchema"
import * as Schema from "effect/Schema"
import * as child_process from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { emit } from "./fixtures/emit.js"

let dir: string
let pkg: string

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-loading-"))
  pkg = await emit(dir)
})

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const node = (args: ReadonlyArray<string>, env: Record<string, string> = {}): string =>
  child_process.execFileSync(process.execPath, args, {
    cwd: pkg,
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 120_000
  })

interface Probe {
  readonly ms: number
  readonly value: string | null
  readonly modules: ReadonlyArray<string>
}

const probe = (variant: string): Probe =>
  JSON.parse(node(["--import", "./probe/trace.mjs", "probe/probe.mjs", variant, dir]).trim()) as Probe

/** The packages among `modules` (files under a `node_modules` directory), by name. */
const packagesOf = (modules: ReadonlyArray<string>): Set<string> => {
  const names = new Set<string>()
  for (const file of modules) {
    const match = /.*node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(file)
    if (match?.[1] !== undefined) names.add(match[1].replace("\\", "/"))
  }
  return names
}

const servers = ["ioredis", "pg", "mysql2", "@effect/sql-pg", "@effect/sql-mysql2"]
const neverForSqlite = [...servers, "@effect/experimental", "@effect/platform-node"]

describe("loading", () => {
  it("the raw floor's probe records what it loads (the tracer sees ESM and CommonJS packages)", () => {
    const raw = probe("raw")
    const packages = packagesOf(raw.modules)
    assert.isTrue(packages.has("effect"), [...packages].join(", "))
    assert.isTrue(packages.has("better-sqlite3"), [...packages].join(", "))
    assert.isTrue(raw.modules.some((file) => file.endsWith(`${path.sep}Effect.js`)))
  })

  it("a SqliteStore user through the package root loads no server driver, @effect/experimental or platform-node", () => {
    const root = probe("root")
    assert.include(root.value ?? "", "None")
    const packages = packagesOf(root.modules)
    assert.isTrue(packages.has("better-sqlite3"))
    assert.deepStrictEqual(neverForSqlite.filter((name) => packages.has(name)), [])
    assert.isTrue(root.modules.some((file) => file.endsWith(path.join("effect-kv", "backends", "SqliteStore.js"))))
    assert.isFalse(root.modules.some((file) => file.endsWith(path.join("effect-kv", "internal", "sql", "store.js"))))
  })

  it("a SqliteStore user through effect-kv/SqliteStore loads no driver, no effect/Schema and no fast-check", () => {
    const subpath = probe("subpath")
    assert.include(subpath.value ?? "", "None")
    const packages = packagesOf(subpath.modules)
    assert.deepStrictEqual([...neverForSqlite, "fast-check"].filter((name) => packages.has(name)), [])
    assert.isFalse(subpath.modules.some((file) => /effect[\\/]dist[\\/]esm[\\/]Schema\.js$/.test(file)))
  })

  for (
    const [backend, missing] of [
      ["redis", "ioredis"],
      ["postgres", "pg"],
      ["mysql", "mysql2"],
      ["postgres", "@effect/sql-pg"],
      ["mysql", "@effect/sql-mysql2"],
      ["persistence", "@effect/experimental"],
      ["ratelimiter", "@effect/experimental"]
    ] as const
  ) {
    it(`${backend} without ${missing} installed: the open fails with MissingDependency naming it`, () => {
      const failure = JSON.parse(
        node(["--import", "./probe/hide.mjs", "probe/missing.mjs", backend], { EFFECT_KV_HIDE: missing }).trim()
      ) as Record<string, string>
      assert.deepStrictEqual(
        { _tag: failure._tag, package: failure.package, backend: failure.backend },
        { _tag: "MissingDependency", package: missing, backend }
      )
      assert.include(failure.message, `npm install ${missing}`)
    })
  }

  it("with the driver installed, the same open gets as far as the server (BackendError, not MissingDependency)", () => {
    const failure = JSON.parse(node(["probe/missing.mjs", "redis"]).trim()) as Record<string, string>
    assert.strictEqual(failure._tag, "BackendError")
  })
})

describe("KeyValueStoreErrorSchema", () => {
  const errors: ReadonlyArray<KeyValueStoreError.KeyValueStoreError> = [
    new KeyValueStoreError.InvalidKey({ method: "get", key: "", reason: "empty key" }),
    new KeyValueStoreError.StoreFull({ method: "set", key: "k", backend: "memory", limit: "maxEntries", max: 3 }),
    new KeyValueStoreError.NotANumber({ method: "increment", key: "n" }),
    new KeyValueStoreError.BackendError({ method: "get", backend: "sqlite", cause: new Error("disk I/O error") }),
    new KeyValueStoreError.LockLost({ method: "withLock", name: "job" }),
    new KeyValueStoreError.KeyNotFound({ method: "getOrFail", key: "k" }),
    new KeyValueStoreError.MissingDependency({ method: "open", backend: "redis", package: "ioredis" })
  ]

  it("each error encodes to a tagged struct and decodes into its own class", () => {
    const encode = Schema.encodeSync(KeyValueStoreErrorSchema.KeyValueStoreError)
    const decode = Schema.decodeUnknownSync(KeyValueStoreErrorSchema.KeyValueStoreError)
    for (const error of errors) {
      const encoded = encode(error)
      const wire = JSON.parse(JSON.stringify(encoded)) as Record<string, unknown>
      assert.strictEqual(wire._tag, error._tag)
      assert.strictEqual(wire.method, error.method)
      const back = decode(wire)
      assert.strictEqual(back.constructor, error.constructor)
      assert.isTrue(KeyValueStoreError.isKeyValueStoreError(back))
      assert.strictEqual(back.message, error.message)
    }
  })

  it("a cause travels as a defect (its name and message), and a struct of the wrong shape is refused", () => {
    const schema = KeyValueStoreErrorSchema.BackendError
    const back = Schema.decodeUnknownSync(schema)(
      JSON.parse(JSON.stringify(Schema.encodeSync(schema)(errors[3] as KeyValueStoreError.BackendError)))
    )
    assert.instanceOf(back.cause, Error)
    assert.strictEqual((back.cause as Error).message, "disk I/O error")
    assert.throws(() => Schema.decodeUnknownSync(KeyValueStoreErrorSchema.KeyValueStoreError)({ _tag: "Nope" }))
    assert.throws(() => Schema.decodeUnknownSync(schema)({ _tag: "BackendError", method: "get" }))
  })
})
