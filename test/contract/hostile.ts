/**
 * The hostile-argument part of the contract, registered by `suite` for every store: a table of calls of every public
 * operation with arguments a careless or hostile caller may pass (null, undefined, wrong types, detached and foreign
 * buffers, deep, cyclic and huge metadata, non-finite and huge numbers, malformed names, endless and oversized
 * batches), each of which must fail with the typed error of its class (`KeyValueStore.limits` states the rules), never
 * throw where the Effect is built, never die, and leave the store exactly as it was: every entry (value, expiry, tags,
 * metadata, times), the size and the lock `l` are compared before and after. The cases share one store (a refused call
 * changes nothing, and each case compares its own before and after), seeded again before each case. A second table
 * checks inputs that look hostile but are valid: U+0000 in keys, tags, lock names, patterns and metadata, views of a
 * `SharedArrayBuffer`, buffers mutated or detached after the call, `Uint8Array`s of another realm or of a subclass,
 * `__proto__` as a metadata key, every limit reached exactly, iterables that are not arrays.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { KeyValueStore, KeyValueStoreError, Pattern } from "effect-kv"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as crypto from "node:crypto"
import * as vm from "node:vm"
import * as Figures from "../backends/fixtures/figures.js"
import { assertSomeBytes, hex } from "./bytes.js"

type Store = KeyValueStore.Service
type StoreError = KeyValueStoreError.KeyValueStoreError
type ErrorTag = StoreError["_tag"]

/** One hostile call: `run` must fail with `expect` (an error named after `method`, by default `op`). */
export interface HostileCase {
  readonly op: string
  readonly input: string
  readonly expect: ErrorTag
  readonly method?: string
  readonly run: (store: Store) => Effect.Effect<unknown, StoreError, never>
  /** Writes the case needs before the snapshot (removed by `teardown`). */
  readonly setup?: (store: Store) => Effect.Effect<unknown, StoreError>
  readonly teardown?: (store: Store) => Effect.Effect<unknown, StoreError>
}

/** The documented limits (`KeyValueStore.limits`), pinned here: a change of one shows in the contract. */
const limits = {
  maxDurationMillis: 100 * 365.25 * 24 * 60 * 60 * 1000,
  maxTags: 1000,
  maxNameBytes: 1024,
  maxMetadataDepth: 32,
  maxMetadataBytes: 64 * 1024,
  maxCounterDigits: 1000,
  maxBatch: 100_000
} as const

// -- Inputs --------------------------------------------------------------------------------------------------------

/** A view of an `ArrayBuffer` that has been transferred away (it reads as empty). */
const detached = (): Uint8Array => {
  const buffer = new ArrayBuffer(8)
  const view = new Uint8Array(buffer)
  view.fill(65)
  structuredClone(buffer, { transfer: [buffer] })
  return view
}

/** An object that claims to be a `Uint8Array` (its prototype) without being one. */
const fakeBytes = (): unknown => Object.create(Uint8Array.prototype)

const nested = (depth: number): { [key: string]: unknown } => {
  const root: { [key: string]: unknown } = {}
  let current = root
  for (let i = 1; i < depth; i++) {
    const child: { [key: string]: unknown } = {}
    current.a = child
    current = child
  }
  return root
}

const cyclic = (): { [key: string]: unknown } => {
  const self: { [key: string]: unknown } = { a: 1 }
  self.self = { back: self }
  return self
}

function* endless<A>(item: A): Generator<A> {
  for (;;) yield item
}

const repeat = <A>(n: number, f: (i: number) => A): Array<A> => Array.from({ length: n }, (_, i) => f(i))

/** Arguments that are not keys at all (strings that are not valid keys are the `invalid keys` cases of `suite`). */
const notKeys: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["undefined", () => undefined],
  ["a number", () => 42],
  ["an object", () => ({ key: "k" })],
  ["a symbol", () => Symbol("k")]
]

const notValues: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["undefined", () => undefined],
  ["a number", () => 42],
  ["a plain object", () => ({ 0: 1 })],
  ["an array of bytes", () => [1, 2]],
  ["a view of a detached ArrayBuffer", detached],
  ["a Uint16Array", () => new Uint16Array([1, 2])],
  ["a DataView", () => new DataView(new ArrayBuffer(2))],
  ["an ArrayBuffer", () => new ArrayBuffer(2)],
  ["a string with a lone surrogate", () => "a\uD800b"],
  ["an object with Uint8Array's prototype", fakeBytes],
  ["a Proxy of a Uint8Array", () => new Proxy(new Uint8Array(2), {})]
]

const notOptions: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["a number", () => 42],
  ["a string", () => "1 hour"],
  ["an array", () => []],
  ["true", () => true]
]

const hundredYears = limits.maxDurationMillis

const notTtls: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["an object without a prototype", () => Object.create(null)],
  ["an empty object", () => ({})],
  ["a symbol", () => Symbol("ttl")],
  ["a string that is not a duration", () => "soon"],
  ["a duration string whose number overflows to Infinity", () => `${"9".repeat(400)} days`],
  ["1e308 ms", () => 1e308],
  ["2^63 ms", () => 2 ** 63],
  ["Number.MAX_VALUE ms", () => Number.MAX_VALUE],
  ["100 years and 1 ms", () => hundredYears + 1],
  ["2^100 ns as a bigint", () => 2n ** 100n],
  ["-Infinity", () => -Infinity],
  ["a forged Duration", () => ({ ...Duration.seconds(1), value: { _tag: "Millis", millis: Number.NaN } })]
]

const notTagLists: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["one string", () => "urgent"],
  ["a number", () => 42],
  ["a list holding null", () => [null]],
  ["a list holding an empty tag", () => [""]],
  ["a list holding a number", () => [42]],
  ["a list holding a lone surrogate", () => ["a\uD800"]],
  [`a tag of ${limits.maxNameBytes + 1} bytes`, () => ["t".repeat(limits.maxNameBytes + 1)]],
  [`a tag of ${limits.maxNameBytes + 2} bytes of 2-byte characters`, () => ["é".repeat(limits.maxNameBytes / 2 + 1)]],
  [`${limits.maxTags + 1} tags`, () => repeat(limits.maxTags + 1, (i) => `t${i}`)],
  ["an endless iterable", () => endless("t")]
]

class Custom {
  readonly a = 1
}

const notMetadata: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["a number", () => 42],
  ["a string", () => "m"],
  ["an array", () => [1]],
  ["a Date", () => new Date(0)],
  ["a Map", () => new Map([["a", 1]])],
  ["a class instance", () => new Custom()],
  ["a bigint inside", () => ({ n: 1n })],
  ["a function inside", () => ({ f: () => 1 })],
  ["NaN inside", () => ({ x: Number.NaN })],
  ["undefined in an array", () => ({ a: [undefined] })],
  ["a symbol inside", () => ({ s: Symbol("s") })],
  ["a cycle", cyclic],
  ["20,000 levels deep", () => nested(20_000)],
  [`${limits.maxMetadataDepth + 1} levels deep`, () => nested(limits.maxMetadataDepth + 1)],
  ["100 KB of text", () => ({ blob: "x".repeat(100_000) })],
  ["an array of 200,000 numbers", () => ({ list: repeat(200_000, (i) => i) })],
  ["64 KiB once escaped", () => ({ blob: "\u0001".repeat(limits.maxMetadataBytes / 6 + 1) })]
]

const notCounterArguments: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["a string", () => "1"],
  ["1.5", () => 1.5],
  ["NaN", () => Number.NaN],
  ["Infinity", () => Infinity],
  ["2^53", () => 2 ** 53],
  [`a bigint of ${limits.maxCounterDigits + 1} digits`, () => 10n ** BigInt(limits.maxCounterDigits)],
  ["an object", () => ({})]
]

const notBatches: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["undefined", () => undefined],
  ["a number", () => 42],
  ["a string", () => "ab"],
  ["an object that is not iterable", () => ({ 0: "a", length: 1 })],
  ["an endless iterable", () => endless("k")],
  [`an array of ${limits.maxBatch + 1} keys`, () => repeat(limits.maxBatch + 1, (i) => `k${i}`)],
  [`a Set of ${limits.maxBatch + 1} keys`, () => new Set(repeat(limits.maxBatch + 1, (i) => `k${i}`))]
]

const notPatterns: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["a number", () => 42],
  ["an object", () => ({ source: "*" })],
  ["an unclosed bracket", () => "a["],
  [`a pattern longer than ${Pattern.maxLength}`, () => "a".repeat(Pattern.maxLength + 1)]
]

const notEffects: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["a number", () => 42],
  ["a function returning an Effect", () => () => Effect.void],
  ["a Promise", () => Promise.resolve(1)]
]

const notLockNames: ReadonlyArray<readonly [string, () => unknown]> = [
  ["null", () => null],
  ["undefined", () => undefined],
  ["a number", () => 42],
  ["an empty name", () => ""],
  ["a lone surrogate", () => "l\uD800"],
  [`a name of ${limits.maxNameBytes + 1} bytes`, () => "l".repeat(limits.maxNameBytes + 1)]
]

const notLockOptions: ReadonlyArray<readonly [string, string, () => unknown]> = [
  ["ttl", "null", () => ({ ttl: null })],
  ["ttl", "an object without a prototype", () => ({ ttl: Object.create(null) })],
  ["ttl", "1e308 ms", () => ({ ttl: 1e308 })],
  ["ttl", "2^63 ms", () => ({ ttl: 2 ** 63 })],
  ["ttl", "100 years and 1 ms", () => ({ ttl: hundredYears + 1 })],
  ["ttl", "Infinity", () => ({ ttl: Infinity })],
  ["ttl", "a duration string whose number overflows", () => ({ ttl: `${"9".repeat(400)} days` })],
  ["timeout", "null", () => ({ timeout: null })],
  ["timeout", "an object without a prototype", () => ({ timeout: Object.create(null) })],
  ["timeout", "1e308 ms", () => ({ timeout: 1e308 })],
  ["timeout", "2^63 ms", () => ({ timeout: 2 ** 63 })],
  ["timeout", "-1", () => ({ timeout: -1 })],
  ["timeout", "NaN", () => ({ timeout: Number.NaN })],
  ["holders", "null", () => ({ holders: null })],
  ["holders", "a string", () => ({ holders: "2" })],
  ["holders", "2^53", () => ({ holders: 2 ** 53 })],
  ["holders", "Infinity", () => ({ holders: Infinity })],
  ["holders", "a bigint", () => ({ holders: 2n })],
  ["retry", "a number", () => ({ retry: 5 })],
  ["retry", "null", () => ({ retry: null })]
]

// -- The table -----------------------------------------------------------------------------------------------------

const as = <A>(u: unknown): A => u as A

/** Keyed operations, applied to a key that is not a string. */
const keyedOps: ReadonlyArray<readonly [string, (store: Store, key: string) => Effect.Effect<unknown, StoreError>]> = [
  ["get", (store, key) => store.get(key)],
  ["getString", (store, key) => store.getString(key)],
  ["getEntry", (store, key) => store.getEntry(key)],
  ["set", (store, key) => store.set(key, "v")],
  ["has", (store, key) => store.has(key)],
  ["remove", (store, key) => store.remove(key)],
  ["pop", (store, key) => store.pop(key)],
  ["add", (store, key) => store.add(key, "v")],
  ["touch", (store, key) => store.touch(key, "1 second")],
  ["ttl", (store, key) => store.ttl(key)],
  ["setMetadata", (store, key) => store.setMetadata(key, { a: 1 })],
  ["increment", (store, key) => store.increment(key)],
  ["decrement", (store, key) => store.decrement(key)],
  ["compareAndSwap", (store, key) => store.compareAndSwap(key, Option.none(), Option.some("v"))],
  ["append", (store, key) => store.append(key, "v")],
  ["update", (store, key) => store.update(key, () => Option.some("v"))],
  ["getMany", (store, key) => store.getMany(["s.plain", key])],
  ["setMany", (store, key) => store.setMany([["s.plain", "changed"], [key, "v"]])],
  ["removeMany", (store, key) => store.removeMany(["s.plain", key])]
]

/** Operations taking a value, applied to `value` on key `t` (or `s.plain`, which they must not change). */
const valueOps: ReadonlyArray<readonly [string, (store: Store, value: unknown) => Effect.Effect<unknown, StoreError>]> =
  [
    ["set", (store, value) => store.set("t", as(value))],
    ["set over an entry", (store, value) => store.set("s.plain", as(value))],
    ["add", (store, value) => store.add("t", as(value))],
    ["setMany", (store, value) => store.setMany([["s.plain", "changed"], ["t", as(value)]])],
    [
      "compareAndSwap (next)",
      (store, value) => store.compareAndSwap("s.plain", Option.some("v"), Option.some(as(value)))
    ],
    [
      "compareAndSwap (expected)",
      (store, value) => store.compareAndSwap("s.plain", Option.some(as(value)), Option.none())
    ],
    ["append", (store, value) => store.append("s.plain", as(value))],
    ["update", (store, value) => store.update("s.plain", () => Option.some(as(value)))]
  ]

/** Operations taking write options, applied to `options`. */
const writeOptionOps: ReadonlyArray<
  readonly [string, (store: Store, options: KeyValueStore.SetOptions) => Effect.Effect<unknown, StoreError>]
> = [
  ["set", (store, options) => store.set("t", "v", options)],
  ["set over an entry", (store, options) => store.set("s.plain", "changed", options)],
  ["add", (store, options) => store.add("t", "v", options)],
  ["setMany", (store, options) => store.setMany([["s.plain", "changed"], ["t", "v", options]])],
  ["compareAndSwap", (store, options) => store.compareAndSwap("s.plain", Option.some("v"), Option.some("w"), options)],
  ["update", (store, options) => store.update("s.plain", () => Option.some("w"), options)]
]

/** Operations taking a ttl, applied to `ttl`. */
const ttlOps: ReadonlyArray<
  readonly [string, (store: Store, ttl: Duration.DurationInput) => Effect.Effect<unknown, StoreError>]
> = [
  ...writeOptionOps.map(([op, run]) =>
    [op, (store: Store, ttl: Duration.DurationInput) => run(store, { ttl })] as const
  ),
  ["increment", (store, ttl) => store.increment("t", 1, { ttl })],
  ["touch", (store, ttl) => store.touch("s.plain", ttl)]
]

const opName = (op: string): string => op.split(" ")[0]!

/** The hostile calls, in the order they run. */
export const hostileCases = (): ReadonlyArray<HostileCase> => {
  const cases: Array<HostileCase> = []
  const add = (
    op: string,
    input: string,
    expect: ErrorTag,
    run: HostileCase["run"],
    extra: Partial<HostileCase> = {}
  ) => cases.push({ op, input, expect, run, ...extra })

  for (const [op, run] of keyedOps) {
    for (const [input, key] of notKeys) {
      add(op, `a key that is ${input}`, "InvalidKey", (store) => run(store, as(key())))
    }
  }
  for (const [op, run] of valueOps) {
    for (const [input, value] of notValues) {
      add(opName(op), `a value that is ${input} (${op})`, "InvalidArgument", (store) => run(store, value()))
    }
  }
  for (const [op, run] of writeOptionOps) {
    for (const [input, options] of notOptions) {
      add(opName(op), `options that are ${input} (${op})`, "InvalidArgument", (store) => run(store, as(options())))
    }
  }
  for (const [input, options] of notOptions) {
    add("increment", `options that are ${input}`, "InvalidArgument", (store) => store.increment("t", 1, as(options())))
    add("decrement", `options that are ${input}`, "InvalidArgument", (store) => store.decrement("t", 1, as(options())))
    add(
      "lock",
      `options that are ${input}`,
      "InvalidArgument",
      (store) => Effect.scoped(store.lock("l", as(options())))
    )
    add(
      "withLock",
      `options that are ${input}`,
      "InvalidArgument",
      (store) => store.withLock("l", as(options()))(Effect.void),
      { method: "lock" }
    )
    add("check", `options that are ${input}`, "InvalidArgument", (store) => store.check(as(options())))
  }
  for (const [op, run] of ttlOps) {
    for (const [input, ttl] of notTtls) {
      add(opName(op), `a ttl that is ${input} (${op})`, "InvalidArgument", (store) => run(store, as(ttl())))
    }
  }
  for (const [op, run] of writeOptionOps) {
    for (const [input, tags] of notTagLists) {
      add(opName(op), `tags that are ${input} (${op})`, "InvalidArgument", (store) => run(store, { tags: as(tags()) }))
    }
    for (const [input, metadata] of notMetadata) {
      add(
        opName(op),
        `metadata that is ${input} (${op})`,
        "InvalidArgument",
        (store) => run(store, { metadata: as(metadata()) })
      )
    }
  }
  for (const [input, metadata] of [["undefined", () => undefined] as const, ...notMetadata]) {
    add(
      "setMetadata",
      `metadata that is ${input}`,
      "InvalidArgument",
      (store) => store.setMetadata("s.plain", as(metadata()))
    )
  }
  for (
    const [input, tag] of [
      ["undefined", () => undefined] as const,
      ["null", () => null] as const,
      ["a number", () => 42] as const,
      ["an empty tag", () => ""] as const,
      ["a lone surrogate", () => "t\uD800"] as const,
      [`a tag of ${limits.maxNameBytes + 1} bytes`, () => "t".repeat(limits.maxNameBytes + 1)] as const,
      ["an array of tags", () => ["t1"]] as const
    ]
  ) {
    add("removeTag", `a tag that is ${input}`, "InvalidArgument", (store) => store.removeTag(as(tag())))
  }

  for (const op of ["increment", "decrement"] as const) {
    for (const [input, n] of notCounterArguments) {
      add(op, `a delta that is ${input}`, "InvalidArgument", (store) => store[op]("s.n", as(n())))
      add(
        op,
        `an initial value that is ${input}`,
        "InvalidArgument",
        (store) => store[op]("t", 1, { initial: as(n()) })
      )
    }
    add(op, "a stored value of a million digits", "NotANumber", (store) => store[op]("s.long"), {
      setup: (store) => store.set("s.long", "9".repeat(1_000_000)),
      teardown: (store) => store.remove("s.long")
    })
    add(op, `a stored value of ${limits.maxCounterDigits + 1} digits`, "NotANumber", (store) => store[op]("s.long"), {
      setup: (store) => store.set("s.long", "1".repeat(limits.maxCounterDigits + 1)),
      teardown: (store) => store.remove("s.long")
    })
  }
  add("increment", "a result longer than a counter", "NotANumber", (store) => store.increment("s.long"), {
    setup: (store) => store.set("s.long", "9".repeat(limits.maxCounterDigits)),
    teardown: (store) => store.remove("s.long")
  })
  add(
    "increment",
    "a delta that makes the result longer than a counter",
    "NotANumber",
    (store) => store.increment("s.n", 10n ** BigInt(limits.maxCounterDigits) - 1n)
  )

  for (
    const [input, option] of [
      ["null", () => null] as const,
      ["undefined", () => undefined] as const,
      ["a string", () => "v"] as const,
      ["a forged Option", () => ({ _tag: "Some", value: "v" })] as const
    ]
  ) {
    add(
      "compareAndSwap",
      `an expected value that is ${input}`,
      "InvalidArgument",
      (store) => store.compareAndSwap("s.plain", as(option()), Option.none())
    )
    add(
      "compareAndSwap",
      `a next value that is ${input}`,
      "InvalidArgument",
      (store) => store.compareAndSwap("s.plain", Option.some("v"), as(option()))
    )
  }
  for (
    const [input, f] of [
      ["null", () => null] as const,
      ["undefined", () => undefined] as const,
      ["a number", () => 42] as const,
      ["an Option", () => Option.some("v")] as const
    ]
  ) {
    add("update", `a function that is ${input}`, "InvalidArgument", (store) => store.update("s.plain", as(f())))
  }
  for (
    const [input, result] of [
      ["null", () => null] as const,
      ["undefined", () => undefined] as const,
      ["a string", () => "v"] as const,
      ["a forged Option", () => ({ _tag: "Some", value: "v" })] as const
    ]
  ) {
    add(
      "update",
      `a function returning ${input}`,
      "InvalidArgument",
      (store) => store.update("s.plain", () => as(result()))
    )
  }

  for (const op of ["getMany", "removeMany"] as const) {
    for (const [input, keys] of notBatches) {
      add(op, `keys that are ${input}`, "InvalidArgument", (store) => store[op](as(keys())))
    }
    add(
      op,
      `${limits.maxBatch} keys, the last not a key`,
      "InvalidKey",
      (store) => store[op]([...repeat(limits.maxBatch - 1, (i) => i === 0 ? "s.plain" : `k${i}`), as(null)])
    )
  }
  for (
    const [input, entries] of [
      ...notBatches,
      ["a list holding null", () => [null]] as const,
      ["a list holding a string", () => ["kv"]] as const,
      ["an entry without a value", () => [["t"]]] as const,
      ["an entry of four items", () => [["t", "v", {}, "x"]]] as const,
      ["a list holding a Map entry iterator", () => [new Map([["t", "v"]]).entries()]] as const,
      [`${limits.maxBatch + 1} entries`, () => repeat(limits.maxBatch + 1, (i) => [`k${i}`, "v"])] as const
    ]
  ) {
    add("setMany", `entries that are ${input}`, "InvalidArgument", (store) => store.setMany(as(entries())))
  }
  add(
    "setMany",
    `${limits.maxBatch} entries, the last with a key that is not one`,
    "InvalidKey",
    (store) =>
      store.setMany([
        ["s.plain", "changed"],
        ...repeat(limits.maxBatch - 2, (i) => [`k${i}`, "v"] as const),
        [as(null), "v"]
      ])
  )

  const foreignPattern = (store: Store) =>
    Either.getOrThrow(Pattern.compile("s*", { separator: store.separator === "/" ? "." : "/" }))
  const streams = [
    ["keys", (store: Store, pattern: unknown) => Stream.runCollect(store.keys(as(pattern)))],
    ["entries", (store: Store, pattern: unknown) => Stream.runCollect(store.entries(as(pattern)))],
    ["getPattern", (store: Store, pattern: unknown) => Stream.runCollect(store.getPattern(as(pattern)))],
    ["countPattern", (store: Store, pattern: unknown) => store.countPattern(as(pattern))],
    ["removePattern", (store: Store, pattern: unknown) => store.removePattern(as(pattern))]
  ] as const
  for (const [op, run] of streams) {
    const inputs = op === "keys" || op === "entries"
      ? notPatterns
      : [["undefined", () => undefined] as const, ...notPatterns]
    for (const [input, pattern] of inputs) {
      add(op, `a pattern that is ${input}`, "InvalidArgument", (store) => run(store, pattern()))
    }
    add(op, "a pattern compiled for another separator", "InvalidArgument", (store) => run(store, foreignPattern(store)))
  }

  for (const [input, effect] of notEffects) {
    add(
      "withTransaction",
      `an effect that is ${input}`,
      "InvalidArgument",
      (store) => store.withTransaction(as(effect()))
    )
    add("withLock", `an effect that is ${input}`, "InvalidArgument", (store) => store.withLock("l")(as(effect())))
  }
  for (const [input, name] of notLockNames) {
    add("lock", `a name that is ${input}`, "InvalidArgument", (store) => Effect.scoped(store.lock(as(name()))))
    add("withLock", `a name that is ${input}`, "InvalidArgument", (store) => store.withLock(as(name()))(Effect.void), {
      method: "lock"
    })
  }
  for (const [option, input, options] of notLockOptions) {
    add(
      "lock",
      `a ${option} that is ${input}`,
      "InvalidArgument",
      (store) => Effect.scoped(store.lock("l", as(options())))
    )
  }
  for (
    const [input, options] of [
      ["fix that is a string", () => ({ fix: "yes" })] as const,
      ["fix that is null", () => ({ fix: null })] as const,
      ["minOrphanAge that is negative", () => ({ minOrphanAge: -1 })] as const,
      ["minOrphanAge without a prototype", () => ({ minOrphanAge: Object.create(null) })] as const,
      ["minOrphanAge of 1e308 ms", () => ({ minOrphanAge: 1e308 })] as const
    ]
  ) {
    add("check", `a ${input}`, "InvalidArgument", (store) => store.check(as(options())))
  }
  return cases
}

// -- Running them --------------------------------------------------------------------------------------------------

const seedOf = (
  capabilities: KeyValueStore.Capabilities
): ReadonlyArray<readonly [string, KeyValueStore.Value, KeyValueStore.SetOptions?]> => [
  ["s.plain", "v"],
  ["s.bytes", new Uint8Array([0, 1, 2, 255]), {
    // Written under a case's TestClock (epoch 0), read back by a store whose sweeper runs on the live Clock (the
    // store is built once by the live runtime): an expiry past today's date keeps the sweeper from removing the entry
    // in the middle of a slow case (an hour from epoch 0 did, under load).
    ...(capabilities.expiry ? { ttl: Duration.days(365 * 100) } : {}),
    ...(capabilities.tags ? { tags: ["t1", "t2"] } : {}),
    ...(capabilities.metadata ? { metadata: { m: [1, "x"], nested: { ok: true } } } : {})
  }],
  ["s.n", "41"]
]

/** Keys a case may touch, looked at even where the store cannot enumerate. */
const probeKeys = ["s.plain", "s.bytes", "s.n", "s.long", "t", "k1"]

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

/**
 * What a refused call must leave as it was: every entry with its bookkeeping and the size, and for lock calls the lock
 * `l` (free). Reads run concurrently (a pool of connections answers them together).
 */
const snapshot = (store: Store, capabilities: KeyValueStore.Capabilities, lock: boolean) =>
  Effect.gen(function*() {
    const [listed, size] = yield* Effect.all([
      capabilities.enumeration ? Effect.map(Stream.runCollect(store.keys()), Chunk.toArray) : Effect.succeed([]),
      store.size
    ], { concurrency: "unbounded" })
    const keys = [...new Set([...listed, ...probeKeys])].sort(byteOrder)
    const entries = yield* Effect.forEach(keys, (key) =>
      Effect.map(store.getEntry(key), (entry) => [
        key,
        Option.match(entry, {
          onNone: () => null,
          onSome: (e) => ({
            value: e.value.byteLength > 64
              ? `sha256 ${crypto.createHash("sha256").update(e.value).digest("hex")}`
              : hex(e.value),
            expiresAt: Option.getOrNull(e.expiresAt),
            tags: [...e.tags].sort(),
            metadata: Option.getOrNull(e.metadata),
            createdAt: e.createdAt,
            updatedAt: e.updatedAt,
            size: e.size
          })
        })
      ]), { concurrency: "unbounded" })
    const lockFree = lock && capabilities.locks
      ? yield* Effect.scoped(store.lock("l", { timeout: 0, ttl: "10 seconds" })).pipe(
        Effect.as(true),
        Effect.catchTag("LockTimeout", () => Effect.succeed(false))
      )
      : true
    return { listed: [...listed].sort(byteOrder), entries, size, lockFree }
  })

const describeExit = (exit: Exit.Exit<unknown, unknown>): string =>
  Exit.isSuccess(exit) ? "it succeeded" : `it ended with ${Cause.pretty(exit.cause).split("\n")[0]}`

/** Whether the shared store holds the seed and nothing else (it is cleared and seeded again after a failed case). */
interface Seeded {
  done: boolean
}

const runCase = (store: Store, capabilities: KeyValueStore.Capabilities, c: HostileCase, seeded: Seeded) =>
  Effect.gen(function*() {
    // A failed case may have left anything behind: the store starts again from the seed alone.
    if (!seeded.done) yield* Effect.zipRight(store.clear, store.setMany(seedOf(capabilities)))
    seeded.done = true
    if (c.setup) yield* c.setup(store)
    const lock = c.op === "lock" || c.op === "withLock"
    const before = yield* snapshot(store, capabilities, lock)
    let effect: Effect.Effect<unknown, StoreError>
    try {
      effect = c.run(store)
    } catch (thrown) {
      return assert.fail(`${c.op} threw where its Effect was built: ${String(thrown)}`)
    }
    const exit = yield* Effect.exit(effect)
    const after = yield* snapshot(store, capabilities, lock)
    if (c.teardown) yield* c.teardown(store)
    const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    if (Option.isNone(error)) return assert.fail(`expected ${c.expect}, but ${describeExit(exit)}`)
    assert.isTrue(KeyValueStoreError.isKeyValueStoreError(error.value), `not a KeyValueStoreError: ${error.value}`)
    assert.strictEqual(error.value._tag, c.expect, error.value.message)
    assert.strictEqual(error.value.method, c.method ?? c.op, error.value.message)
    assert.deepStrictEqual(after, before, "the store changed")
  }).pipe(Effect.onExit((exit) => Effect.sync(() => seeded.done = Exit.isSuccess(exit))))

/** An input that looks hostile but is valid: `run` checks what the store did with it. */
interface AcceptedCase {
  readonly title: string
  readonly when?: (capabilities: KeyValueStore.Capabilities) => boolean
  readonly run: (store: Store) => Effect.Effect<void, StoreError>
}

/** A `Uint8Array` subclass whose `byteLength`, `buffer` and `subarray` lie about its bytes. */
const subclassBytes = (): Uint8Array => {
  class Sneaky extends Uint8Array {}
  const bytes = new Sneaky([1, 2, 3])
  Object.defineProperty(bytes, "byteLength", { get: () => 1 })
  Object.defineProperty(bytes, "buffer", { get: () => new ArrayBuffer(1) })
  Object.defineProperty(bytes, "subarray", { value: () => new Uint8Array([9]) })
  return bytes
}

const acceptedCases: ReadonlyArray<AcceptedCase> = [
  {
    title: "KeyValueStore.limits are the documented ones",
    run: () => Effect.sync(() => assert.deepStrictEqual({ ...KeyValueStore.limits }, limits))
  },
  {
    title: "U+0000 in a key is an ordinary character",
    run: (store) =>
      Effect.gen(function*() {
        yield* store.set("a\u0000b", "nul")
        assertSomeBytes(yield* store.get("a\u0000b"), "nul")
        assert.isFalse(yield* store.has("a"))
        assert.isTrue(yield* store.remove("a\u0000b"))
      })
  },
  {
    title: "U+0000 in a tag is an ordinary character",
    when: (capabilities) => capabilities.tags,
    run: (store) =>
      Effect.gen(function*() {
        yield* store.set("t", "v", { tags: ["x\u0000y"] })
        const entry = yield* store.getEntry("t")
        assert.deepStrictEqual(Option.map(entry, (e) => e.tags), Option.some(["x\u0000y"]))
        assert.strictEqual(yield* store.removeTag("x"), 0)
        assert.strictEqual(yield* store.removeTag("x\u0000y"), 1)
      })
  },
  {
    title: "U+0000 in a pattern is an ordinary character",
    when: (capabilities) => capabilities.enumeration,
    run: (store) =>
      Effect.gen(function*() {
        yield* store.setMany([["a\u0000b", "1"], ["a", "2"], ["ab", "3"]])
        assert.strictEqual(yield* store.countPattern("a\u0000*"), 1)
        assert.strictEqual(yield* store.removePattern("a\u0000*"), 1)
        assert.strictEqual(yield* store.removeMany(["a", "ab"]), 2)
      })
  },
  {
    title: "U+0000 in a lock name is an ordinary character",
    when: (capabilities) => capabilities.locks,
    run: (store) =>
      Effect.scoped(Effect.gen(function*() {
        const held = yield* store.lock("l\u0000m", { ttl: "10 seconds" })
        assert.strictEqual(held.name, "l\u0000m")
        yield* Effect.scoped(store.lock("l", { timeout: 0, ttl: "10 seconds" }))
        const again = yield* Effect.either(Effect.scoped(store.lock("l\u0000m", { timeout: 0 })))
        assert.isTrue(again._tag === "Left" && again.left._tag === "LockTimeout", "the NUL name is one lock")
      }))
  },
  {
    title: "U+0000 and __proto__ in metadata round-trip as plain keys and text",
    when: (capabilities) => capabilities.metadata,
    run: (store) =>
      Effect.gen(function*() {
        const metadata = JSON.parse(`{"__proto__": {"polluted": true}, "a\\u0000": "b\\u0000c"}`)
        yield* store.set("t", "v", { metadata })
        const stored = Option.flatMap(yield* store.getEntry("t"), (e) => e.metadata)
        assert.isTrue(Option.isSome(stored))
        const value = Option.getOrThrow(stored) as Record<string, unknown>
        assert.strictEqual(Object.getPrototypeOf(value), Object.prototype)
        assert.deepStrictEqual(Object.getOwnPropertyDescriptor(value, "__proto__")?.value, { polluted: true })
        assert.strictEqual(value["a\u0000"], "b\u0000c")
        assert.isUndefined(({} as Record<string, unknown>).polluted)
        yield* store.remove("t")
      })
  },
  {
    title: "a view of a SharedArrayBuffer is stored as it was when the call ran",
    run: (store) =>
      Effect.gen(function*() {
        const shared = new Uint8Array(new SharedArrayBuffer(4))
        shared.set([1, 2, 3, 4])
        yield* store.set("t", shared)
        shared.fill(0)
        assertSomeBytes(yield* store.get("t"), new Uint8Array([1, 2, 3, 4]))
        yield* store.setMany([["t", shared.subarray(1, 3)]])
        shared.fill(7)
        assertSomeBytes(yield* store.get("t"), new Uint8Array([0, 0]))
        yield* store.remove("t")
      })
  },
  {
    title: "bytes written, then changed or detached by the caller, stay as written",
    run: (store) =>
      Effect.gen(function*() {
        const buffer = new ArrayBuffer(8)
        const bytes = new Uint8Array(buffer, 2, 3)
        bytes.set([5, 6, 7])
        yield* store.set("t", bytes)
        yield* store.add("k1", bytes)
        bytes.fill(0)
        structuredClone(buffer, { transfer: [buffer] })
        assertSomeBytes(yield* store.get("t"), new Uint8Array([5, 6, 7]))
        assertSomeBytes(yield* store.get("k1"), new Uint8Array([5, 6, 7]))
        yield* store.removeMany(["t", "k1"])
      })
  },
  {
    title: "a value is read when the call runs, not when its Effect is built",
    run: (store) =>
      Effect.gen(function*() {
        const bytes = new Uint8Array([1])
        const write = store.set("t", bytes)
        bytes[0] = 2
        yield* write
        assertSomeBytes(yield* store.get("t"), new Uint8Array([2]))
        yield* store.remove("t")
      })
  },
  {
    title: "a Buffer from Node's shared pool stores its own bytes only",
    run: (store) =>
      Effect.gen(function*() {
        const pooled = Buffer.from("abc")
        yield* store.set("t", pooled)
        assertSomeBytes(yield* store.get("t"), "abc")
        yield* store.remove("t")
      })
  },
  {
    title: "a Uint8Array of another realm or of a lying subclass stores its real bytes",
    run: (store) =>
      Effect.gen(function*() {
        yield* store.set("t", vm.runInNewContext("new Uint8Array([1, 2, 3])") as Uint8Array)
        assertSomeBytes(yield* store.get("t"), new Uint8Array([1, 2, 3]))
        yield* store.set("t", subclassBytes())
        assertSomeBytes(yield* store.get("t"), new Uint8Array([1, 2, 3]))
        yield* store.remove("t")
      })
  },
  {
    title: "every limit reached exactly is accepted",
    run: (store) =>
      Effect.gen(function*() {
        const capabilities = store.capabilities
        const tags = repeat(limits.maxTags, (i) => `t${i}`)
        // The longest tag, short of the few bytes a namespace's prefix takes on MySQL, whose tag column holds 1024.
        tags[0] = "é".repeat(limits.maxNameBytes / 2 - 8)
        yield* store.set("t", "v", {
          ...(capabilities.expiry ? { ttl: hundredYears } : {}),
          ...(capabilities.tags ? { tags } : {}),
          ...(capabilities.metadata ? { metadata: { ...nested(limits.maxMetadataDepth), pad: "x" } } : {})
        })
        const entry = Option.getOrThrow(yield* store.getEntry("t"))
        if (capabilities.tags) assert.strictEqual(entry.tags.length, limits.maxTags)
        if (capabilities.expiry) {
          const ttl = Option.getOrThrow(yield* store.ttl("t"))
          assert.strictEqual(Duration.toMillis(ttl), hundredYears)
        }
        if (capabilities.tags) assert.strictEqual(yield* store.removeTag(tags[0]!), 1)
        const max = "9".repeat(limits.maxCounterDigits)
        yield* store.set("s.long", max)
        assert.strictEqual(yield* store.decrement("s.long"), BigInt(max) - 1n)
        assert.strictEqual(yield* store.increment("s.long"), BigInt(max))
        assert.strictEqual(yield* store.increment("t2", 10n ** BigInt(limits.maxCounterDigits) - 1n), BigInt(max))
        yield* store.removeMany(["t", "t2", "s.long"])
      })
  },
  {
    title: "a lock's timeout may be infinite and its ttl and timeout 100 years",
    when: (capabilities) => capabilities.locks,
    run: (store) =>
      Effect.scoped(Effect.gen(function*() {
        const held = yield* store.lock("l", { ttl: hundredYears, timeout: Duration.infinity })
        assert.strictEqual(held.name, "l")
        yield* Effect.scoped(store.lock("m", { timeout: hundredYears }))
      }))
  },
  {
    title: "batches and tags may be any iterable, keys and entries take no pattern",
    run: (store) =>
      Effect.gen(function*() {
        yield* store.setMany(new Map([["t", "1"], ["k1", "2"]]))
        const found = yield* store.getMany(new Set(["t", "k1"]))
        assert.deepStrictEqual(found.map(Option.isSome), [true, true])
        if (store.capabilities.tags) yield* store.set("t", "1", { tags: new Set(["x", "x"]) })
        if (store.capabilities.enumeration) {
          const keys = Chunk.toArray(yield* Stream.runCollect(store.keys()))
          assert.includeMembers(keys, ["t", "k1"])
          const entries = Chunk.toArray(yield* Stream.runCollect(store.entries(undefined)))
          assert.isAtLeast(entries.length, 2)
        }
        assert.strictEqual(
          yield* store.removeMany((function*() {
            yield "t"
            yield "k1"
          })()),
          2
        )
      })
  },
  {
    title: "a function given to update that throws makes the call die, and the entry stays",
    run: (store) =>
      Effect.gen(function*() {
        yield* store.set("t", "v")
        const exit = yield* Effect.exit(store.update("t", () => {
          throw new Error("boom")
        }))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause), describeExit(exit))
        assertSomeBytes(yield* store.get("t"), "v")
        yield* store.remove("t")
      })
  }
]

/**
 * Registers the hostile-argument cases of a store layer: one store built from `layer` for all of them (released
 * afterwards). Returns the number of cases registered.
 */
export const hostileSuite = (
  layerOf: Layer.Layer<KeyValueStore.KeyValueStore, unknown>,
  capabilities: KeyValueStore.Capabilities,
  name: string
): number => {
  const cases = hostileCases()
  const accepted = acceptedCases.filter((c) => c.when === undefined || c.when(capabilities))
  const seeded: Seeded = { done: false }
  // One store for every case, built by the live runtime when a case of this block runs. Not through @effect/vitest's
  // `layer`: it rebinds the file's `it.effect` to its own runtime, so one TestClock, moved by these cases, leaked into
  // every later test of the file (their expiries came out seconds late). Each case runs under its own TestClock.
  describe("hostile arguments", () => {
    let built: { readonly store: Store; readonly scope: Scope.CloseableScope } | undefined
    beforeAll(async () => {
      const scope = Effect.runSync(Scope.make())
      const context = await Effect.runPromise(Effect.orDie(Layer.buildWithScope(layerOf, scope)))
      built = { store: Context.get(context, KeyValueStore.KeyValueStore), scope }
    }, 60_000)
    let passed = 0
    afterAll(async () => {
      if (built !== undefined) await Effect.runPromise(Scope.close(built.scope, Exit.void))
      if (passed === cases.length) {
        Figures.record({
          name: "hostile arguments: typed error, store unchanged",
          backend: name,
          count: passed,
          detail: `null, undefined, wrong types, detached/shared buffers, deep/cyclic/huge metadata, huge numbers, NULs`
        })
      }
    }, 60_000)
    const withStore = <A>(f: (store: Store) => Effect.Effect<A, unknown>) =>
      Effect.suspend(() =>
        built === undefined ? Effect.dieMessage("the hostile suite's store was not built") : f(built.store)
      )
    describe("refused with a typed error, the store unchanged", () => {
      for (const c of cases) {
        it.effect(`${c.op}: ${c.input} fails with ${c.expect}`, () =>
          Effect.tap(withStore((store) => runCase(store, capabilities, c, seeded)), () => {
            passed++
          }))
      }
    })
    describe("valid, however they look", () => {
      for (const c of accepted) {
        it.effect(c.title, () => withStore((store) => c.run(store)))
      }
    })
  })
  return cases.length + accepted.length
}
