/**
 * Which primitive sets are already behind their store's transaction gate: those `make` guarded, and every set mapped
 * from one of them whose calls all go through the inner, guarded primitives (a namespace's, a wrapper's). `make` does
 * not guard such a set a second time: a call guarded twice would wait for its own transaction region.
 *
 * @internal
 */
import type { Primitives } from "../KeyValueStore.js"

const behindGate = new WeakSet<Primitives>()

/** Records that every call of `p` passes the gate. */
export const mark = (p: Primitives): void => {
  behindGate.add(p)
}

/** Whether `p` is already behind its gate. */
export const isBehindGate = (p: Primitives): boolean => behindGate.has(p)

/** `mapped`, a set whose every call goes through `from`'s: behind the gate when `from` is. */
export const inherit = (from: Primitives, mapped: Primitives): Primitives => {
  if (behindGate.has(from)) behindGate.add(mapped)
  return mapped
}
