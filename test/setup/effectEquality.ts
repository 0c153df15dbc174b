/**
 * Vitest setup: makes chai's deep equality (`assert.deepStrictEqual`, `expect(...).to.eql`) tell Effect's data types
 * apart. Option, Either, Exit and the other Effect values are iterable (for `yield*`), and chai's `deep-eql` compares
 * iterables by what they yield: every Option yields one opaque wrapper, so `Option.none()` deeply equalled
 * `Option.some(1)` and a test comparing them could not fail. Here a value carrying Effect's `Equal` mark is compared by
 * its prototype (its kind: `Some` vs `None`, `Left` vs `Right`, `Success` vs `Failure`) and then by its own fields,
 * deeply, with the same rule all the way down.
 */
import * as Equal from "effect/Equal"
import { chai } from "vitest"

const isEffectData = (u: unknown): u is object =>
  typeof u === "object" && u !== null && Equal.symbol in u && Symbol.iterator in u

// Own fields, without the stack traces Effect attaches to some values.
const fields = (u: object): Record<PropertyKey, unknown> => {
  const out: Record<PropertyKey, unknown> = {}
  for (const key of Reflect.ownKeys(u)) {
    if (key === "trace" || key === "stack") continue
    out[key] = (u as Record<PropertyKey, unknown>)[key]
  }
  return out
}

const comparator = (left: unknown, right: unknown): boolean | null => {
  if (!isEffectData(left) && !isEffectData(right)) return null
  if (!isEffectData(left) || !isEffectData(right)) return false
  if (Object.getPrototypeOf(left) !== Object.getPrototypeOf(right)) return false
  return chai.util.eql(fields(left), fields(right), { comparator })
}

chai.config.deepEqual = (left: unknown, right: unknown) => chai.util.eql(left, right, { comparator })
