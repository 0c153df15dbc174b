// The setup in effectEquality.ts: chai's deep equality tells Effect's data types apart (it did not before: every
// Option deeply equalled every other).
import { assert, describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

const differ = (left: unknown, right: unknown) => assert.throws(() => assert.deepStrictEqual(left, right))

describe("deep equality of Effect data", () => {
  it("tells None from Some, at the top and inside arrays and objects", () => {
    differ(Option.none(), Option.some(1))
    differ(Option.some(1), Option.none())
    differ([Option.some(1)], [Option.none()])
    differ({ a: Option.none() }, { a: Option.some(undefined) })
    expect(() => expect([Option.none()]).toEqual([Option.some(1)])).toThrow()
  })

  it("tells Left from Right and a failure from a success", () => {
    differ(Either.left(1), Either.right(1))
    differ(Exit.fail(1), Exit.succeed(1))
    differ(Exit.succeed(1), Exit.succeed(2))
  })

  it("compares the contents deeply", () => {
    assert.deepStrictEqual(Option.some({ a: [1, 2] }), Option.some({ a: [1, 2] }))
    assert.deepStrictEqual(Option.some(new Uint8Array([1])), Option.some(new Uint8Array([1])))
    assert.deepStrictEqual(Exit.succeed({ a: 1 }), Exit.succeed({ a: 1 }))
    differ(Option.some({ a: [1, 2] }), Option.some({ a: [1, 3] }))
  })
})
