/**
 * The canonical argument hash of `Memoize`'s default keys: pinned digests (the same in every process and machine),
 * the same digest in a separate Node process, key order and member order independence, values of distinct types
 * never colliding, typed arrays and Maps/Sets by content, and the typed `InvalidArgument` for what cannot be encoded
 * faithfully (functions, symbols, cycles, class instances).
 */
import { assert, describe, it } from "@effect/vitest"
import { Memoize } from "effect-kv"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Key from "../../src/internal/cache/key.js"

const digest = (value: unknown): string => {
  const hashed = Key.hash(value)
  if (!("hash" in hashed)) throw new Error(`cannot hash: ${hashed.reason}`)
  return hashed.hash
}

const refusal = (value: unknown): Key.Unencodable => {
  const hashed = Key.hash(value)
  if ("hash" in hashed) throw new Error("hashed a value that should be refused")
  return hashed
}

// Digests of argument lists, computed once and pinned. The first three were also computed independently of this
// code, in Python, from the documented layout (version byte 0x01; tag "a", length as a 6-byte big-endian count;
// numbers: tag "d" + IEEE-754 float64 big-endian; strings: tag "s" + UTF-16 code-unit count + UTF-16LE):
//   sha256(01 61 000000000000)                                  for []
//   sha256(01 61 000000000001 64 3ff0000000000000)              for [1]
//   sha256(01 61 000000000001 73 000000000001 3100)             for ["1"]
// A change of the encoding changes every memoized key: it must come with a new version byte, never silently.
const pinned: ReadonlyArray<readonly [string, ReadonlyArray<unknown>, string]> = [
  ["[]", [], "47ff4c6110c54b8c7f426ca595a257d257e288152850f0c5f335d6fbd5776ebf"],
  ["[1]", [1], "1aaf6ab03886c609454285760f44f92fabc78849807db9f9eb40f0a3a089fb24"],
  ["[\"1\"]", ["1"], "58fff2004c3f7273d70ebfbd6d1c7d98e42b9802347c24d391048cdc66a842cc"],
  ["[1n]", [1n], "79257d7852ec9551bc5a71cdd476cd29aed2b255f3e41f4c7103771b40c7d4e6"],
  [
    "[{ b: 2, a: [1, \"x\"] }]",
    [{ b: 2, a: [1, "x"] }],
    "77ff58a004ec746b097ef4d3465c37c1dab0596fcfafd3967a22ae88c83c31c2"
  ],
  ["[Map]", [new Map([[1, "a"], [2, "b"]])], "99a30d6b230daab489ccd4f887ed6e8d7d8005f22864975d6b6cc2ac4af97c4c"],
  ["[Set]", [new Set([3, 1, 2])], "3f4c414438fdea6309e7751ecf01d6fb2713ae26ab2a3e293a4e6b07b9c12cf4"],
  ["[Date(0)]", [new Date(0)], "eb010becaeab77eb1c8ad2cc4fe052a54f5ad2f808bebaf3deba7c52094eac01"],
  ["[Uint8Array]", [new Uint8Array([1, 2, 3])], "44e21fd15dd7b9f3cccef004eed4e90fc16e4a4622c37a95bc306ed9983ce1b6"],
  ["[null, undefined]", [null, undefined], "0b178cb0d84d6499d916534d947e405a5455ca0e9857cef00664935255c83425"]
]

describe("Memoize keys", () => {
  it("gives the pinned digests", () => {
    for (const [name, args, expected] of pinned) assert.strictEqual(digest(args), expected, name)
  })

  it("gives the same digests in another Node process", () => {
    const tsx = createRequire(import.meta.url).resolve("tsx")
    const module = pathToFileURL(path.resolve(import.meta.dirname, "../../src/internal/cache/key.ts")).href
    const script = `import { hash } from ${JSON.stringify(module)}
const cases = [[], [1], ["1"], [1n], [{ a: [1, "x"], b: 2 }], [new Map([[2, "b"], [1, "a"]])], [new Set([2, 3, 1])],
  [new Date(0)], [new Uint8Array([1, 2, 3])], [null, undefined]]
console.log(JSON.stringify(cases.map((c) => hash(c).hash)))`
    const child = spawnSync(
      process.execPath,
      ["--import", pathToFileURL(tsx).href, "--input-type=module", "-e", script],
      { encoding: "utf8", timeout: 60_000, env: { ...process.env, NODE_OPTIONS: "" } }
    )
    assert.strictEqual(child.status, 0, child.stderr)
    assert.deepStrictEqual(JSON.parse(child.stdout.trim()), pinned.map(([, , d]) => d))
  })

  it("ignores object key order, Map and Set insertion order, at any depth", () => {
    assert.strictEqual(digest([{ a: 1, b: { c: 2, d: 3 } }]), digest([{ b: { d: 3, c: 2 }, a: 1 }]))
    assert.strictEqual(
      digest([new Map<unknown, unknown>([["x", new Set([1, 2])], [{ k: 1, j: 2 }, [3]]])]),
      digest([new Map<unknown, unknown>([[{ j: 2, k: 1 }, [3]], ["x", new Set([2, 1])]])])
    )
    assert.strictEqual(digest([Object.assign(Object.create(null), { b: 1, a: 2 })]), digest([{ a: 2, b: 1 }]))
  })

  it("keeps array order and argument count", () => {
    assert.notStrictEqual(digest([[1, 2]]), digest([[2, 1]]))
    assert.notStrictEqual(digest([1]), digest([1, undefined]))
    assert.notStrictEqual(digest([1, 2]), digest([[1, 2]]))
  })

  it("never collides values of distinct types", () => {
    const values: ReadonlyArray<unknown> = [
      1,
      "1",
      1n,
      true,
      "true",
      [],
      {},
      undefined,
      null,
      "",
      0,
      -0,
      0n,
      Number.NaN,
      "NaN",
      new Date(1),
      new Map(),
      new Set(),
      new Uint8Array(),
      new Int8Array(),
      new ArrayBuffer(0),
      [undefined],
      [null],
      { a: undefined },
      { a: null },
      [[]],
      [{}],
      new Map([[1, 2]]),
      new Map([[2, 1]]),
      new Set([[1, 2]]),
      new Uint8Array([1, 0]),
      new Uint16Array([1]),
      "\ud800",
      "\ud801",
      "ab",
      ["a", "b"],
      { ab: "" },
      { a: "b" }
    ]
    const seen = new Map<string, unknown>()
    for (const value of values) {
      const d = digest([value])
      assert.isFalse(seen.has(d), `${String(value)} collides with ${String(seen.get(d))}`)
      seen.set(d, value)
    }
  })

  it("compares numbers as Object.is: one NaN, -0 apart from 0", () => {
    assert.strictEqual(digest([Number.NaN]), digest([0 / 0]))
    assert.strictEqual(digest([Number.NaN]), digest([new Float64Array([Number.NaN])[0]]))
    assert.notStrictEqual(digest([-0]), digest([0]))
    assert.strictEqual(digest([new Date(Number.NaN)]), digest([new Date("not a date")]))
  })

  it("hashes typed arrays by content and type, a Buffer as a Uint8Array", () => {
    const bytes = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7])
    assert.strictEqual(digest([bytes]), digest([new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7])]))
    assert.strictEqual(digest([bytes]), digest([Buffer.from([0, 1, 2, 3, 4, 5, 6, 7])]))
    assert.strictEqual(digest([bytes.subarray(2, 4)]), digest([new Uint8Array([2, 3])]))
    assert.notStrictEqual(digest([bytes]), digest([new Uint8Array([0, 1, 2, 3, 4, 5, 6, 8])]))
    assert.notStrictEqual(digest([bytes]), digest([new Uint16Array(bytes.buffer)]))
    assert.notStrictEqual(digest([bytes]), digest([new Float64Array(bytes.buffer)]))
    assert.strictEqual(digest([new BigInt64Array([-1n])]), digest([new BigInt64Array([-1n])]))
  })

  it("refuses functions, symbols, cycles, symbol keys and class instances, with the path", () => {
    assert.strictEqual(refusal([() => 1]).reason, "a function")
    assert.deepStrictEqual(refusal([1, { a: [Symbol("s")] }]).path, [1, "a", 0])
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = { back: cyclic }
    const refused = refusal([cyclic])
    assert.strictEqual(refused.reason, "a circular reference")
    assert.deepStrictEqual(refused.path, [0, "self", "back"])
    assert.strictEqual(refusal([{ [Symbol("k")]: 1 }]).reason, "an object with symbol keys")
    class Point {
      constructor(readonly x: number) {}
    }
    assert.include(refusal([new Point(1)]).reason, "a Point instance")
    assert.include(refusal([/re/]).reason, "a RegExp instance")
    assert.include(refusal([new String("s")]).reason, "a String instance")
    assert.include(refusal([new Map([[1, () => 1]])]).path.join(""), "<map value 0>")
    const throwing = Object.defineProperty({}, "x", {
      enumerable: true,
      get: () => {
        throw new Error("boom")
      }
    })
    assert.include(refusal([throwing]).reason, "boom")
  })

  it("shares structure that is not a cycle", () => {
    const shared = { a: 1 }
    assert.strictEqual(digest([shared, shared]), digest([{ a: 1 }, { a: 1 }]))
  })

  it.effect("Memoize.keyOf gives namespace.sha256, or InvalidArgument", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Memoize.keyOf("users.fetch", [1]), `users.fetch.${pinned[1]![2]}`)
      const error = yield* Effect.flip(Memoize.keyOf("users.fetch", [() => 1]))
      assert.strictEqual(error._tag, "InvalidArgument")
      assert.strictEqual(error.argument, "args[0]")
      assert.include(error.reason, "a function")
      const empty = yield* Effect.flip(Memoize.keyOf("", [1]))
      assert.strictEqual(empty.argument, "namespace")
    }))
})
