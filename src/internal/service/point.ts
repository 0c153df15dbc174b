/**
 * The operations of `make` on one key that are not read-modify-write steps: `get`, `getString`, `getOrFail`,
 * `getEntry`, `set`, `has`, `remove` and `ttl`. `get`, `set`, `has` and `remove` take the backend's synchronous fast
 * path (`Primitives.unsafe`) when it has one, in the same step that reads the `Clock`; a fenced write, or a fiber the
 * transaction gate does not admit yet, takes the effectful primitive.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Service, SetOptions, Value } from "../../KeyValueStore.js"
import { KeyNotFound } from "../../KeyValueStoreError.js"
import * as validate from "../validate.js"
import { checkWrite, fenced, fenceOf, isError, named, remaining } from "./arguments.js"
import type { Core } from "./core.js"

// `ignoreBOM`: a leading U+FEFF is part of the value, never silently dropped.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true })

/** The single-key operations of the store of `core`. */
export const operations = (
  core: Core
): Pick<Service, "get" | "getString" | "getOrFail" | "getEntry" | "set" | "has" | "remove" | "ttl"> => {
  const { counters, countRead, countRemoved, keyed, keyedSync, maxKeyBytes, p, withNow, withNowKeyed } = core
  const fast = p.unsafe
  const has = p.has ?? ((key: string, now: number) => Effect.map(p.get(key, now), Option.isSome))

  const fastGet = (key: string, _b: undefined, _c: undefined, now: number) => countRead(fast!.get(key, now))
  // `get` under the name of the public method calling it (`get`, `getString`), which its errors and span carry.
  const getAs = (method: string): Service["get"] => {
    const slow: Service["get"] = (key) =>
      keyed(method, key, (now) => Effect.map(named(p.get(key, now), method), countRead))
    return fast
      ? (key) => {
        const error = validate.checkKey(method, key, maxKeyBytes)
        if (error !== undefined) return Effect.fail(error)
        return withNowKeyed(method, key, undefined, undefined, fastGet, slow)
      }
      : slow
  }
  const get = getAs("get")
  const getStringBytes = getAs("getString")
  const getOrFailBytes = getAs("getOrFail")

  const slowSet: Service["set"] = (key, value, options) =>
    withNow("set", key, (now) => {
      const checked = checkWrite(core, "set", key, value, options, now)
      if (isError(checked)) return Effect.fail(checked)
      const lock = options?.fence
      const fence = fenceOf(core, "set", key, lock)
      if (isError(fence)) return Effect.fail(fence)
      return Effect.map(fenced(p.set(key, checked.value, checked.write, now, fence), lock), () => {
        counters.writes++
      })
    })
  // The fast path checks and writes in the step that reads the clock: the bytes reach the engine (which keeps its
  // own copy) before the caller runs again, so they are not copied here.
  const fastSet = (key: string, value: Value, options: SetOptions | undefined, now: number): void => {
    const checked = checkWrite(core, "set", key, value, options, now, false)
    if (isError(checked)) throw checked
    fast!.set(key, checked.value, checked.write, now)
    counters.writes++
  }
  // A fenced write takes the primitive: the fast path has no fence.
  const set: Service["set"] = fast
    ? (key, value, options) =>
      options?.fence !== undefined
        ? slowSet(key, value, options)
        : withNowKeyed("set", key, value, options, fastSet, slowSet)
    : slowSet

  const slowRemove: Service["remove"] = (key, options) =>
    keyed("remove", key, (now) => {
      const lock = options?.fence
      const fence = fenceOf(core, "remove", key, lock)
      if (isError(fence)) return Effect.fail(fence)
      return Effect.map(fenced(p.remove(key, now, fence), lock), countRemoved)
    })
  const remove: Service["remove"] = fast
    ? (key, options) =>
      options?.fence !== undefined ? slowRemove(key, options) : keyedSync(
        "remove",
        key,
        (now) => countRemoved(fast.remove(key, now)),
        (now) => Effect.map(p.remove(key, now), countRemoved)
      )
    : slowRemove

  return {
    get,
    getString: (key) => Effect.map(getStringBytes(key), Option.map((bytes) => decoder.decode(bytes))),
    getOrFail: (key) =>
      Effect.flatMap(getOrFailBytes(key), (found) =>
        found._tag === "Some"
          ? Effect.succeed(found.value)
          : Effect.fail(new KeyNotFound({ method: "getOrFail", key }))),
    getEntry: (key) => keyed("getEntry", key, (now) => Effect.map(p.getEntry(key, now), countRead)),
    set,
    has: fast ?
      (key) => keyedSync("has", key, (now) => fast.has(key, now), (now) => has(key, now)) :
      (key) => keyed("has", key, (now) => has(key, now)),
    remove,
    ttl: (key) =>
      keyed("ttl", key, (now) => {
        const expiry = p.expiresAt
          ? p.expiresAt(key, now)
          : Effect.map(
            p.getEntry(key, now),
            Option.map((entry) => Option.getOrNull(entry.expiresAt))
          )
        return Effect.map(expiry, Option.map((at) => remaining(at, now)))
      })
  }
}
