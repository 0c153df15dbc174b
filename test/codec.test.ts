/**
 * Codecs: property-based round trips of the Schemas whose encoded forms need care (`Schema.Date`, `Schema.BigInt`
 * past 2^53, `Schema.Class` instances, `Uint8Array`, `Map`/`ReadonlyMap`) through JSON and MessagePack, the native
 * MessagePack types, UTF-8 text and raw bytes; every way bytes fail to decode (garbage, invalid UTF-8, truncated or
 * trailing MessagePack, the wrong shape) is a `ParseError`, and every value a format would silently change is rejected
 * at encode time. MessagePack output is checked to be deterministic and self-contained.
 */
import { assert, describe, it } from "@effect/vitest"
import { Codec } from "effect-kv"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { Packr, unpack } from "msgpackr"

const utf8 = new TextEncoder()

class Event extends Schema.Class<Event>("Event")({
  id: Schema.BigInt,
  at: Schema.Date,
  payload: Schema.Uint8Array,
  counts: Schema.ReadonlyMap({ key: Schema.String, value: Schema.Int }),
  note: Schema.optionalWith(Schema.String, { exact: true })
}) {}

const codecs = [Codec.json, Codec.msgpack] as const

/** Encodes and decodes through the codec; asserts the value comes back equivalent. */
const roundTrip = <A, I>(schema: Schema.Schema<A, I>, codec: Codec.Codec<NoInfer<I>>) => {
  const bytes = Codec.schema(schema, codec)
  const encode = Schema.encodeSync(bytes)
  const decode = Schema.decodeUnknownSync(bytes)
  const equivalent = Schema.equivalence(schema)
  return (value: A): A => {
    const encoded = encode(value)
    assert.instanceOf(encoded, Uint8Array)
    const decoded = decode(encoded)
    assert.isTrue(equivalent(value, decoded), `${codec.name} did not round-trip ${String(value)}`)
    return decoded
  }
}

/** The formatted Schema issue of a failed decode/encode; fails the test when it succeeded. */
const issueOf = (result: Either.Either<unknown, { readonly _tag: string; readonly message: string }>): string => {
  if (Either.isRight(result)) return assert.fail(`expected a ParseError, got ${String(result.right)}`)
  assert.strictEqual(result.left._tag, "ParseError")
  return result.left.message
}

const decodeWith = <A, I>(schema: Schema.Schema<A, I>, codec: Codec.Codec<NoInfer<I>>, bytes: Uint8Array) =>
  Schema.decodeUnknownEither(Codec.schema(schema, codec))(bytes)

const encodeWith = <A, I>(schema: Schema.Schema<A, I>, codec: Codec.Codec<NoInfer<I>>, value: A) =>
  Schema.encodeEither(Codec.schema(schema, codec))(value)

describe("Codec", () => {
  it("has stable ids", () => {
    assert.deepStrictEqual(
      [Codec.json, Codec.msgpack, Codec.string, Codec.bytes].map((c) => [c.id, c.name]),
      [[1, "json"], [2, "msgpack"], [3, "string"], [4, "bytes"]]
    )
    assert.strictEqual(Codec.builtin.get(2), Codec.msgpack)
    assert.isTrue(Codec.isCodec(Codec.json))
    assert.isFalse(Codec.isCodec({ id: 1 }))
  })

  it("make rejects reserved and out-of-range ids", () => {
    const wire = Schema.Uint8ArrayFromSelf
    assert.throws(() => Codec.make({ id: 3, name: "x", wire }), /reserved/)
    assert.throws(() => Codec.make({ id: 256, name: "x", wire }), /255/)
    assert.throws(() => Codec.make({ id: 40.5, name: "x", wire }), /integer/)
    const custom = Codec.make({ id: 40, name: "raw", wire })
    assert.strictEqual(custom.id, 40)
    roundTrip(Schema.Uint8ArrayFromSelf, custom)(new Uint8Array([7, 8]))
  })

  it("schema is dual", () => {
    const Value = Schema.Struct({ at: Schema.Date })
    const value = { at: new Date(1234) }
    const a = Schema.encodeSync(Codec.schema(Value, Codec.msgpack))(value)
    const b = Schema.encodeSync(Value.pipe(Codec.schema(Codec.msgpack)))(value)
    assert.deepStrictEqual(a, b)
  })

  for (const codec of codecs) {
    describe(codec.name, () => {
      it.prop("round-trips Schema.Date", [Schema.Date], ([date]) => {
        roundTrip(Schema.Date, codec)(date)
      })

      it.prop("round-trips Schema.BigInt, beyond 2^53", [
        FastCheck.bigInt({ min: -(2n ** 200n), max: 2n ** 200n })
      ], ([n]) => {
        roundTrip(Schema.BigInt, codec)(n)
        roundTrip(Schema.BigInt, codec)(n * 2n ** 64n + 1n)
      })

      it.prop("round-trips a Schema.Class instance as an instance", [Event], ([event]) => {
        const back = roundTrip(Event, codec)(event)
        assert.instanceOf(back, Event)
        assert.strictEqual(back.id, event.id)
        assert.strictEqual(back.at.getTime(), event.at.getTime())
        assert.deepStrictEqual(Array.from(back.payload), Array.from(event.payload))
        assert.deepStrictEqual([...back.counts], [...event.counts])
      })

      it.prop("round-trips Schema.Uint8Array", [Schema.Uint8Array], ([bytes]) => {
        roundTrip(Schema.Uint8Array, codec)(bytes)
      })

      it.prop("round-trips Schema.Map and Schema.ReadonlyMap", [
        Schema.Map({ key: Schema.String, value: Schema.Finite }),
        Schema.ReadonlyMap({ key: Schema.Int, value: Schema.Array(Schema.Boolean) })
      ], ([map, readonlyMap]) => {
        const back = roundTrip(Schema.Map({ key: Schema.String, value: Schema.Finite }), codec)(map)
        assert.instanceOf(back, Map)
        roundTrip(Schema.ReadonlyMap({ key: Schema.Int, value: Schema.Array(Schema.Boolean) }), codec)(readonlyMap)
      })

      it.prop("round-trips nested structs with optional fields", [
        Schema.Struct({
          name: Schema.String,
          score: Schema.Finite,
          tags: Schema.Array(Schema.String),
          parent: Schema.optionalWith(Schema.Struct({ id: Schema.Int, flag: Schema.NullOr(Schema.Boolean) }), {
            exact: true
          })
        })
      ], ([value]) => {
        roundTrip(
          Schema.Struct({
            name: Schema.String,
            score: Schema.Finite,
            tags: Schema.Array(Schema.String),
            parent: Schema.optionalWith(Schema.Struct({ id: Schema.Int, flag: Schema.NullOr(Schema.Boolean) }), {
              exact: true
            })
          }),
          codec
        )(value)
      })

      it("encodes deterministically", () => {
        const bytes = Codec.schema(Event, codec)
        const event = new Event({
          id: 2n ** 70n,
          at: new Date(0),
          payload: new Uint8Array([1, 2, 3]),
          counts: new Map([["a", 1], ["b", 2]])
        })
        const first = Schema.encodeSync(bytes)(event)
        for (let i = 0; i < 5; i++) assert.deepStrictEqual(Schema.encodeSync(bytes)(event), first)
      })

      it("rejects a value whose encoded form it cannot hold, instead of changing it", () => {
        const MapSelf = Schema.MapFromSelf({ key: Schema.String, value: Schema.Number })
        assert.include(issueOf(encodeWith(MapSelf, codec, new Map([["a", 1]]))), "cannot represent a Map")
        class Point {
          constructor(readonly x: number) {}
        }
        assert.include(issueOf(encodeWith(Schema.instanceOf(Point), codec, new Point(1))), "cannot represent a Point")
        assert.include(
          issueOf(
            encodeWith(Schema.Struct({ s: Schema.ReadonlySetFromSelf(Schema.Number) }), codec, { s: new Set([1]) })
          ),
          "cannot represent a Set"
        )
      })

      it("fails to decode empty input with a ParseError", () => {
        issueOf(decodeWith(Schema.Unknown, codec, new Uint8Array(0)))
      })
    })
  }

  describe("json", () => {
    it("fails on invalid UTF-8 and on text that is not JSON", () => {
      assert.include(issueOf(decodeWith(Schema.Unknown, Codec.json, new Uint8Array([0x7b, 0xff, 0x7d]))), "UTF-8")
      assert.include(issueOf(decodeWith(Schema.Unknown, Codec.json, utf8.encode("{\"a\": 1"))), "JSON")
      assert.include(issueOf(decodeWith(Schema.Unknown, Codec.json, utf8.encode("hello"))), "JSON")
    })

    it("fails on valid JSON of the wrong shape, naming the field", () => {
      const issue = issueOf(decodeWith(Event, Codec.json, utf8.encode(`{"id":"1","at":5}`)))
      assert.include(issue, "[\"at\"]")
      assert.include(issue, "Expected string, actual 5")
    })

    it("rejects values JSON would silently change", () => {
      assert.include(issueOf(encodeWith(Schema.Number, Codec.json, NaN)), "NaN")
      assert.include(issueOf(encodeWith(Schema.Number, Codec.json, Infinity)), "Infinity")
      assert.include(issueOf(encodeWith(Schema.BigIntFromSelf, Codec.json, 1n)), "bigint")
      assert.include(issueOf(encodeWith(Schema.DateFromSelf, Codec.json, new Date(0))), "Date")
      assert.include(issueOf(encodeWith(Schema.Uint8ArrayFromSelf, Codec.json, new Uint8Array([1]))), "Uint8Array")
      assert.include(
        issueOf(encodeWith(Schema.Array(Schema.Undefined), Codec.json, [undefined])),
        "undefined at [0]"
      )
      assert.include(issueOf(encodeWith(Schema.Undefined, Codec.json, undefined)), "undefined")
    })

    it("leaves out undefined properties, as JSON does", () => {
      const Value = Schema.Struct({ a: Schema.optional(Schema.String), b: Schema.Number })
      const bytes = Schema.encodeSync(Codec.schema(Value, Codec.json))({ a: undefined, b: 1 })
      assert.strictEqual(new TextDecoder().decode(bytes), `{"b":1}`)
      assert.deepStrictEqual(Schema.decodeUnknownSync(Codec.schema(Value, Codec.json))(bytes), { b: 1 })
    })

    it.prop("round-trips any UTF-16 string, lone surrogates included", [
      FastCheck.array(FastCheck.integer({ min: 0, max: 0xffff })).map((units) => String.fromCharCode(...units))
    ], ([text]) => {
      roundTrip(Schema.String, Codec.json)(text)
    })
  })

  describe("msgpack", () => {
    it.prop("round-trips Uint8ArrayFromSelf, BigIntFromSelf and DateFromSelf natively", [
      Schema.Uint8ArrayFromSelf,
      FastCheck.bigInt({ min: -(2n ** 500n), max: 2n ** 500n }),
      Schema.ValidDateFromSelf
    ], ([bytes, n, date]) => {
      const Value = Schema.Struct({
        bytes: Schema.Uint8ArrayFromSelf,
        n: Schema.BigIntFromSelf,
        at: Schema.DateFromSelf
      })
      roundTrip(Value, Codec.msgpack)({ bytes, n, at: date })
    })

    it("keeps undefined properties", () => {
      const Value = Schema.Struct({ a: Schema.optional(Schema.String), b: Schema.Number })
      const back = roundTrip(Value, Codec.msgpack)({ a: undefined, b: 1 })
      assert.deepStrictEqual(Object.keys(back), ["a", "b"])
    })

    it("keeps NaN and infinities", () => {
      const back = Schema.decodeUnknownSync(Codec.schema(Schema.Array(Schema.Number), Codec.msgpack))(
        Schema.encodeSync(Codec.schema(Schema.Array(Schema.Number), Codec.msgpack))([NaN, Infinity, -Infinity])
      )
      assert.isNaN(back[0])
      assert.deepStrictEqual(back.slice(1), [Infinity, -Infinity])
    })

    it("fails on truncated, trailing and garbage bytes", () => {
      const bytes = Schema.encodeSync(Codec.schema(Event, Codec.msgpack))(
        new Event({ id: 1n, at: new Date(0), payload: new Uint8Array(40), counts: new Map([["k", 1]]) })
      )
      for (let cut = 1; cut < bytes.byteLength; cut += 7) {
        assert.include(issueOf(decodeWith(Event, Codec.msgpack, bytes.subarray(0, cut))), "MessagePack")
      }
      const trailing = new Uint8Array([...bytes, 0x01])
      assert.include(issueOf(decodeWith(Event, Codec.msgpack, trailing)), "end of buffer not reached")
      issueOf(decodeWith(Event, Codec.msgpack, utf8.encode("not msgpack at all")))
    })

    it("fails on valid MessagePack of the wrong shape", () => {
      const bytes = Schema.encodeSync(Codec.schema(Schema.Struct({ id: Schema.Number }), Codec.msgpack))({ id: 1 })
      assert.include(issueOf(decodeWith(Event, Codec.msgpack, bytes)), "[\"id\"]")
    })

    it("writes self-contained messages any MessagePack reader decodes", () => {
      const Row = Schema.Struct({ id: Schema.Int, name: Schema.String, at: Schema.Date })
      const encode = Schema.encodeSync(Codec.schema(Row, Codec.msgpack))
      const rows = [1, 2, 3].map((id) => ({ id, name: `n${id}`, at: new Date(id) }))
      const encoded = rows.map((row) => encode(row))
      // records would make later messages reference a structure defined by an earlier one
      assert.deepStrictEqual(encode(rows[0]!), encoded[0])
      for (const [i, bytes] of encoded.entries()) {
        const expected = { id: i + 1, name: `n${i + 1}`, at: new Date(i + 1).toISOString() }
        assert.deepStrictEqual(unpack(bytes), expected)
        assert.deepStrictEqual(new Packr({ useRecords: false }).unpack(bytes), expected)
      }
      assert.strictEqual(encoded[0]![0]! & 0xf0, 0x80, "a plain fixmap")
    })

    it("rejects what it would silently change", () => {
      assert.include(issueOf(encodeWith(Schema.Array(Schema.String), Codec.msgpack, ["ok", "a\ud800"])), "at [1]")
      assert.include(
        issueOf(encodeWith(Schema.Unknown, Codec.msgpack, { a: [new Int16Array(1)] })),
        "Int16Array at [\"a\"][0]"
      )
    })
  })

  describe("string", () => {
    it.prop("round-trips any well-formed string", [FastCheck.fullUnicodeString()], ([text]) => {
      roundTrip(Schema.String, Codec.string)(text)
      assert.deepStrictEqual(Schema.encodeSync(Codec.schema(Schema.String, Codec.string))(text), utf8.encode(text))
    })

    it("keeps a leading byte order mark", () => {
      assert.strictEqual(roundTrip(Schema.String, Codec.string)("\ufeffx"), "\ufeffx")
    })

    it("fails on invalid UTF-8 and lone surrogates", () => {
      assert.include(issueOf(decodeWith(Schema.String, Codec.string, new Uint8Array([0x61, 0xc3]))), "UTF-8")
      assert.include(issueOf(encodeWith(Schema.String, Codec.string, "a\udc00")), "lone surrogate")
    })

    it("applies the schema's transformation", () => {
      const bytes = Schema.encodeSync(Codec.schema(Schema.NumberFromString, Codec.string))(42.5)
      assert.strictEqual(new TextDecoder().decode(bytes), "42.5")
      issueOf(decodeWith(Schema.NumberFromString, Codec.string, utf8.encode("4x")))
    })
  })

  describe("bytes", () => {
    it.prop("is the identity on bytes", [FastCheck.uint8Array()], ([bytes]) => {
      const encoded = Schema.encodeSync(Codec.schema(Schema.Uint8ArrayFromSelf, Codec.bytes))(bytes)
      assert.deepStrictEqual(encoded, bytes)
      roundTrip(Schema.Uint8ArrayFromSelf, Codec.bytes)(bytes)
    })
  })
})
