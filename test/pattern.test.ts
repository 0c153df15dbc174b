/**
 * Pattern: every rule of the glob dialect with matching and non-matching keys, custom separators (including an astral
 * one), every malformed glob as an `InvalidArgument`, pathological globs that a backtracking matcher would take
 * minutes on, the literal prefix and `exhaustive` flag, `escape`, `within`, `upperBound` and `compareKeys`, and a
 * property test of `matches` against a small backtracking reference that expands braces and matches segment by
 * segment.
 */
import { assert, describe, it } from "@effect/vitest"
import { Pattern } from "effect-kv"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"

const compile = (source: string, separator?: string): Pattern.Pattern =>
  Either.getOrThrow(Pattern.compile(source, { separator }))

const check = (
  source: string,
  yes: ReadonlyArray<string>,
  no: ReadonlyArray<string>,
  separator?: string
): void => {
  const pattern = compile(source, separator)
  for (const key of yes) assert.isTrue(pattern.matches(key), `${source} should match ${JSON.stringify(key)}`)
  for (const key of no) assert.isFalse(pattern.matches(key), `${source} should not match ${JSON.stringify(key)}`)
}

// --- the reference model: expand braces, then match segment by segment with backtracking ------------------------

const expand = (pattern: string): Array<string> => {
  const open = pattern.indexOf("{")
  if (open < 0) return [pattern]
  const alternatives: Array<string> = []
  let depth = 0
  let from = open + 1
  for (let i = open + 1; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === "{") depth++
    else if (c === "}" && depth > 0) depth--
    else if ((c === "," || c === "}") && depth === 0) {
      alternatives.push(pattern.slice(from, i))
      from = i + 1
      if (c === "}") {
        const before = pattern.slice(0, open)
        const after = pattern.slice(i + 1)
        return alternatives.flatMap((alternative) => expand(before + alternative + after))
      }
    }
  }
  throw new Error(`unbalanced ${pattern}`)
}

const segmentMatches = (pattern: ReadonlyArray<string>, key: ReadonlyArray<string>, i = 0, j = 0): boolean => {
  if (i === pattern.length) return j === key.length
  const p = pattern[i]
  if (p === "*") {
    return segmentMatches(pattern, key, i + 1, j) || (j < key.length && segmentMatches(pattern, key, i, j + 1))
  }
  return j < key.length && (p === "?" || p === key[j]) && segmentMatches(pattern, key, i + 1, j + 1)
}

const reference = (pattern: string, key: string, separator: string): boolean =>
  expand(pattern).some((expansion) => {
    const ps = expansion.split(separator)
    const ks = key.split(separator)
    const go = (i: number, j: number): boolean => {
      if (i === ps.length) return j === ks.length
      const p = ps[i]!
      if (/^\*\*+$/.test(p)) return go(i + 1, j) || (j < ks.length && go(i, j + 1))
      return j < ks.length && segmentMatches(Array.from(p), Array.from(ks[j]!)) && go(i + 1, j + 1)
    }
    return go(0, 0)
  })

const separators = [".", "/", ":", "\u{1F600}"] as const

// Random concatenations of the tiny dialect; `.` stands for the separator.
const tokenPattern = FastCheck.array(FastCheck.constantFrom("a", "b", ".", "*", "**", "?", "{a,b}"), { maxLength: 7 })
  .map((tokens) => tokens.join(""))

// Patterns whose brace groups are whole segments, with alternatives that are segment lists holding `**` too.
const { segmentPattern } = FastCheck.letrec((tie) => ({
  word: FastCheck.array(FastCheck.constantFrom("a", "b", "*", "?"), { minLength: 1, maxLength: 3 }).map((atoms) =>
    atoms.join("")
  ),
  segment: FastCheck.oneof(
    { depthSize: "small", withCrossShrink: true },
    tie("word"),
    FastCheck.constant("**"),
    FastCheck.array(FastCheck.array(tie("segment"), { maxLength: 2 }).map((segments) => segments.join(".")), {
      minLength: 1,
      maxLength: 3
    }).map((alternatives) => `{${alternatives.join(",")}}`)
  ),
  segmentPattern: FastCheck.array(tie("segment"), { minLength: 1, maxLength: 4 }).map((segments) =>
    (segments as Array<string>).join(".")
  )
}))

const tinyKey = FastCheck.array(FastCheck.constantFrom("a", "b", "."), { maxLength: 8 }).map((chars) => chars.join(""))

const withSeparator = (text: string, separator: string) => text.replaceAll(".", separator)

// Strings rich in the code points where UTF-16 and code point order disagree.
const trickyChar = FastCheck.oneof(
  FastCheck.constantFrom("a", "b", "\u{10FFFF}", "\uFFFF", "\uE000", "\uD7FF", "\u{10000}", "\u{1F600}", "\u0000"),
  FastCheck.fullUnicode()
)
const trickyString = FastCheck.array(trickyChar, { maxLength: 6 }).map((chars) => chars.join(""))

describe("Pattern", () => {
  describe("dialect", () => {
    it("literal text matches itself and nothing else", () => {
      check("users.123.settings.theme", ["users.123.settings.theme"], [
        "users.123.settings",
        "users.123.settings.themes"
      ])
      check("a,b]c", ["a,b]c"], ["a", "b]c"])
    })

    it("* is any run within one segment", () => {
      check("users.*", ["users.1", "users.", "users.alice"], ["users", "users.1.x", "users1"])
      check("*.theme", ["a.theme", ".theme"], ["a.b.theme", "theme"])
      check("u*s.*.x*", ["us.1.x", "users.42.xyz"], ["users.42", "users.4.2.x", "u.s.1.x"])
      check("*", ["", "abc"], ["a.b", "."])
    })

    it("** as a whole segment spans zero or more segments, at the start, in the middle and at the end", () => {
      check("a.**.b", ["a.b", "a.x.b", "a.x.y.b", "a..b"], ["ab", "a.b.c", "a.xb", "b", "x.a.b"])
      check("**.b", ["b", "x.b", "x.y.b", ".b"], ["xb", "b.c", "x.yb"])
      check("a.**", ["a", "a.x", "a.x.y", "a."], ["ab", "b.a", ""])
      check("**", ["", "a", "a.b.c", "..."], [])
      check("a.**.b.**.c", ["a.b.c", "a.x.b.y.z.c", "a.b.b.c"], ["a.c", "a.bc"])
      check("**.**", ["", "a", "a.b"], [])
      check("a.***.b", ["a.b", "a.x.y.b"], ["ab"])
    })

    it("** inside a segment is *", () => {
      check("a**b", ["ab", "axyb"], ["a.b", "ax.yb"])
      check("a.**b", ["a.b", "a.xb"], ["a.x.b", "a"])
      check("x**.y", ["x.y", "xz.y"], ["x.z.y", "y"])
    })

    it("? is one code point other than the separator", () => {
      check("?", ["a", "\u{1F600}", "\u00E9"], ["", "ab", ".", "\u{1F600}\u{1F600}"])
      check("a.?.c", ["a.b.c", "a.\u{1F600}.c"], ["a..c", "a.bb.c"])
      check("??", ["\u{1F600}x", "\u{1F600}\u{1F601}"], ["\u{1F600}"])
    })

    it("classes: members, ranges, negation, ] first, escapes, never the separator", () => {
      check("[abc]", ["a", "c"], ["d", "", "ab"])
      check("[a-z0-9]x", ["qx", "5x"], ["Qx", "-x"])
      check("[!a]", ["b", "\u{1F600}"], ["a", ".", ""])
      check("[^a-c]", ["d"], ["b", "."])
      check("[]a]", ["]", "a"], ["b"])
      check("[!]a]", ["b"], ["]", "a"])
      check("[a\\]]", ["a", "]"], ["\\"])
      check("[\\!a]", ["!", "a"], ["b"])
      check("[a-]", ["a", "-"], ["b"])
      check("[-a]", ["-", "a"], ["b"])
      check("[.a]", ["a"], ["."])
      check("[\u{1F600}-\u{1F64F}]", ["\u{1F601}"], ["\u{1F650}", "a"])
      check("a.[bc]*.d", ["a.bxyz.d", "a.c.d"], ["a.x.d", "a.b.x.d"])
    })

    it("braces: alternatives with wildcards, nested and empty alternatives", () => {
      check("env.{dev,prod}", ["env.dev", "env.prod"], ["env.test", "env.", "env.devprod"])
      check("{a*,b?}.x", ["a.x", "abc.x", "bz.x"], ["b.x", "bzz.x", "c.x"])
      check("{a,{b,c{d,e}}}", ["a", "b", "cd", "ce"], ["c", "de", "cde"])
      check("a{b,}", ["ab", "a"], ["abb", "b"])
      check("{}", [""], ["a"])
      check("x{,.y}", ["x", "x.y"], ["x.", "xy"])
      check("{a.**,b}", ["a", "a.x", "a.x.y", "b"], ["ab", "b.x"])
      check("x.{**,y}.z", ["x.z", "x.q.z", "x.q.r.z", "x.y.z"], ["xz", "x.yz"])
      check("{**,a}.b", ["b", "q.b", "q.r.b", "a.b"], ["qb", "a"])
      check("{a,b}**", ["a", "axy", "b"], ["a.x", "c"])
      // a boundary reaches across a brace only from the braces' own neighbours
      check("{a.,b}**", ["a.x", "bx"], ["a", "a.x.y"])
      check("*{**,a}", ["x", "xa"], ["a.b"])
      check("**{.x,y}", ["q.x", "qy"], ["x", "q.r.x"])
      check("a,b", ["a,b"], ["a", "b"])
    })

    it("escapes: \\x is the literal x", () => {
      check("a\\*", ["a*"], ["ab", "a"])
      check("\\{a,b\\}", ["{a,b}"], ["a"])
      check("\\\\", ["\\"], [""])
      check("\\?\\[\\]", ["?[]"], ["a[]"])
      check("a\\.**", ["a", "a.x"], ["ax"])
      check("\\a", ["a"], ["\\a"])
    })

    it("custom separators: : and / and an astral one", () => {
      check("app:*:cache", ["app:1:cache"], ["app:1:2:cache"], ":")
      check("app:**", ["app", "app:x:y", "app:x.y"], ["apps"], ":")
      check("a.*", ["a.b", "a.b.c"], ["a.b:c", "a:b"], ":")
      check("a/**/b", ["a/b", "a/x/y/b"], ["ab"], "/")
      check("a.b/*", ["a.b/c.d"], ["a.b/c/d"], "/")
      check("?/[!x]", ["a/b"], ["//b", "a/x"], "/")
      check("a\u{1F600}**", ["a", "a\u{1F600}b\u{1F600}c"], ["ab"], "\u{1F600}")
      check("?", ["."], ["\u{1F600}"], "\u{1F600}")
    })
  })

  describe("malformed globs", () => {
    const malformed: ReadonlyArray<readonly [string, string]> = [
      ["[z-a]", "reversed range"],
      ["a[b-a]", "reversed range"],
      ["[]", "unterminated character class"],
      ["[!]", "unterminated character class"],
      ["[^]", "unterminated character class"],
      ["a[bc", "unterminated character class"],
      ["[a\\", "unterminated character class"],
      ["{a,b", "unterminated \"{\""],
      ["{a,{b}", "unterminated \"{\""],
      ["a}", "stray \"}\""],
      ["{a}}", "stray \"}\""],
      ["a\\", "trailing backslash"],
      ["{".repeat(65) + "}".repeat(65), "nested deeper"],
      ["a\uD800", "lone surrogate"],
      ["a".repeat(4097), "the limit is 4096"]
    ]
    for (const [source, reason] of malformed) {
      it(`${JSON.stringify(source.slice(0, 20))} is an InvalidArgument`, () => {
        const result = Pattern.compile(source, { method: "keys" })
        assert.isTrue(Either.isLeft(result))
        const error = Either.getLeft(result).pipe(Option.getOrThrow)
        assert.strictEqual(error._tag, "InvalidArgument")
        assert.strictEqual(error.argument, "pattern")
        assert.strictEqual(error.method, "keys")
        assert.include(error.reason, reason)
      })
    }

    it("the method defaults to compile; limits are inclusive", () => {
      const error = Either.getLeft(Pattern.compile("[")).pipe(Option.getOrThrow)
      assert.strictEqual(error.method, "compile")
      assert.include(error.message, "invalid pattern")
      assert.isTrue(Either.isRight(Pattern.compile("a".repeat(4096))))
      assert.isTrue(Either.isRight(Pattern.compile("{".repeat(64) + "}".repeat(64))))
    })

    it("a separator that is not one code point outside the metacharacters is refused", () => {
      for (const separator of ["", "ab", "*", "?", "[", "]", "{", "}", ",", "\\", "\uD800"]) {
        const error = Either.getLeft(Pattern.compile("a", { separator })).pipe(Option.getOrThrow)
        assert.strictEqual(error._tag, "InvalidArgument")
        assert.strictEqual(error.argument, "separator")
      }
    })
  })

  describe("pathological globs finish quickly", () => {
    // Keys end with the pattern's literal suffix, so the automaton runs rather than a quick rejection. A backtracking
    // matcher (picomatch 4) takes about a minute on `*a` × 10 + `*b` against 50 characters.
    it("30 stars against a 10 000-character key", () => {
      const started = performance.now()
      const pattern = compile("*a".repeat(30) + "*b")
      assert.isFalse(pattern.matches("a".repeat(10_000) + ".b"))
      assert.isFalse(pattern.matches("a".repeat(10_000)))
      assert.isTrue(pattern.matches("a".repeat(10_000) + "b"))
      assert.isFalse(pattern.matches("a".repeat(20) + "b"))
      assert.isBelow(performance.now() - started, 1000)
    })

    it("{a,b} thirty times compiles without expanding and matches", () => {
      const started = performance.now()
      const pattern = compile("{a,b}".repeat(30))
      assert.isTrue(pattern.matches("ab".repeat(15)))
      assert.isFalse(pattern.matches("ab".repeat(15) + "a"))
      assert.isFalse(pattern.matches("ab".repeat(14) + "c"))
      assert.isBelow(performance.now() - started, 1000)
    })

    it("chains of globstars against long keys without a match", () => {
      const started = performance.now()
      const chain = compile("a/**/".repeat(8) + "b", "/")
      assert.isFalse(chain.matches("a/".repeat(5_000) + "cb"))
      assert.isTrue(chain.matches("a/".repeat(5_000) + "b"))
      const pattern = compile("**.a.".repeat(20) + "b")
      assert.isFalse(pattern.matches("a.".repeat(5_000) + "cb"))
      assert.isTrue(pattern.matches("a.".repeat(5_000) + "b"))
      assert.isBelow(performance.now() - started, 1000)
      const nested = compile("{".repeat(64) + "a*,**." + "}".repeat(64) + "x")
      assert.isTrue(nested.matches("a.b.c.x"))
    })

    it("a pattern whose DFA outgrows the cache still matches correctly", () => {
      // `*a??????????` needs 2^10 DFA states over {a, b}: past the cache the NFA runs directly.
      const pattern = compile("*a" + "?".repeat(10))
      let seed = 7
      for (let round = 0; round < 50; round++) {
        let key = ""
        for (let i = 0; i < 300; i++) {
          seed = (seed * 1103515245 + 12345) % 2147483648
          key += seed % 3 === 0 ? "a" : "b"
        }
        assert.strictEqual(pattern.matches(key), key[key.length - 11] === "a")
      }
    })

    it("a key of a million characters and a maximal pattern", () => {
      assert.isTrue(compile("a.**").matches("a." + "x".repeat(1_000_000)))
      assert.isFalse(compile("a.*.b").matches("a." + "x".repeat(1_000_000)))
      assert.isTrue(compile("?*".repeat(2048)).matches("z".repeat(3000)))
    })
  })

  describe("prefix and exhaustive", () => {
    const cases: ReadonlyArray<readonly [string, string, boolean]> = [
      ["users.123", "users.123", false],
      ["users.*", "users.", false],
      ["a.b.**", "a.b", false],
      ["a.b.*", "a.b.", false],
      ["a.**.b", "a.", false],
      ["**", "", true],
      ["**.b", "", false],
      ["abc**", "abc", false],
      ["abc*", "abc", false],
      ["a?c", "a", false],
      ["a[b]c", "a", false],
      ["{ab,ac}.x", "a", false],
      ["x.{**,y}.z", "x.", false],
      ["a\\*b*", "a*b", false],
      ["{**,a}", "", true],
      ["**.**", "", true],
      ["", "", false]
    ]
    for (const [source, prefix, exhaustive] of cases) {
      it(`${source} has prefix ${JSON.stringify(prefix)}, exhaustive ${exhaustive}`, () => {
        const pattern = compile(source)
        assert.strictEqual(pattern.prefix, prefix)
        assert.strictEqual(pattern.exhaustive, exhaustive)
        assert.strictEqual(pattern.source, source)
        assert.strictEqual(pattern.separator, ".")
      })
    }

    it("every match starts with the prefix; an exhaustive pattern matches every key with it", () => {
      FastCheck.assert(
        FastCheck.property(
          FastCheck.oneof(tokenPattern, segmentPattern),
          FastCheck.constantFrom(...separators),
          tinyKey,
          FastCheck.boolean(),
          (source, separator, rawKey, extend) => {
            const pattern = compile(withSeparator(source, separator), separator)
            const key = extend ? pattern.prefix + withSeparator(rawKey, separator) : withSeparator(rawKey, separator)
            if (pattern.matches(key)) assert.isTrue(key.startsWith(pattern.prefix))
            if (pattern.exhaustive && key.startsWith(pattern.prefix)) assert.isTrue(pattern.matches(key))
          }
        ),
        { numRuns: 3000 }
      )
    })
  })

  describe("matches agrees with a backtracking reference", () => {
    const agree = (patterns: FastCheck.Arbitrary<string>) =>
      FastCheck.assert(
        FastCheck.property(
          patterns,
          FastCheck.constantFrom(...separators),
          FastCheck.array(tinyKey, { minLength: 1, maxLength: 10 }),
          (source, separator, keys) => {
            const glob = withSeparator(source, separator)
            const pattern = compile(glob, separator)
            for (const raw of keys) {
              const key = withSeparator(raw, separator)
              assert.strictEqual(pattern.matches(key), reference(glob, key, separator), `${glob} vs ${key}`)
            }
          }
        ),
        { numRuns: 3000 }
      )

    it("on token soups of a, b, ., *, **, ? and {a,b}", () => agree(tokenPattern))
    it("on segment patterns with **, wildcards and nested braces of segments", () => agree(segmentPattern))
  })

  describe("escape", () => {
    it("an escaped string matches itself and nothing else", () => {
      const text = FastCheck.array(
        FastCheck.oneof(FastCheck.constantFrom(..."*?[]{}\\,.!^-/:", "**", "\u{1F600}"), FastCheck.fullUnicode()),
        { maxLength: 12 }
      ).map((chars) => chars.join(""))
      FastCheck.assert(
        FastCheck.property(text, text, FastCheck.constantFrom(...separators), (s, other, separator) => {
          const pattern = compile(Pattern.escape(s), separator)
          assert.isTrue(pattern.matches(s))
          assert.strictEqual(pattern.prefix, s)
          assert.isFalse(pattern.exhaustive)
          assert.strictEqual(pattern.matches(other), other === s)
          assert.isFalse(pattern.matches(s + "a"))
          if (s.length > 0) assert.isFalse(pattern.matches(s.slice(1)))
        }),
        { numRuns: 2000 }
      )
    })

    it("escapes exactly the metacharacters", () => {
      assert.strictEqual(Pattern.escape("a.b*c?[d]{e,f}\\"), "a.b\\*c\\?\\[d\\]\\{e\\,f\\}\\\\")
    })
  })

  describe("within", () => {
    it("scopes a pattern under a prefix", () => {
      const inner = compile("users.*")
      const scoped = Pattern.within("tenant1:", inner)
      assert.isTrue(Pattern.isPattern(scoped))
      assert.strictEqual(scoped.prefix, "tenant1:users.")
      assert.strictEqual(scoped.separator, ".")
      assert.isFalse(scoped.exhaustive)
      assert.isTrue(scoped.matches("tenant1:users.1"))
      assert.isFalse(scoped.matches("users.1"))
      assert.isFalse(scoped.matches("tenant2:users.1"))
      assert.isFalse(scoped.matches("tenant1:users.1.x"))
      const everything = Pattern.within("ns/", Pattern.all("/"))
      assert.strictEqual(everything.prefix, "ns/")
      assert.isTrue(everything.exhaustive)
      assert.isTrue(everything.matches("ns/a/b"))
      assert.isFalse(everything.matches("n"))
      assert.include(scoped.source, "users.*")
    })

    it("within(p, q).matches(p + k) is q.matches(k), and nothing outside p matches", () => {
      FastCheck.assert(
        FastCheck.property(FastCheck.oneof(tokenPattern, segmentPattern), tinyKey, tinyKey, tinyKey, (s, p, k, o) => {
          const pattern = compile(s)
          const scoped = Pattern.within(p, pattern)
          assert.strictEqual(scoped.prefix, p + pattern.prefix)
          assert.strictEqual(scoped.exhaustive, pattern.exhaustive)
          assert.strictEqual(scoped.matches(p + k), pattern.matches(k))
          if (!o.startsWith(p)) assert.isFalse(scoped.matches(o))
        }),
        { numRuns: 1000 }
      )
    })
  })

  describe("all and isPattern", () => {
    it("all matches every key and is exhaustive", () => {
      const pattern = Pattern.all()
      assert.strictEqual(pattern.prefix, "")
      assert.isTrue(pattern.exhaustive)
      assert.strictEqual(pattern.separator, ".")
      for (const key of ["", "a", "a.b.c", "\u{1F600}"]) assert.isTrue(pattern.matches(key))
      assert.strictEqual(Pattern.all(":").separator, ":")
    })

    it("isPattern recognises compiled patterns only", () => {
      assert.isTrue(Pattern.isPattern(compile("a.*")))
      assert.isFalse(Pattern.isPattern("a.*"))
      assert.isFalse(Pattern.isPattern(null))
      assert.isFalse(Pattern.isPattern({ matches: () => true }))
    })
  })

  describe("upperBound and compareKeys", () => {
    it("increments the last code point, skipping surrogates and dropping trailing U+10FFFF", () => {
      assert.deepStrictEqual(Pattern.upperBound("users."), Option.some("users/"))
      assert.deepStrictEqual(Pattern.upperBound("a\uD7FF"), Option.some("a\uE000"))
      assert.deepStrictEqual(Pattern.upperBound("a\uFFFF"), Option.some("a\u{10000}"))
      assert.deepStrictEqual(Pattern.upperBound("a\u{1F600}"), Option.some("a\u{1F601}"))
      assert.deepStrictEqual(Pattern.upperBound("ab\u{10FFFF}\u{10FFFF}"), Option.some("ac"))
      assert.deepStrictEqual(Pattern.upperBound(""), Option.none())
      assert.deepStrictEqual(Pattern.upperBound("\u{10FFFF}\u{10FFFF}"), Option.none())
    })

    it("every string with the prefix is below the bound; every other string at or above the prefix is not", () => {
      FastCheck.assert(
        FastCheck.property(trickyString, trickyString, FastCheck.boolean(), (p, rest, extend) => {
          const upper = Pattern.upperBound(p)
          const s = extend ? p + rest : rest
          if (Option.isNone(upper)) {
            assert.isTrue(p.length === 0 || /^(\u{10FFFF})+$/u.test(p))
            return
          }
          if (s.startsWith(p)) assert.strictEqual(Pattern.compareKeys(s, upper.value), -1)
          else if (Pattern.compareKeys(s, p) >= 0) assert.isAtLeast(Pattern.compareKeys(s, upper.value), 0)
        }),
        { numRuns: 5000 }
      )
    })

    it("compareKeys agrees with Buffer.compare on UTF-8", () => {
      assert.strictEqual(Pattern.compareKeys("\u{1F600}", "\uFFFD"), 1)
      assert.strictEqual(Pattern.compareKeys("a", "ab"), -1)
      assert.strictEqual(Pattern.compareKeys("ab", "ab"), 0)
      FastCheck.assert(
        FastCheck.property(trickyString, trickyString, (a, b) => {
          assert.strictEqual(Pattern.compareKeys(a, b), Buffer.compare(Buffer.from(a), Buffer.from(b)))
        }),
        { numRuns: 5000 }
      )
    })
  })
})
