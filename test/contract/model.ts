/**
 * The model-based property test: `modelSuite(name, layer)` runs random sequences of operations (fast-check, small key
 * space so operations collide, `TestClock` steps so entries expire mid-sequence) against the store under test and
 * against a fresh `MemoryStore` as the model, and asserts that every step observes the same thing on both, error tags
 * included. A frequent `snapshot` step reads every key's entry and the size, so a divergence in state shows up even
 * when the random sequence does not happen to read it. Both stores are built afresh for every run.
 *
 * Not compared, on purpose: the count `expire` returns and `stats.expirations`, which count physical removals and so
 * depend on when a backend drops dead entries (lazily on read, by its sweeper, or by the engine itself as Redis does).
 * For `expire` the test checks instead that both succeed with a count and that a second `expire` at the same instant
 * finds nothing on either store.
 */
import { assert, it } from "@effect/vitest"
import type { KeyValueStoreError } from "effect-kv"
import { KeyValueStore, MemoryStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { hex } from "./bytes.js"

type Store = KeyValueStore.Service
type Value = KeyValueStore.Value
type Ttl = number | undefined
type UpdateFn =
  | { readonly kind: "put"; readonly value: Value }
  | { readonly kind: "suffix"; readonly value: Value }
  | { readonly kind: "delete" }

type Op =
  | {
    readonly op: "set"
    readonly key: string
    readonly value: Value
    readonly ttl: Ttl
    readonly tags: ReadonlyArray<string> | undefined
    readonly metadata: KeyValueStore.Metadata | undefined
  }
  | { readonly op: "setMetadata"; readonly key: string; readonly metadata: KeyValueStore.Metadata }
  | { readonly op: "removeTag"; readonly tag: string }
  | { readonly op: "get"; readonly key: string }
  | { readonly op: "getString"; readonly key: string }
  | { readonly op: "getEntry"; readonly key: string }
  | { readonly op: "getMany"; readonly keys: ReadonlyArray<string> }
  | { readonly op: "setMany"; readonly entries: ReadonlyArray<readonly [string, Value, Ttl]> }
  | { readonly op: "has"; readonly key: string }
  | { readonly op: "remove"; readonly key: string }
  | { readonly op: "removeMany"; readonly keys: ReadonlyArray<string> }
  | { readonly op: "pop"; readonly key: string }
  | { readonly op: "add"; readonly key: string; readonly value: Value; readonly ttl: Ttl }
  | { readonly op: "touch"; readonly key: string; readonly ttl: Ttl }
  | { readonly op: "ttl"; readonly key: string }
  | {
    readonly op: "increment" | "decrement"
    readonly key: string
    readonly delta: number | bigint
    readonly initial: number | undefined
    readonly ttl: Ttl
  }
  | {
    readonly op: "compareAndSwap"
    readonly key: string
    readonly expected: Value | undefined
    readonly next: Value | undefined
    readonly ttl: Ttl
  }
  | { readonly op: "append"; readonly key: string; readonly value: Value }
  | { readonly op: "update"; readonly key: string; readonly f: UpdateFn; readonly ttl: Ttl }
  | { readonly op: "keys" | "entries" | "countPattern" | "removePattern"; readonly pattern: string | undefined }
  | { readonly op: "size" }
  | { readonly op: "expire" }
  | { readonly op: "clear" }
  | { readonly op: "stats" }
  | { readonly op: "snapshot" }
  | { readonly op: "adjust"; readonly millis: number }

// A few keys so that operations collide; "n" and "m" are where counters usually live; "" is an invalid key; the
// dotted ones give the patterns a hierarchy to match.
const plainKeys = ["a", "b", "é😀", "a.x", "a.x.y"] as const
const counterKeys = ["n", "m"] as const
const validKeys = [...plainKeys, ...counterKeys]
const key = FastCheck.oneof(
  { arbitrary: FastCheck.constantFrom(...plainKeys), weight: 8 },
  { arbitrary: FastCheck.constantFrom(...counterKeys), weight: 4 },
  { arbitrary: FastCheck.constant(""), weight: 1 }
)
const counterKey = FastCheck.oneof(
  { arbitrary: FastCheck.constantFrom(...counterKeys), weight: 4 },
  { arbitrary: key, weight: 1 }
)

const value: FastCheck.Arbitrary<Value> = FastCheck.oneof(
  FastCheck.constantFrom<Value>("", "0", "1", "42", "-3", "x", "hello", "é😀"),
  FastCheck.constantFrom<Value>(new Uint8Array(0), Uint8Array.of(0, 255, 128), Uint8Array.of(0x31)),
  FastCheck.uint8Array({ maxLength: 8 })
)

// Mostly valid ttls, some absent, a few invalid ones (which must fail alike on both stores).
const ttl: FastCheck.Arbitrary<Ttl> = FastCheck.oneof(
  { arbitrary: FastCheck.constant(undefined), weight: 4 },
  { arbitrary: FastCheck.constantFrom(1, 500, 1000, 1500, 3000, 10_000), weight: 4 },
  { arbitrary: FastCheck.constantFrom(0, -1, Number.NaN), weight: 1 }
)

const keyList = FastCheck.array(key, { maxLength: 5 })

const updateFn: FastCheck.Arbitrary<UpdateFn> = FastCheck.oneof(
  FastCheck.record({ kind: FastCheck.constant("put" as const), value }),
  FastCheck.record({ kind: FastCheck.constant("suffix" as const), value }),
  FastCheck.constant({ kind: "delete" as const })
)

// Patterns over the keys above, one malformed (which must fail alike on both stores).
const pattern = FastCheck.constantFrom(undefined, "*", "**", "a.*", "a.**", "?", "[a-m]*", "{a,n}*", "**.y", "a.[")

const tagName = FastCheck.constantFrom("red", "blue", "green")
const tags = FastCheck.option(FastCheck.uniqueArray(tagName, { maxLength: 3 }), { nil: undefined })
const metadata: FastCheck.Arbitrary<KeyValueStore.Metadata | undefined> = FastCheck.option(
  FastCheck.record({ n: FastCheck.integer({ min: -3, max: 3 }), s: FastCheck.constantFrom("x", "é", "") }),
  { nil: undefined }
)

const op: FastCheck.Arbitrary<Op> = FastCheck.oneof(
  {
    arbitrary: FastCheck.record({ op: FastCheck.constant("set" as const), key, value, ttl, tags, metadata }),
    weight: 6
  },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("setMetadata" as const),
      key,
      metadata: metadata.filter((m) => m !== undefined)
    }),
    weight: 1
  },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("removeTag" as const), tag: tagName }), weight: 1 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("get" as const), key }), weight: 4 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("getString" as const), key }), weight: 1 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("getEntry" as const), key }), weight: 2 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("getMany" as const), keys: keyList }), weight: 2 },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("setMany" as const),
      entries: FastCheck.array(FastCheck.tuple(key, value, ttl), { maxLength: 4 })
    }),
    weight: 2
  },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("has" as const), key }), weight: 2 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("remove" as const), key }), weight: 2 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("removeMany" as const), keys: keyList }), weight: 1 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("pop" as const), key }), weight: 1 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("add" as const), key, value, ttl }), weight: 2 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("touch" as const), key, ttl }), weight: 2 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("ttl" as const), key }), weight: 2 },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constantFrom("increment" as const, "decrement" as const),
      key: counterKey,
      delta: FastCheck.oneof(
        FastCheck.constantFrom<number | bigint>(1, 2, -1, 0, 2n ** 60n),
        { arbitrary: FastCheck.constant(1.5), weight: 1 }
      ),
      initial: FastCheck.constantFrom(undefined, 10, -5),
      ttl
    }),
    weight: 4
  },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("compareAndSwap" as const),
      key,
      expected: FastCheck.option(value, { nil: undefined }),
      next: FastCheck.option(value, { nil: undefined }),
      ttl
    }),
    weight: 3
  },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("append" as const), key, value }), weight: 2 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("update" as const), key, f: updateFn, ttl }), weight: 2 },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constantFrom(
        "keys" as const,
        "entries" as const,
        "countPattern" as const,
        "removePattern" as const
      ),
      pattern
    }),
    weight: 3
  },
  { arbitrary: FastCheck.constant({ op: "size" as const }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "expire" as const }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "clear" as const }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "stats" as const }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "snapshot" as const }), weight: 6 },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("adjust" as const),
      millis: FastCheck.constantFrom(1, 499, 500, 999, 1000, 2500)
    }),
    weight: 4
  }
)

const program = FastCheck.array(op, { minLength: 1, maxLength: 60, size: "max" })

const options = (ttl: Ttl): KeyValueStore.SetOptions | undefined => ttl === undefined ? undefined : { ttl }

const bytesOf = (v: Value): Uint8Array => typeof v === "string" ? new TextEncoder().encode(v) : v

const applyUpdate = (f: UpdateFn) => (current: Option.Option<Uint8Array>): Option.Option<Value> => {
  switch (f.kind) {
    case "put":
      return Option.some(f.value)
    case "delete":
      return Option.none()
    case "suffix": {
      const head = Option.getOrElse(current, () => new Uint8Array(0))
      const tail = bytesOf(f.value)
      const joined = new Uint8Array(head.byteLength + tail.byteLength)
      joined.set(head)
      joined.set(tail, head.byteLength)
      return Option.some(joined)
    }
  }
}

const showBytes = (option: Option.Option<Uint8Array>): string | null =>
  Option.match(option, { onNone: () => null, onSome: (bytes) => `<${hex(bytes)}>` })

const showTtl = (option: Option.Option<Duration.Duration>): number | string | null =>
  Option.match(option, {
    onNone: () => null,
    onSome: (d) => Duration.isFinite(d) ? Duration.toMillis(d) : "infinity"
  })

const showEntry = (option: Option.Option<KeyValueStore.Entry>) =>
  Option.match(option, {
    onNone: () => null,
    onSome: (entry) => ({
      key: entry.key,
      value: `<${hex(entry.value)}>`,
      size: entry.size,
      expiresAt: Option.getOrNull(entry.expiresAt),
      createdAt: entry.createdAt,
      updatedAt: entry.updatedAt,
      tags: entry.tags,
      metadata: Option.getOrNull(entry.metadata)
    })
  })

/** What one operation observes, in a comparable form: `{ ok }` with a plain value, or `{ error }` with the tag. */
const observe = <A>(
  self: Effect.Effect<A, KeyValueStoreError.KeyValueStoreError>,
  f: (a: A) => unknown
): Effect.Effect<unknown> =>
  Effect.match(self, { onFailure: (error) => ({ error: error._tag }), onSuccess: (a) => ({ ok: f(a) }) })

const run = (store: Store, o: Exclude<Op, { readonly op: "adjust" }>): Effect.Effect<unknown> => {
  switch (o.op) {
    case "set":
      return observe(
        store.set(o.key, o.value, { ...options(o.ttl), tags: o.tags, metadata: o.metadata }),
        () => null
      )
    case "setMetadata":
      return observe(store.setMetadata(o.key, o.metadata), (a) => a)
    case "removeTag":
      return observe(store.removeTag(o.tag), (n) => n)
    case "get":
      return observe(store.get(o.key), showBytes)
    case "getString":
      return observe(store.getString(o.key), Option.getOrNull)
    case "getEntry":
      return observe(store.getEntry(o.key), showEntry)
    case "getMany":
      return observe(store.getMany(o.keys), (found) => found.map(showBytes))
    case "setMany":
      return observe(
        store.setMany(
          o.entries.map(([k, v, t]): readonly [string, Value, KeyValueStore.SetOptions?] =>
            t === undefined ? [k, v] : [k, v, { ttl: t }]
          )
        ),
        () => null
      )
    case "has":
      return observe(store.has(o.key), (a) => a)
    case "remove":
      return observe(store.remove(o.key), (a) => a)
    case "removeMany":
      return observe(store.removeMany(o.keys), (a) => a)
    case "pop":
      return observe(store.pop(o.key), showBytes)
    case "add":
      return observe(store.add(o.key, o.value, options(o.ttl)), (a) => a)
    case "touch":
      return observe(store.touch(o.key, o.ttl), (a) => a)
    case "ttl":
      return observe(store.ttl(o.key), showTtl)
    case "increment":
    case "decrement":
      return observe(
        store[o.op](o.key, o.delta, { initial: o.initial, ttl: o.ttl }),
        (n) => n.toString()
      )
    case "compareAndSwap":
      return observe(
        store.compareAndSwap(
          o.key,
          Option.fromNullable(o.expected),
          Option.fromNullable(o.next),
          options(o.ttl)
        ),
        (a) => a
      )
    case "append":
      return observe(store.append(o.key, o.value), (a) => a)
    case "update":
      return observe(store.update(o.key, applyUpdate(o.f), options(o.ttl)), showBytes)
    case "keys":
      return observe(Effect.map(Stream.runCollect(store.keys(o.pattern)), Chunk.toArray), (a) => a)
    case "entries":
      return observe(
        Effect.map(Stream.runCollect(store.entries(o.pattern)), Chunk.toArray),
        (rows) => rows.map(([k, v]) => [k, `<${hex(v)}>`])
      )
    case "countPattern":
      return observe(store.countPattern(o.pattern ?? "**"), (n) => n)
    case "removePattern":
      return observe(store.removePattern(o.pattern ?? "**"), (n) => n)
    case "size":
      return observe(store.size, (a) => a)
    case "expire":
      return Effect.gen(function*() {
        const first = yield* observe(store.expire, (n) => Number.isInteger(n) && n >= 0 ? "a count" : n)
        const second = yield* observe(store.expire, (n) => n)
        return { first, second }
      })
    case "clear":
      return observe(store.clear, () => null)
    case "stats":
      return Effect.map(store.stats, (s) => ({ hits: s.hits, misses: s.misses, writes: s.writes, removes: s.removes }))
    case "snapshot":
      return Effect.all({
        size: observe(store.size, (n) => n),
        entries: Effect.forEach(validKeys, (key) => observe(store.getEntry(key), showEntry))
      })
  }
}

const build = (layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown>) =>
  Effect.map(Layer.build(layer), Context.get(KeyValueStore.KeyValueStore))

const describeOp = (o: Op): string =>
  JSON.stringify(o, (_, v) =>
    v instanceof Uint8Array
      ? `<${hex(v)}>`
      : typeof v === "bigint"
      ? `${v}n`
      : typeof v === "number" && Number.isNaN(v)
      ? "NaN"
      : v)

/** How long one random sequence (a store built, up to 60 operations) may take: a deadline, not a pace. */
const SEQUENCE_DEADLINE_MS = 30_000

/**
 * Registers a property test comparing the store built by `layer` with `MemoryStore` over random operation sequences.
 */
export const modelSuite = (name: string, layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown>): void => {
  const check = (ops: ReadonlyArray<Op>) =>
    Effect.scoped(Effect.gen(function*() {
      const subject = yield* build(layer)
      const model = yield* build(MemoryStore.layer())
      for (let i = 0; i < ops.length; i++) {
        const o = ops[i]!
        if (o.op === "adjust") {
          yield* TestClock.adjust(o.millis)
          continue
        }
        const actual = yield* run(subject, o)
        const expected = yield* run(model, o)
        const [seen, wanted] = [JSON.stringify(actual), JSON.stringify(expected)]
        if (seen !== wanted) assert.fail(`step ${i}: ${describeOp(o)}\n  store: ${seen}\n  model: ${wanted}`)
      }
    }))

  it.effect(`${name} behaves like the MemoryStore model on random operation sequences`, () =>
    Effect.gen(function*() {
      const runPromise = Runtime.runPromise(yield* Effect.runtime<never>())
      yield* Effect.promise(() =>
        FastCheck.assert(
          FastCheck.asyncProperty(program, (ops) => runPromise(check(ops))),
          // A deadline per sequence (real time) catches a hang at once; the whole test only has vitest's last-resort
          // timeout, since 100 sequences on a server take minutes on a busy machine.
          { numRuns: 100, timeout: SEQUENCE_DEADLINE_MS }
        )
      )
    }))
}
