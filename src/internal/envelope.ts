/**
 * The envelope of typed values: `0xC1`, the codec id (one byte), the schema version (unsigned LEB128, at most
 * 2^32 - 1), then the codec's payload. `0xC1` can start neither valid UTF-8 nor valid MessagePack, so text, JSON or
 * MessagePack written without an envelope is never mistaken for one.
 *
 * @internal
 */

/** @internal */
export const MAGIC = 0xc1

/** @internal */
export const MAX_VERSION = 0xffff_ffff

/** @internal */
export interface Header {
  readonly codec: number
  readonly version: number
  /** Where the payload starts. */
  readonly offset: number
}

/** @internal */
export const header = (codec: number, version: number): Uint8Array => {
  const out = [MAGIC, codec]
  let v = version
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return Uint8Array.from(out)
}

/** @internal */
export const wrap = (head: Uint8Array, payload: Uint8Array): Uint8Array => {
  const out = new Uint8Array(head.byteLength + payload.byteLength)
  out.set(head, 0)
  out.set(payload, head.byteLength)
  return out
}

/** The header of `bytes`, or `undefined` when they are not an envelope. @internal */
export const read = (bytes: Uint8Array): Header | undefined => {
  if (bytes.byteLength < 3 || bytes[0] !== MAGIC) return undefined
  const codec = bytes[1]!
  let version = 0
  let scale = 1
  for (let i = 2; i < bytes.byteLength && i < 7; i++) {
    const byte = bytes[i]!
    version += (byte & 0x7f) * scale
    if (byte < 0x80) return version > MAX_VERSION ? undefined : { codec, version, offset: i + 1 }
    scale *= 0x80
  }
  return undefined
}
