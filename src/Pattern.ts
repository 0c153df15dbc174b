/**
 * Glob patterns over hierarchical keys such as `users.123.settings.theme`. A store splits keys into segments at its
 * separator (`.` unless configured: one code point other than `*?[]{}\,`), and a compiled `Pattern` carries three
 * things: `matches`, the literal `prefix` every match starts with (an engine turns it into a key range, SQL
 * `key >= prefix AND key < upperBound(prefix)`), and `exhaustive`, set when every key with that prefix matches so an
 * engine may count or remove the range without filtering.
 *
 * | syntax | matches |
 * | --- | --- |
 * | `*` | any run of code points within one segment (never the separator), possibly empty |
 * | `**` as a whole segment | zero or more whole segments, with one adjacent separator (below) |
 * | `**` inside a segment | the same as `*` (`a**b` is `a*b`) |
 * | `?` | exactly one code point other than the separator (an emoji is one code point) |
 * | `[abc]`, `[a-z]` | one code point of the class, never the separator; `]` first is a member; `\` escapes inside |
 * | `[!a]`, `[^a]` | one code point not in the class, never the separator |
 * | `{dev,prod}` | one of the alternatives: sub-patterns that may hold wildcards and nested braces, or be empty |
 * | `\x` | the literal `x` |
 * | anything else | itself, including `,` outside braces and `]` outside a class |
 *
 * A `**` (or a longer run of `*`) is a whole segment when its neighbours are separators or the pattern's ends:
 * `a.**.b` matches `a.b`, `a.x.b`, `a.x.y.b`; `**.b` matches `b`, `x.b`, `x.y.b`; `a.**` matches `a`, `a.x`, `a.x.y`
 * (not `ab`); `**` matches every key. An escaped separator is a separator. Brace alternatives take the boundaries of
 * their braces, so `{a.**,b}` and `x.{**,y}.z` behave as their expansions `a.**` and `x.**.z` do. Only there does a
 * boundary reach across a brace: a `**` right after `}`, right before `{`, or joined to a `*` outside its braces stays
 * within a segment (`{a.,b}**` is `{a.,b}*`, `*{**,a}` is `*{*,a}`).

 * Malformed, reported as `InvalidArgument` with `argument: "pattern"`: an unterminated `[` (so `[]` and `[!]` too), a
 * reversed range (`[z-a]`), an unterminated `{`, a stray `}`, a trailing lone `\`, braces nested deeper than 64
 * levels, a lone surrogate, and a pattern longer than 4096 UTF-16 code units (keys may be of any length).
 *
 * Matching works on code points. A glob compiles to an NFA (alternatives are branches, never expanded into their
 * cross product) whose state sets are cached as a small lazily built DFA: a match costs at most
 * O(key length × pattern size), never backtracks, and costs one table step per character on typical keys. A glob
 * without wildcards compiles to string equality; an exhaustive one to `startsWith`.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Glob from "./internal/glob.js"
import { InvalidArgument } from "./KeyValueStoreError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: "~effect-kv/Pattern" = "~effect-kv/Pattern" as const

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A compiled glob: what it matches, and the literal key range its matches lie in.
 *
 * @example
 * ```ts
 * import { Pattern } from "effect-kv"
 * import { Either } from "effect"
 *
 * const pattern = Either.getOrThrow(Pattern.compile("users.*.settings.**"))
 * pattern.prefix // "users."
 * pattern.matches("users.42.settings.theme") // true
 * ```
 * @since 0.1.0
 * @category models
 */
export interface Pattern {
  readonly [TypeId]: TypeId
  /** The glob as written (for messages), or a description for derived patterns. */
  readonly source: string
  readonly separator: string
  /**
   * Literal text every matching key starts with: engines turn it into a key range (SQL
   * `key >= prefix AND key < upperBound(prefix)`).
   */
  readonly prefix: string
  /**
   * True when every key that starts with `prefix` matches, so an engine may count/remove the range without filtering.
   * It may be false for a pattern that happens to accept the whole range in a roundabout way; never the reverse.
   */
  readonly exhaustive: boolean
  /** Whether a whole key matches. Linear time in key length × pattern size; never backtracks exponentially. */
  readonly matches: (key: string) => boolean
}

/**
 * Tells whether a value is a compiled pattern.
 *
 * @example
 * ```ts
 * import { Pattern } from "effect-kv"
 * Pattern.isPattern(Pattern.all()) // true
 * Pattern.isPattern("users.*") // false
 * ```
 * @since 0.1.0
 * @category refinements
 */
export const isPattern = (u: unknown): u is Pattern => Predicate.hasProperty(u, TypeId)

/**
 * The longest glob `compile` accepts, in UTF-16 code units.
 *
 * @example
 * ```ts
 * import { Pattern } from "effect-kv"
 * Pattern.maxLength // 4096
 * ```
 * @since 0.1.0
 * @category constants
 */
export const maxLength = 4096

const make = (
  source: string,
  separator: string,
  prefix: string,
  exhaustive: boolean,
  matches: (key: string) => boolean
): Pattern => ({ [TypeId]: TypeId, source, separator, prefix, exhaustive, matches })

const separatorProblem = (separator: unknown): string | undefined => {
  if (typeof separator !== "string") return `expected a string, got ${typeof separator}`
  const cp = separator.codePointAt(0)
  if (cp === undefined) return "the separator is empty"
  if (separator.length !== (cp > 0xffff ? 2 : 1)) return "expected a single code point"
  if (!separator.isWellFormed()) return "the separator is a lone surrogate"
  if (Glob.specials.includes(separator)) return `${JSON.stringify(separator)} is a glob metacharacter`
  return undefined
}

/**
 * Compiles a glob (see the module documentation for the dialect). A malformed glob, or one longer than 4096 UTF-16
 * code units, is an `InvalidArgument` with `argument: "pattern"` and `method` set to the store operation that
 * received it (`"compile"` by default); a separator that is not one code point outside `*?[]{}\,` is one with
 * `argument: "separator"`.
 *
 * @example
 * ```ts
 * import { Pattern } from "effect-kv"
 * import { Either } from "effect"
 *
 * const pattern = Either.getOrThrow(Pattern.compile("app:{dev,prod}:**", { separator: ":" }))
 * pattern.matches("app:dev:cache:42") // true
 * pattern.matches("app:test") // false
 * Either.isLeft(Pattern.compile("users.[z-a]")) // true
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const compile = (
  source: string,
  options?: { readonly separator?: string | undefined; readonly method?: string | undefined }
): Either.Either<Pattern, InvalidArgument> => {
  const separator = options?.separator ?? "."
  const method = options?.method ?? "compile"
  const problem = separatorProblem(separator)
  if (problem !== undefined) {
    return Either.left(new InvalidArgument({ method, argument: "separator", reason: problem }))
  }
  const invalid = (reason: string) => Either.left(new InvalidArgument({ method, argument: "pattern", reason }))
  if (typeof source !== "string") return invalid(`expected a string, got ${typeof source}`)
  if (source.length > maxLength) {
    return invalid(`the pattern is ${source.length} UTF-16 code units long, the limit is ${maxLength}`)
  }
  if (!source.isWellFormed()) return invalid("the pattern contains a lone surrogate")
  const compiled = Glob.compile(source, separator.codePointAt(0)!)
  if (typeof compiled === "string") return invalid(compiled)
  return Either.right(make(source, separator, compiled.prefix, compiled.exhaustive, compiled.matches))
}

const always = () => true

/**
 * The pattern that matches every key (the glob `**`). The separator is only recorded: nothing depends on it.
 *
 * @example
 * ```ts
 * import { Pattern } from "effect-kv"
 * Pattern.all().matches("any.key") // true
 * Pattern.all(":").separator // ":"
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const all = (separator?: string): Pattern => make("**", separator ?? ".", "", true, always)

/**
 * Escapes text so that it matches itself literally: `compile(escape(s))` matches `s` and nothing else.
 *
 * @example
 * ```ts
 * import { Pattern } from "effect-kv"
 * Pattern.escape("price[usd]*") // "price\\[usd\\]\\*"
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const escape = (text: string): string => text.replace(/[*?[\]{}\\,]/g, "\\$&")

/**
 * The keys `prefix + k` for which `pattern.matches(k)`: how a namespace scopes a pattern to its own keys.
 *
 * @example
 * ```ts
 * import { Pattern } from "effect-kv"
 * import { Either } from "effect"
 *
 * const scoped = Pattern.within("tenant1:", Either.getOrThrow(Pattern.compile("users.*")))
 * scoped.prefix // "tenant1:users."
 * scoped.matches("tenant1:users.42") // true
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const within = (prefix: string, pattern: Pattern): Pattern => {
  const full = prefix + pattern.prefix
  const inner = pattern.matches
  const offset = prefix.length
  return make(
    `within(${JSON.stringify(prefix)}, ${pattern.source})`,
    pattern.separator,
    full,
    pattern.exhaustive,
    pattern.exhaustive ? (key) => key.startsWith(full) : (key) => key.startsWith(prefix) && inner(key.slice(offset))
  )
}

/**
 * The smallest string greater, in code point order (= UTF-8 byte order), than every string that starts with
 * `prefix`: the last code point incremented (skipping the surrogates D800–DFFF; trailing U+10FFFF are dropped first).
 * `None` when `prefix` is empty or only U+10FFFF, since no string is above all of them.
 *
 * @example
 * ```ts
 * import { Pattern } from "effect-kv"
 * Pattern.upperBound("users.") // Option.some("users/")
 * Pattern.upperBound("") // Option.none()
 * ```
 * @since 0.1.0
 * @category utils
 */
export const upperBound = (prefix: string): Option.Option<string> => {
  const points = Array.from(prefix)
  while (points.length > 0 && points[points.length - 1] === "\u{10FFFF}") points.pop()
  const last = points.pop()
  if (last === undefined) return Option.none()
  const cp = last.codePointAt(0)! + 1
  return Option.some(points.join("") + String.fromCodePoint(cp === 0xd800 ? 0xe000 : cp))
}

/**
 * Compares two strings in UTF-8 byte order (= code point order), not JavaScript's UTF-16 order: -1, 0 or 1. The two
 * differ only where a character above U+FFFF meets one in U+E000–U+FFFF.
 *
 * @example
 * ```ts
 * import { Pattern } from "effect-kv"
 * "\u{1F600}" < "\uFFFD" // true in UTF-16 order
 * Pattern.compareKeys("\u{1F600}", "\uFFFD") // 1
 * ```
 * @since 0.1.0
 * @category utils
 */
export const compareKeys = (a: string, b: string): number => {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) {
      if (x < 0xd800 || y < 0xd800) return x < y ? -1 : 1
      // both at or above U+D800: surrogates (code points above U+FFFF) sort after U+E000–U+FFFF
      return (x < 0xe000 ? x + 0x2000 : x - 0x800) < (y < 0xe000 ? y + 0x2000 : y - 0x800) ? -1 : 1
    }
  }
  return a.length < b.length ? -1 : 1
}
