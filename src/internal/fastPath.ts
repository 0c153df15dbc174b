/**
 * Synchronous twins of the built-in codecs' wire schemas, for typed stores' hot path: the same conversion without the
 * Schema machinery around it. They throw on failure; callers then run the wire schema itself, so every reported
 * error is the Schema's.
 *
 * @internal
 */

/** @internal */
export interface FastPath {
  readonly encode: (encoded: unknown) => Uint8Array
  readonly decode: (bytes: Uint8Array) => unknown
}

const paths = new WeakMap<object, FastPath>()

/** @internal */
export const register = (codec: object, path: FastPath): void => {
  paths.set(codec, path)
}

/** @internal */
export const get = (codec: object): FastPath | undefined => paths.get(codec)
