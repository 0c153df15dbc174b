/**
 * The batch operations of `make`: `getMany`, `setMany` and `removeMany`, each checked whole before the engine is
 * touched, then one call of the backend's batch primitive (one transaction or round trip) or, without one, the
 * single-key primitives in turn. A fenced batch needs the backend's batch primitive: it is one atomic step or nothing.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { Service, SetOptions, Value, WriteEntry } from "../../KeyValueStore.js"
import { InvalidArgument } from "../../KeyValueStoreError.js"
import * as validate from "../validate.js"
import { checkWrite, fenced, fenceOf, isError } from "./arguments.js"
import type { Core } from "./core.js"

/** The batch operations of the store of `core`. */
export const operations = (core: Core): Pick<Service, "getMany" | "setMany" | "removeMany"> => {
  const { counters, countRead, maxKeyBytes, p, unsupported, withNow, withNowSync } = core
  const counted = <A>(found: Array<Option.Option<A>>): Array<Option.Option<A>> => {
    for (const option of found) countRead(option)
    return found
  }
  return {
    getMany: (keys) =>
      Effect.suspend(() => {
        const list = validate.checkBatch("getMany", "keys", keys)
        if (list instanceof InvalidArgument) return Effect.fail(list)
        for (const key of list) {
          const error = validate.checkKey("getMany", key, maxKeyBytes)
          if (error) return Effect.fail(error)
        }
        const checked = list as Array<string>
        const slow = () =>
          withNow("getMany", undefined, (now) =>
            Effect.map(
              p.getMany ? p.getMany(checked, now) : Effect.forEach(checked, (key) => p.get(key, now)),
              counted
            ))
        // The backend's synchronous batch, in the step that reads the clock, for a fiber the gate admits.
        const fast = p.unsafe?.getMany
        return fast === undefined
          ? slow()
          : withNowSync("getMany", undefined, (now) => counted(fast(checked, now)), slow)
      }),
    setMany: (entries, batch) =>
      withNow("setMany", undefined, (now) => {
        const items = validate.checkBatch("setMany", "entries", entries)
        if (items instanceof InvalidArgument) return Effect.fail(items)
        const checked: Array<WriteEntry> = []
        for (const item of items) {
          if (!Array.isArray(item) || item.length < 2 || item.length > 3) {
            return Effect.fail(
              new InvalidArgument({
                method: "setMany",
                argument: "entries",
                reason: `each entry must be an array [key, value] or [key, value, options], got ${validate.show(item)}`
              })
            )
          }
          const [key, value, options] = item as [string, Value, SetOptions | undefined]
          const entry = checkWrite(core, "setMany", key, value, options, now)
          if (isError(entry)) return Effect.fail(entry)
          if (options?.fence !== undefined) {
            return Effect.fail(
              new InvalidArgument({
                method: "setMany",
                key,
                argument: "fence",
                reason: "a batch has one fence, given in setMany's own options, not in an entry's"
              })
            )
          }
          checked.push({ key, value: entry.value, write: entry.write })
        }
        const lock = batch?.fence
        const fence = fenceOf(core, "setMany", undefined, lock)
        if (isError(fence)) return Effect.fail(fence)
        // A fenced batch is one atomic step of the backend, or nothing.
        if (fence !== undefined && !p.setMany) return unsupported("setMany")
        return Effect.map(
          p.setMany
            ? fenced(p.setMany(checked, now, fence), lock)
            : Effect.forEach(checked, (entry) => p.set(entry.key, entry.value, entry.write, now), { discard: true }),
          () => {
            counters.writes += checked.length
          }
        )
      }),
    removeMany: (keys, batch) =>
      Effect.suspend(() => {
        const list = validate.checkBatch("removeMany", "keys", keys)
        if (list instanceof InvalidArgument) return Effect.fail(list)
        for (const key of list) {
          const error = validate.checkKey("removeMany", key, maxKeyBytes)
          if (error) return Effect.fail(error)
        }
        const checked = list as Array<string>
        const lock = batch?.fence
        const fence = fenceOf(core, "removeMany", undefined, lock)
        if (isError(fence)) return Effect.fail(fence)
        if (fence !== undefined && !p.removeMany) return unsupported("removeMany")
        return withNow("removeMany", undefined, (now) =>
          Effect.map(
            p.removeMany
              ? fenced(p.removeMany(checked, now, fence), lock)
              : Effect.reduce(checked, 0, (n, key) => Effect.map(p.remove(key, now), (removed) => removed ? n + 1 : n)),
            (n) => {
              counters.removes += n
              return n
            }
          ))
      })
  }
}
