/**
 * Byte helpers shared by the contract suite, the model test and backend tests. Stores may hand back `Buffer`s (which
 * are `Uint8Array`s) or plain `Uint8Array`s, possibly views into a larger buffer, so values are compared by content
 * and by length, never by identity or class.
 */
import { assert } from "@effect/vitest"
import * as Option from "effect/Option"

/** The UTF-8 bytes of a string. */
export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

/** Lower-case hex of the bytes (short and printable in assertion messages). */
export const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")

/** Whether two byte sequences have the same content. */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength &&
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

const describeBytes = (bytes: Uint8Array): string =>
  bytes.byteLength <= 64 ? `<${hex(bytes)}>` : `<${bytes.byteLength} bytes, ${hex(bytes.subarray(0, 32))}...>`

/** Asserts that `actual` is a `Uint8Array` with the content of `expected` (a string stands for its UTF-8 bytes). */
export const assertBytes = (actual: unknown, expected: Uint8Array | string, message?: string): void => {
  assert.instanceOf(actual, Uint8Array, message)
  const want = typeof expected === "string" ? utf8(expected) : expected
  const got = actual as Uint8Array
  if (!sameBytes(got, want)) {
    assert.fail(
      `${message === undefined ? "" : `${message}: `}expected ${describeBytes(want)}, got ${describeBytes(got)}`
    )
  }
}

/** Asserts that an optional value is present with the content of `expected`. */
export const assertSomeBytes = (
  actual: Option.Option<Uint8Array>,
  expected: Uint8Array | string,
  message?: string
): void => {
  if (Option.isNone(actual)) {
    assert.fail(`${message === undefined ? "" : `${message}: `}expected a value, got none`)
  } else {
    assertBytes(actual.value, expected, message)
  }
}

/** Every byte value 0..255 once, in order. */
export const allBytes: Uint8Array = Uint8Array.from({ length: 256 }, (_, i) => i)

/** A deterministic, non-repeating-looking byte pattern of the given length. */
export const patternBytes = (length: number): Uint8Array => {
  const out = new Uint8Array(length)
  let x = 0x2545f491
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}
