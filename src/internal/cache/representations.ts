/**
 * The value representation of each typed store, looked up by the store: `Memoize` keeps its results in the typed
 * store envelope (codec id, schema version, payload) by reading them through the very representation a `TypedStore`
 * uses, rather than a second encoding.
 *
 * @internal
 */
import type { Representation } from "./getOrSet.js"

const registry = new WeakMap<object, Representation<any>>()

/** @internal */
export const register = <T extends object, A>(typed: T, representation: Representation<A>): T => {
  registry.set(typed, representation)
  return typed
}

/** The representation of a typed store built by `TypedStore.make`. @internal */
export const of = <A>(typed: object): Representation<A> => {
  const found = registry.get(typed)
  if (found === undefined) throw new Error("not a typed store built by TypedStore.make")
  return found
}
