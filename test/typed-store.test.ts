/**
 * TypedStore over `MemoryStore`: typed round trips under both codecs (byte-identical to `Codec.schema`), the envelope
 * layout, typed `DecodeError`s (garbage, bad JSON, wrong shape, truncated MessagePack, version and codec mismatches),
 * `onMismatch: "miss"`, migration through a Schema transformation, `EncodeError` with nothing written, atomic `update`
 * and `pop` (a racing store that yields between read and write), TTL through `TestClock`, fenced writes passed
 * through to the store (a fenced step that writes nothing checks its fence too), and `Tag`/`layer`.
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStoreError } from "effect-kv"
import { Codec, KeyValueStore, MemoryStore, TypedStore } from "effect-kv"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"

class User extends Schema.Class<User>("User")({
  name: Schema.String,
  joined: Schema.Date,
  visits: Schema.BigInt
}) {}

const ada = new User({ name: "Ada", joined: new Date("2020-01-02T03:04:05.678Z"), visits: 2n ** 64n })

const Counter = Schema.Struct({ n: Schema.Int })

/** Runs `f` against a fresh memory store. */
const withStore = <A, E>(f: (store: KeyValueStore.Service) => Effect.Effect<A, E>) =>
  Effect.flatMap(KeyValueStore.KeyValueStore, f).pipe(Effect.provide(MemoryStore.layer()))

describe("TypedStore", () => {
  for (const codec of [Codec.json, Codec.msgpack]) {
    it.effect(`round-trips a class instance with a Date and a BigInt (${codec.name})`, () =>
      withStore((store) =>
        Effect.gen(function*() {
          const users = TypedStore.make(store, User, { codec })
          yield* users.set("user.1", ada)
          const back = yield* users.getOrFail("user.1")
          assert.instanceOf(back, User)
          assert.instanceOf(back.joined, Date)
          assert.strictEqual(back.joined.getTime(), ada.joined.getTime())
          assert.strictEqual(back.visits, 2n ** 64n)
          assert.strictEqual(back.name, "Ada")
          assert.isTrue(Option.isNone(yield* users.get("user.2")))
        })
      ))
  }

  for (const codec of [Codec.json, Codec.msgpack]) {
    it.effect.prop(
      `stores exactly what Codec.schema encodes, and reads it back (${codec.name})`,
      [User],
      ([user]) =>
        withStore((store) =>
          Effect.gen(function*() {
            const users = TypedStore.make(store, User, { codec, version: 7 })
            yield* users.set("u", user)
            const raw = Option.getOrThrow(yield* store.get("u"))
            assert.deepStrictEqual(Array.from(raw.subarray(0, 3)), [0xc1, codec.id, 7])
            const expected = Schema.encodeSync(Codec.schema(User, codec))(user)
            assert.deepStrictEqual(Array.from(raw.subarray(3)), Array.from(expected))
            const back = yield* users.getOrFail("u")
            assert.instanceOf(back, User)
            assert.isTrue(Schema.equivalence(User)(user, back))
          })
        )
    )
  }

  it.effect("writes the envelope: 0xC1, codec id, version, payload", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const texts = TypedStore.make(store, Schema.String, { codec: Codec.string, version: 300 })
        yield* texts.set("k", "hi")
        const raw = Option.getOrThrow(yield* store.get("k"))
        // 300 = 0b10_0101100 → LEB128 0xAC 0x02
        assert.deepStrictEqual(Array.from(raw), [0xc1, 3, 0xac, 0x02, 0x68, 0x69])
        assert.strictEqual(Option.getOrThrow(yield* texts.get("k")), "hi")
      })
    ))

  it.effect("getOrFail fails with KeyNotFound", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(TypedStore.make(store, User).getOrFail("nobody"))
        assert.strictEqual(error._tag, "KeyNotFound")
        assert.strictEqual(error.key, "nobody")
      })
    ))

  it.effect("getOrFail on a value it cannot decode is the DecodeError, not KeyNotFound", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.set("k", new Uint8Array([0xff, 0x00, 0x13]))
        const error = yield* Effect.flip(TypedStore.make(store, User).getOrFail("k"))
        assert.strictEqual(error._tag, "DecodeError")
        assert.strictEqual(error.method, "getOrFail")
        assert.strictEqual(error.key, "k")
      })
    ))

  describe("decode failures are typed", () => {
    it.effect("garbage bytes", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.set("k", new Uint8Array([0xff, 0x00, 0x13]))
          const error = yield* Effect.flip(TypedStore.make(store, User).get("k"))
          assert.strictEqual(error._tag, "DecodeError")
          if (error._tag !== "DecodeError") return
          assert.strictEqual(error.method, "get")
          assert.strictEqual(error.key, "k")
          assert.include(error.issue, "no envelope")
        })
      ))

    it.effect("an envelope around bytes that are not JSON", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.set("k", new Uint8Array([0xc1, Codec.json.id, 1, 0x7b, 0x22]))
          const error = yield* Effect.flip(TypedStore.make(store, User).get("k"))
          assert.strictEqual(error._tag, "DecodeError")
          if (error._tag !== "DecodeError") return
          assert.include(error.issue, "parseJson")
          assert.strictEqual((error.cause as { _tag?: string })._tag, "ParseError")
        })
      ))

    it.effect("valid JSON of the wrong shape names the field", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const Other = Schema.Struct({ name: Schema.Number })
          yield* TypedStore.make(store, Other).set("k", { name: 1 })
          const error = yield* Effect.flip(TypedStore.make(store, User).get("k"))
          assert.strictEqual(error._tag, "DecodeError")
          if (error._tag !== "DecodeError") return
          assert.include(error.issue, "[\"name\"]")
          assert.include(error.issue, "Expected string, actual 1")
        })
      ))

    it.effect("truncated msgpack", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const users = TypedStore.make(store, User, { codec: Codec.msgpack })
          yield* users.set("k", ada)
          const raw = Option.getOrThrow(yield* store.get("k"))
          yield* store.set("k", raw.subarray(0, raw.byteLength - 4))
          const error = yield* Effect.flip(users.get("k"))
          assert.strictEqual(error._tag, "DecodeError")
          if (error._tag !== "DecodeError") return
          assert.include(error.issue, "MessagePack")
        })
      ))

    it.effect("getMany fails on the entry that does not decode", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const users = TypedStore.make(store, User)
          yield* users.set("a", ada)
          yield* store.set("b", "plain text")
          const error = yield* Effect.flip(users.getMany(["a", "b"]))
          assert.strictEqual(error._tag, "DecodeError")
          assert.strictEqual(error.key, "b")
          assert.deepStrictEqual(
            (yield* users.getMany(["missing", "a"])).map(Option.map((u) => u.name)),
            [Option.none(), Option.some("Ada")]
          )
        })
      ))
  })

  describe("versions and codecs", () => {
    const V1 = Schema.Struct({ name: Schema.String })

    it.effect("a version mismatch is a DecodeError by default", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* TypedStore.make(store, V1, { version: 1 }).set("u", { name: "Ada" })
          const error = yield* Effect.flip(TypedStore.make(store, User, { version: 2 }).get("u"))
          assert.strictEqual(error._tag, "DecodeError")
          if (error._tag !== "DecodeError") return
          assert.include(error.issue, "schema version 1, this store reads version 2")
        })
      ))

    it.effect("onMismatch: \"miss\" treats old, foreign and unknown-codec entries as absent", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* TypedStore.make(store, V1, { version: 1 }).set("old", { name: "Ada" })
          yield* store.set("foreign", "not an envelope")
          yield* store.set("unknown", new Uint8Array([0xc1, 200, 2, 0x01]))
          const users = TypedStore.make(store, User, { version: 2, onMismatch: "miss" })
          for (const key of ["old", "foreign", "unknown"]) {
            assert.isTrue(Option.isNone(yield* users.get(key)), key)
            assert.isFalse(yield* users.has(key), key)
            assert.strictEqual((yield* Effect.flip(users.getOrFail(key)))._tag, "KeyNotFound")
          }
          // a miss is not a removal: the raw entry is still there
          assert.isTrue(yield* store.has("old"))
          // add and update see the entry as absent and overwrite it
          assert.isTrue(yield* users.add("old", ada))
          assert.strictEqual((yield* users.getOrFail("old")).name, "Ada")
          const updated = yield* users.update("foreign", (current) => {
            assert.isTrue(Option.isNone(current))
            return Option.some(ada)
          })
          assert.isTrue(Option.isSome(updated))
          assert.strictEqual((yield* users.getOrFail("foreign")).visits, ada.visits)
          // a current entry whose payload is broken is still an error, not a miss
          yield* store.set("broken", new Uint8Array([0xc1, Codec.json.id, 2, 0x7b]))
          assert.strictEqual((yield* Effect.flip(users.get("broken")))._tag, "DecodeError")
        })
      ))

    it.effect("an unknown codec id is a DecodeError by default", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.set("k", new Uint8Array([0xc1, 200, 1, 0x01]))
          const error = yield* Effect.flip(TypedStore.make(store, User).get("k"))
          assert.strictEqual(error._tag, "DecodeError")
          if (error._tag !== "DecodeError") return
          assert.include(error.issue, "unknown codec (id 200)")
        })
      ))

    it.effect("reads a value written with another built-in codec", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* TypedStore.make(store, User, { codec: Codec.msgpack }).set("k", ada)
          const back = yield* TypedStore.make(store, User, { codec: Codec.json }).getOrFail("k")
          assert.instanceOf(back, User)
          assert.strictEqual(back.visits, ada.visits)
        })
      ))

    it.effect("migrate turns old values into current ones through a Schema transformation", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* TypedStore.make(store, V1, { version: 1, codec: Codec.msgpack }).set("u", { name: "Grace" })
          yield* TypedStore.make(store, Schema.String, { version: 0, codec: Codec.string }).set("z", "zero")
          const FromV1 = Schema.transform(V1, Schema.typeSchema(User), {
            strict: true,
            decode: (v1) => new User({ name: v1.name, joined: new Date(0), visits: 0n }),
            encode: (user) => ({ name: user.name })
          })
          const versions: Array<number> = []
          const users = TypedStore.make(store, User, {
            version: 2,
            migrate: (version, value) => {
              versions.push(version)
              return version === 1 ? Schema.decodeUnknownEither(FromV1)(value) : undefined
            }
          })
          const migrated = yield* users.getOrFail("u")
          assert.instanceOf(migrated, User)
          assert.strictEqual(migrated.name, "Grace")
          assert.strictEqual(migrated.visits, 0n)
          // not rewritten by the read; the next write stores version 2
          assert.strictEqual(Option.getOrThrow(yield* store.get("u"))[2], 1)
          yield* users.update("u", Option.map((u) => new User({ ...u, visits: u.visits + 1n })))
          const raw = Option.getOrThrow(yield* store.get("u"))
          assert.deepStrictEqual([raw[1], raw[2]], [Codec.json.id, 2])
          assert.strictEqual((yield* users.getOrFail("u")).visits, 1n)
          // versions migrate does not handle fall back to onMismatch
          const error = yield* Effect.flip(users.get("z"))
          assert.strictEqual(error._tag, "DecodeError")
          assert.deepStrictEqual(versions, [1, 1, 0])
        })
      ))

    it.effect("a failing migration is a DecodeError", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* TypedStore.make(store, Schema.Struct({ title: Schema.String }), { version: 1 }).set("u", {
            title: "x"
          })
          const users = TypedStore.make(store, User, {
            version: 2,
            onMismatch: "miss",
            migrate: (_, value) => Schema.decodeUnknownEither(Schema.typeSchema(User))(value)
          })
          const error = yield* Effect.flip(users.get("u"))
          assert.strictEqual(error._tag, "DecodeError")
          if (error._tag !== "DecodeError") return
          assert.include(error.issue, "Expected User")
        })
      ))

    it("rejects a version outside 0 to 2^32 - 1", () => {
      const store = {} as KeyValueStore.Service
      assert.throws(() => TypedStore.make(store, User, { version: -1 }), /version/)
      assert.throws(() => TypedStore.make(store, User, { version: 2 ** 32 }), /version/)
      assert.throws(() => TypedStore.make(store, User, { version: 1.5 }), /version/)
    })

    it.effect("keeps the largest version exactly", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const users = TypedStore.make(store, User, { version: 2 ** 32 - 1 })
          yield* users.set("k", ada)
          assert.strictEqual((yield* users.getOrFail("k")).name, "Ada")
          const error = yield* Effect.flip(TypedStore.make(store, User, { version: 2 ** 32 - 2 }).get("k"))
          assert.strictEqual(error._tag, "DecodeError")
        })
      ))

    it.effect("string and bytes codecs take schemas of matching encoded form", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const numbers = TypedStore.make(store, Schema.NumberFromString, { codec: Codec.string })
          yield* numbers.set("n", 4.25)
          assert.deepStrictEqual(Array.from(Option.getOrThrow(yield* store.get("n"))).slice(3), [
            0x34,
            0x2e,
            0x32,
            0x35
          ])
          assert.deepStrictEqual(yield* numbers.get("n"), Option.some(4.25))
          const blobs = TypedStore.make(store, Schema.Uint8ArrayFromSelf, { codec: Codec.bytes })
          yield* blobs.set("b", new Uint8Array([9, 8]))
          assert.deepStrictEqual(Array.from(Option.getOrThrow(yield* blobs.get("b"))), [9, 8])
          // @ts-expect-error a class's encoded form is not a string
          TypedStore.make(store, User, { codec: Codec.string })
        })
      ))
  })

  describe("encode failures", () => {
    it.effect("a value violating a refinement is an EncodeError and nothing is written", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const counters = TypedStore.make(store, Counter)
          yield* counters.set("c", { n: 1 })
          const error = yield* Effect.flip(counters.set("c", { n: 1.5 }))
          assert.strictEqual(error._tag, "EncodeError")
          if (error._tag !== "EncodeError") return
          assert.strictEqual(error.key, "c")
          assert.include(error.issue, "integer")
          assert.deepStrictEqual(yield* counters.get("c"), Option.some({ n: 1 }))
          assert.strictEqual((yield* Effect.flip(counters.set("d", { n: 0.5 })))._tag, "EncodeError")
          assert.isFalse(yield* store.has("d"))
          assert.strictEqual((yield* Effect.flip(counters.add("d", { n: 0.5 })))._tag, "EncodeError")
          assert.isFalse(yield* store.has("d"))
        })
      ))

    it.effect("a value the codec cannot represent is an EncodeError and nothing is written", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const MapSelf = Schema.MapFromSelf({ key: Schema.String, value: Schema.Number })
          const json = yield* Effect.flip(TypedStore.make(store, MapSelf).set("m", new Map([["a", 1]])))
          assert.strictEqual(json._tag, "EncodeError")
          if (json._tag !== "EncodeError") return
          assert.include(json.issue, "JSON cannot represent a Map")
          const SetSelf = Schema.ReadonlySetFromSelf(Schema.Number)
          const msgpack = yield* Effect.flip(
            TypedStore.make(store, SetSelf, { codec: Codec.msgpack }).set("s", new Set([1]))
          )
          assert.strictEqual(msgpack._tag, "EncodeError")
          if (msgpack._tag !== "EncodeError") return
          assert.include(msgpack.issue, "MessagePack cannot represent a Set")
          const text = yield* Effect.flip(
            TypedStore.make(store, Schema.String, { codec: Codec.string }).set("t", "\ud800")
          )
          assert.strictEqual(text._tag, "EncodeError")
          assert.strictEqual(yield* store.size, 0)
        })
      ))

    it.effect("setMany writes nothing when one value fails", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const counters = TypedStore.make(store, Counter)
          const error = yield* Effect.flip(counters.setMany([["a", { n: 1 }], ["b", { n: 0.5 }], ["c", { n: 3 }]]))
          assert.strictEqual(error._tag, "EncodeError")
          assert.strictEqual(error.key, "b")
          assert.strictEqual(yield* store.size, 0)
          yield* counters.setMany([["a", { n: 1 }], ["b", { n: 2 }, { ttl: "1 minute" }]])
          assert.deepStrictEqual(yield* counters.getMany(["a", "b"]), [Option.some({ n: 1 }), Option.some({ n: 2 })])
          assert.isTrue(Option.isSome(yield* counters.ttl("b")))
        })
      ))

    it.effect("update with an invalid result is an EncodeError and keeps the old value", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const counters = TypedStore.make(store, Counter)
          yield* counters.set("c", { n: 1 }, { ttl: "1 hour" })
          const error = yield* Effect.flip(counters.update("c", () => Option.some({ n: 0.5 })))
          assert.strictEqual(error._tag, "EncodeError")
          assert.deepStrictEqual(yield* counters.get("c"), Option.some({ n: 1 }))
          assert.isTrue(Duration.lessThanOrEqualTo(Option.getOrThrow(yield* counters.ttl("c")), "1 hour"))
        })
      ))
  })

  describe("operations", () => {
    it.effect("add, has, remove, pop", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const users = TypedStore.make(store, User)
          assert.isTrue(yield* users.add("u", ada))
          assert.isFalse(yield* users.add("u", new User({ ...ada, name: "Other" })))
          assert.strictEqual((yield* users.getOrFail("u")).name, "Ada")
          assert.isTrue(yield* users.has("u"))
          const popped = yield* users.pop("u")
          assert.strictEqual(Option.getOrThrow(popped).name, "Ada")
          assert.isFalse(yield* users.has("u"))
          assert.isTrue(Option.isNone(yield* users.pop("u")))
          yield* users.set("u", ada)
          assert.isTrue(yield* users.remove("u"))
          assert.isFalse(yield* users.remove("u"))
        })
      ))

    it.effect("pop leaves an entry that fails to decode in place", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.set("k", "legacy")
          const error = yield* Effect.flip(TypedStore.make(store, User).pop("k"))
          assert.strictEqual(error._tag, "DecodeError")
          assert.deepStrictEqual(yield* store.getString("k"), Option.some("legacy"))
        })
      ))

    it.effect("update reads, writes and removes atomically", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const counters = TypedStore.make(store, Counter)
          const bump = (current: Option.Option<{ readonly n: number }>) =>
            Option.some({ n: Option.match(current, { onNone: () => 0, onSome: (c) => c.n }) + 1 })
          assert.deepStrictEqual(yield* counters.update("c", bump), Option.some({ n: 1 }))
          assert.deepStrictEqual(yield* counters.update("c", bump), Option.some({ n: 2 }))
          assert.deepStrictEqual(yield* counters.update("c", () => Option.none()), Option.none())
          assert.isFalse(yield* store.has("c"))
          assert.deepStrictEqual(yield* counters.update("c", () => Option.none()), Option.none())
          assert.isFalse(yield* store.has("c"))
        })
      ))

    it.effect("concurrent updates lose nothing, even when reads and writes interleave", () =>
      withStore((base) =>
        Effect.gen(function*() {
          // a store that yields to other fibers after every read, so read-modify-write races are real
          const store: KeyValueStore.Service = {
            ...base,
            get: (key) => Effect.zipLeft(base.get(key), Effect.yieldNow())
          }
          const counters = TypedStore.make(store, Counter)
          const bump = Option.match({
            onNone: () => Option.some({ n: 1 }),
            onSome: (c: { readonly n: number }) => Option.some({ n: c.n + 1 })
          })
          yield* Effect.all(Array.from({ length: 50 }, () => counters.update("c", bump)), { concurrency: "unbounded" })
          assert.deepStrictEqual(yield* counters.get("c"), Option.some({ n: 50 }))
        })
      ))

    it.effect("update on an entry that fails to decode is a DecodeError and changes nothing", () =>
      withStore((store) =>
        Effect.gen(function*() {
          yield* store.set("c", "{\"n\": \"x\"}")
          let called = false
          const error = yield* Effect.flip(
            TypedStore.make(store, Counter).update("c", (c) => {
              called = true
              return c
            })
          )
          assert.strictEqual(error._tag, "DecodeError")
          assert.isFalse(called)
          assert.deepStrictEqual(yield* store.getString("c"), Option.some("{\"n\": \"x\"}"))
        })
      ))

    it.effect("set options, touch and ttl follow the Clock", () =>
      withStore((store) =>
        Effect.gen(function*() {
          const users = TypedStore.make(store, User)
          yield* users.set("u", ada, { ttl: "10 seconds" })
          assert.deepStrictEqual(yield* users.ttl("u"), Option.some(Duration.seconds(10)))
          yield* TestClock.adjust("5 seconds")
          assert.isTrue(yield* users.touch("u", "1 minute"))
          yield* TestClock.adjust("30 seconds")
          assert.isTrue(Option.isSome(yield* users.get("u")))
          yield* TestClock.adjust("31 seconds")
          assert.isTrue(Option.isNone(yield* users.get("u")))
          assert.isTrue(Option.isNone(yield* users.ttl("u")))
          yield* users.set("v", ada)
          assert.deepStrictEqual(yield* users.ttl("v"), Option.some(Duration.infinity))
        })
      ))
  })

  it.effect("fenced writes pass through: written while the lock is held, LockLost and nothing written after", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const counters = TypedStore.make(store, Counter)
        const scope = yield* Scope.make()
        const lock = yield* Scope.extend(store.lock("c"), scope)
        const fence = { fence: lock }
        yield* counters.set("a", { n: 1 }, fence)
        yield* counters.setMany([["b", { n: 2 }], ["c", { n: 3 }]], fence)
        yield* counters.update("a", (c) => Option.map(c, ({ n }) => ({ n: n + 1 })), fence)
        assert.deepStrictEqual(yield* counters.pop("c", fence), Option.some({ n: 3 }))
        assert.isTrue(yield* counters.remove("b", fence))
        assert.isTrue(yield* counters.touch("a", "1 hour", fence))
        yield* Scope.close(scope, Exit.void)
        const refused: ReadonlyArray<readonly [string, Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]> =
          [
            ["set", counters.set("a", { n: 9 }, fence)],
            ["setMany", counters.setMany([["b", { n: 9 }]], fence)],
            ["add", counters.add("b", { n: 9 }, fence)],
            ["update", counters.update("a", () => Option.some({ n: 9 }), fence)],
            ["update that keeps the value", counters.update("a", (c) => c, fence)],
            ["pop", counters.pop("a", fence)],
            ["pop of an absent key", counters.pop("b", fence)],
            ["remove", counters.remove("a", fence)],
            ["touch", counters.touch("a", "2 hours", fence)]
          ]
        for (const [what, effect] of refused) {
          const error = yield* Effect.flip(effect)
          assert.strictEqual(error._tag, "LockLost", what)
        }
        assert.deepStrictEqual(yield* counters.get("a"), Option.some({ n: 2 }))
        assert.isFalse(yield* counters.has("b"))
        assert.isFalse(yield* counters.has("c"))
      })
    ))

  describe("Tag and layer", () => {
    class Users extends TypedStore.Tag("test/Users")<Users, User>() {}
    class PlainUsers extends Context.Tag("test/PlainUsers")<PlainUsers, TypedStore.TypedStore<User>>() {}

    it.effect("provide a typed store over the KeyValueStore in context", () =>
      Effect.gen(function*() {
        const users = yield* Users
        const plain = yield* PlainUsers
        assert.isTrue(TypedStore.isTypedStore(users))
        assert.strictEqual(users.version, 3)
        yield* users.set("u", ada)
        const back = yield* plain.getOrFail("u")
        assert.instanceOf(back, User)
        // both views share the one KeyValueStore
        assert.isTrue(yield* (yield* KeyValueStore.KeyValueStore).has("u"))
      }).pipe(
        Effect.provide(
          Layer.mergeAll(
            TypedStore.layer(Users, User, { version: 3, codec: Codec.msgpack }),
            TypedStore.layer(PlainUsers, User, { version: 3 })
          ).pipe(Layer.provideMerge(MemoryStore.layer()))
        )
      ))
  })
})
