/**
 * Whether a value survives a format unchanged: JSON holds null, booleans, finite numbers, strings, arrays and plain
 * objects; MessagePack (as effect-kv configures it) also bigint, undefined, NaN, Uint8Array and Date. Used by the
 * codecs and by entry metadata, so a value a format would silently change is refused when written.
 *
 * @internal
 */
const isPlainObject = (u: object): boolean => {
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const describe = (u: unknown): string => {
  if (typeof u === "number") return `the number ${u}`
  if (typeof u !== "object") return typeof u === "undefined" ? "undefined" : `a ${typeof u}`
  const name = (u as { constructor?: { name?: unknown } } | null)?.constructor?.name
  return typeof name === "string" && name !== "" ? `a ${name}` : "an object with a custom prototype"
}

/** @internal */
export type Problem = readonly [what: string, path: ReadonlyArray<string | number>]

// JSON leaves an undefined property out (accepted); MessagePack would turn a Map or a class instance into a plain
// object, a Set into an array and a lone surrogate into U+FFFD (refused).
const problemIn = (u: unknown, json: boolean, seen: Set<object>): Problem | undefined => {
  switch (typeof u) {
    case "string":
      return json || u.isWellFormed() ? undefined : ["a string with a lone surrogate", []]
    case "boolean":
      return undefined
    case "number":
      return json && !Number.isFinite(u) ? [describe(u), []] : undefined
    case "bigint":
    case "undefined":
      return json ? [describe(u), []] : undefined
    case "object": {
      if (u === null) return undefined
      if (seen.has(u)) return ["a circular reference", []]
      seen.add(u)
      const problem = objectProblem(u, json, seen)
      seen.delete(u)
      return problem
    }
    default:
      return [describe(u), []]
  }
}

const objectProblem = (u: object, json: boolean, seen: Set<object>): Problem | undefined => {
  if (Array.isArray(u)) {
    for (let i = 0; i < u.length; i++) {
      const problem = problemIn(u[i], json, seen)
      if (problem) return [problem[0], [i, ...problem[1]]]
    }
    return undefined
  }
  if (!isPlainObject(u)) {
    return !json && (u instanceof Uint8Array || u instanceof Date) ? undefined : [describe(u), []]
  }
  for (const key in u) {
    const value = (u as Record<string, unknown>)[key]
    if (json && value === undefined) continue
    if (!json && !key.isWellFormed()) return ["a key with a lone surrogate", [key]]
    const problem = problemIn(value, json, seen)
    if (problem) return [problem[0], [key, ...problem[1]]]
  }
  return undefined
}

/** @internal */
export const at = (path: ReadonlyArray<string | number>): string =>
  path.length === 0
    ? ""
    : ` at ${path.map((p) => typeof p === "number" ? `[${p}]` : `[${JSON.stringify(p)}]`).join("")}`

/**
 * The first part of `u` that the format would not give back as it was (JSON when `json`, else MessagePack), with its
 * path; `undefined` when `u` round-trips. Circular references are reported, not followed.
 *
 * @internal
 */
export const problemOf = (u: unknown, json: boolean): Problem | undefined => problemIn(u, json, new Set())
