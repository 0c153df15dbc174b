/**
 * Enumeration and patterns in `make`: `keys`, `entries` and `getPattern` page through the engine's ordered key range
 * by cursor (`scanKeys`/`scanEntries`), filtering each page with the pattern's matcher; `countPattern`,
 * `removePattern` and `removeTag` use the engine's range statements when the pattern needs no filter. Also the
 * range helpers a namespace's `clear` and `size` are made of (`removeMatching`, `countMatching`).
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { KeyRange, Primitives, ScanRange, Service } from "../../KeyValueStore.js"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import { InvalidArgument, Unsupported } from "../../KeyValueStoreError.js"
import * as Pattern from "../../Pattern.js"
import * as validate from "../validate.js"
import { deferred, named } from "./arguments.js"
import type { Core } from "./core.js"

/** Keys per page of an enumeration. */
export const KEY_PAGE = 1000
/** Entries per page of an enumeration with values (values may be large). */
export const ENTRY_PAGE = 100

/**
 * Removes the live keys of `range` that `matches` accepts (all of them when `undefined`): in one engine statement
 * when the backend has `removeRange` and no filter is needed, otherwise page by page through `scanKeys`. Errors name
 * `method`.
 */
export const removeMatching = (
  p: Primitives,
  method: string,
  range: KeyRange,
  matches: ((key: string) => boolean) | undefined,
  now: number
): Effect.Effect<number, KeyValueStoreError> => {
  if (matches === undefined && p.removeRange) return named(p.removeRange(range, now), method)
  const prefix = range.prefix
  const scan = p.scanKeys
  if (scan === undefined) return Effect.fail(new Unsupported({ method, backend: p.backend }))
  const removeKeys = (keys: ReadonlyArray<string>): Effect.Effect<number, KeyValueStoreError> =>
    p.removeMany
      ? p.removeMany(keys, now)
      : Effect.reduce(keys, 0, (n, key) => Effect.map(p.remove(key, now), (removed) => removed ? n + 1 : n))
  const page = (after: string | undefined, total: number): Effect.Effect<number, KeyValueStoreError> =>
    Effect.flatMap(scan({ prefix, after, limit: KEY_PAGE }, now), (keys) => {
      const matched = matches === undefined ? keys : keys.filter(matches)
      const removed = matched.length === 0 ? Effect.succeed(0) : removeKeys(matched)
      return Effect.flatMap(
        removed,
        (n) => keys.length < KEY_PAGE ? Effect.succeed(total + n) : page(keys[keys.length - 1], total + n)
      )
    })
  return named(page(range.after, 0), method)
}

/** Number of live keys of `range`: counted by the engine, or page by page through `scanKeys`. Errors name `method`. */
export const countMatching = (
  p: Primitives,
  method: string,
  range: KeyRange,
  now: number
): Effect.Effect<number, KeyValueStoreError> => {
  if (p.countRange) return named(p.countRange(range, now), method)
  const scan = p.scanKeys
  if (scan === undefined) return Effect.fail(new Unsupported({ method, backend: p.backend }))
  const page = (after: string | undefined, total: number): Effect.Effect<number, KeyValueStoreError> =>
    Effect.flatMap(
      scan({ prefix: range.prefix, after, limit: KEY_PAGE }, now),
      (keys) =>
        keys.length < KEY_PAGE ? Effect.succeed(total + keys.length) : page(keys[keys.length - 1], total + keys.length)
    )
  return named(page(range.after, 0), method)
}

const keyOfRow = (row: readonly [string, Uint8Array]) => row[0]

/** The enumeration and pattern operations of the store of `core`. */
export const operations = (
  core: Core
): Pick<Service, "keys" | "entries" | "getPattern" | "countPattern" | "removePattern" | "removeTag"> => {
  const { backend, counters, p, separator, unsupported, withNow } = core

  // `keys` and `entries` take an optional pattern (every key); the pattern operations require one: `removePattern()`
  // removing everything by mistake would be the worst answer to a missing argument.
  const patternOf = (
    method: string,
    pattern: string | Pattern.Pattern | undefined
  ): Pattern.Pattern | InvalidArgument => {
    if (pattern === undefined) {
      return method === "keys" || method === "entries"
        ? Pattern.all(separator)
        : new InvalidArgument({ method, argument: "pattern", reason: "expected a string or a Pattern, got undefined" })
    }
    if (Pattern.isPattern(pattern)) {
      return pattern.separator === separator ? pattern : new InvalidArgument({
        method,
        argument: "pattern",
        reason: `compiled for separator ${JSON.stringify(pattern.separator)}, the store's is ${
          JSON.stringify(separator)
        }`
      })
    }
    if (typeof pattern !== "string") {
      return new InvalidArgument({
        method,
        argument: "pattern",
        reason: `expected a string or a Pattern, got ${validate.show(pattern)}`
      })
    }
    return Either.merge(Pattern.compile(pattern, { separator, method }))
  }

  // Pages through the engine's key range by cursor, filtering each page with the pattern's matcher.
  const enumerate = <R>(
    method: string,
    pattern: string | Pattern.Pattern | undefined,
    scan: ((range: ScanRange, now: number) => Effect.Effect<ReadonlyArray<R>, KeyValueStoreError>) | undefined,
    keyOf: (row: R) => string,
    limit: number
  ): Stream.Stream<R, KeyValueStoreError> => {
    const compiled = patternOf(method, pattern)
    if (compiled instanceof InvalidArgument) return Stream.fail(compiled)
    if (scan === undefined) return Stream.fail(new Unsupported({ method, backend }))
    const { exhaustive, matches, prefix } = compiled
    return Stream.paginateChunkEffect(
      undefined as string | undefined,
      (after) =>
        withNow(method, undefined, (now) =>
          Effect.map(named(scan({ prefix, after, limit }, now), method), (rows) => {
            const page = exhaustive ? rows : rows.filter((row) => matches(keyOf(row)))
            const last = rows.length < limit ? undefined : rows[rows.length - 1]
            return [
              Chunk.unsafeFromArray(page),
              last === undefined ? Option.none<string | undefined>() : Option.some(keyOf(last))
            ] as const
          }))
    )
  }

  const removePattern: Service["removePattern"] = (pattern) => {
    const compiled = patternOf("removePattern", pattern)
    if (compiled instanceof InvalidArgument) return Effect.fail(compiled)
    return withNow("removePattern", undefined, (now) =>
      Effect.map(
        removeMatching(
          p,
          "removePattern",
          { prefix: compiled.prefix, after: undefined },
          compiled.exhaustive ? undefined : compiled.matches,
          now
        ),
        (n) => {
          counters.removes += n
          return n
        }
      ))
  }

  return {
    keys: (pattern) => Stream.suspend(() => enumerate("keys", pattern, p.scanKeys, identity, KEY_PAGE)),
    entries: (pattern) => Stream.suspend(() => enumerate("entries", pattern, p.scanEntries, keyOfRow, ENTRY_PAGE)),
    getPattern: (pattern) =>
      Stream.suspend(() => enumerate("getPattern", pattern, p.scanEntries, keyOfRow, ENTRY_PAGE)),
    countPattern: deferred((pattern: string | Pattern.Pattern) => {
      const compiled = patternOf("countPattern", pattern)
      if (compiled instanceof InvalidArgument) return Effect.fail(compiled)
      if (compiled.exhaustive && p.countRange) {
        return withNow(
          "countPattern",
          undefined,
          (now) => named(p.countRange!({ prefix: compiled.prefix, after: undefined }, now), "countPattern")
        )
      }
      return Stream.runCount(enumerate("countPattern", compiled, p.scanKeys, identity, KEY_PAGE))
    }),
    removePattern: deferred(removePattern),
    removeTag: (tag) => {
      const tagError = validate.checkTag("removeTag", tag)
      if (tagError) return Effect.fail(tagError)
      return p.removeTag
        ? withNow("removeTag", undefined, (now) =>
          Effect.map(named(p.removeTag!(tag, now), "removeTag"), (n) => {
            counters.removes += n
            return n
          }))
        : unsupported("removeTag")
    }
  }
}
