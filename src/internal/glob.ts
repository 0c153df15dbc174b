/**
 * The glob engine behind `Pattern`: a parser from the glob dialect to a small syntax tree, a Thompson construction of
 * an NFA from that tree (brace alternatives become epsilon branches, never a cross product), and a matcher that
 * simulates the NFA one code point at a time. The state sets it meets are cached as a lazily built DFA, capped so
 * memory stays bounded; past the cap it keeps simulating the NFA directly. Nothing backtracks, so a match costs at
 * most O(key length × pattern size).
 *
 * @internal
 */

const STAR = 0x2a
const QUESTION = 0x3f
const LBRACKET = 0x5b
const RBRACKET = 0x5d
const LBRACE = 0x7b
const RBRACE = 0x7d
const BACKSLASH = 0x5c
const COMMA = 0x2c
const BANG = 0x21
const CARET = 0x5e
const DASH = 0x2d

/**
 * Brace groups nested deeper than this are refused (it bounds the parser's and the builder's recursion).
 *
 * @internal
 */
export const maxBraceDepth = 64

/** @internal */
export const specials = "*?[]{}\\,"

type Node =
  | { readonly _tag: "Char"; readonly cp: number }
  | { readonly _tag: "Any" }
  | { readonly _tag: "Class"; readonly negated: boolean; readonly ranges: ReadonlyArray<number> }
  | { readonly _tag: "Star"; readonly double: boolean }
  | { readonly _tag: "Group"; readonly alternatives: ReadonlyArray<ReadonlyArray<Node>> }

class Malformed {
  constructor(readonly reason: string) {}
}

const anyNode: Node = { _tag: "Any" }

const parse = (source: string): ReadonlyArray<Node> => {
  const cps: Array<number> = []
  const offsets: Array<number> = []
  for (let k = 0; k < source.length;) {
    const cp = source.codePointAt(k)!
    cps.push(cp)
    offsets.push(k)
    k += cp > 0xffff ? 2 : 1
  }
  const n = cps.length
  let i = 0
  const at = (k: number): number => offsets[k] ?? source.length

  const member = (start: number): number => {
    const c = cps[i]!
    if (c !== BACKSLASH) {
      i++
      return c
    }
    if (i + 1 >= n) throw new Malformed(`unterminated character class "[" at index ${at(start)}`)
    i += 2
    return cps[i - 1]!
  }

  const characterClass = (): Node => {
    const start = i++
    let negated = false
    if (cps[i] === BANG || cps[i] === CARET) {
      negated = true
      i++
    }
    const ranges: Array<number> = []
    for (let first = true;; first = false) {
      if (i >= n) {
        throw new Malformed(
          `unterminated character class "[" at index ${at(start)} (a "]" right after "[" or "[!" is a member)`
        )
      }
      if (cps[i] === RBRACKET && !first) {
        i++
        return { _tag: "Class", negated, ranges }
      }
      const lo = member(start)
      if (cps[i] === DASH && i + 1 < n && cps[i + 1] !== RBRACKET) {
        i++
        const hi = member(start)
        if (hi < lo) {
          throw new Malformed(
            `reversed range ${JSON.stringify(String.fromCodePoint(lo) + "-" + String.fromCodePoint(hi))} in the ` +
              `character class at index ${at(start)}`
          )
        }
        ranges.push(lo, hi)
      } else {
        ranges.push(lo, lo)
      }
    }
  }

  const sequence = (depth: number): Array<Node> => {
    const nodes: Array<Node> = []
    while (i < n) {
      const c = cps[i]!
      if (c === BACKSLASH) {
        if (i + 1 >= n) throw new Malformed(`trailing backslash at index ${at(i)}`)
        nodes.push({ _tag: "Char", cp: cps[i + 1]! })
        i += 2
      } else if (c === STAR) {
        const start = i
        while (cps[i] === STAR) i++
        nodes.push({ _tag: "Star", double: i - start > 1 })
      } else if (c === QUESTION) {
        nodes.push(anyNode)
        i++
      } else if (c === LBRACKET) {
        nodes.push(characterClass())
      } else if (c === LBRACE) {
        const start = i++
        if (depth >= maxBraceDepth) {
          throw new Malformed(`braces nested deeper than ${maxBraceDepth} levels at index ${at(start)}`)
        }
        const alternatives = [sequence(depth + 1)]
        while (cps[i] === COMMA) {
          i++
          alternatives.push(sequence(depth + 1))
        }
        if (cps[i] !== RBRACE) throw new Malformed(`unterminated "{" at index ${at(start)}`)
        i++
        nodes.push({ _tag: "Group", alternatives })
      } else if (depth > 0 && (c === COMMA || c === RBRACE)) {
        break
      } else if (c === RBRACE) {
        throw new Malformed(`stray "}" at index ${at(i)}`)
      } else {
        nodes.push({ _tag: "Char", cp: c })
        i++
      }
    }
    return nodes
  }

  return sequence(0)
}

// Transition kinds. A state has at most one consuming transition (to `next`) plus any number of epsilon edges.
const NONE = 0
const LIT = 1
const NOT_SEP = 2
const ANY = 3
const CLASS = 4
const NEG_CLASS = 5

// Boundary context of a `**`: not a segment boundary, the pattern's start or end, or a separator. On the left, a
// separator is given as the state its transition leaves from (>= 0), so a globstar can bypass it.
const NOT_BOUNDARY = -2
const EDGE = -1
const SEPARATOR = 0

class Builder {
  readonly trans: Array<number> = []
  readonly arg: Array<number> = []
  readonly next: Array<number> = []
  readonly eps: Array<Array<number>> = []
  readonly classes: Array<ReadonlyArray<number>> = []
  constructor(readonly separator: number) {}

  state(): number {
    this.trans.push(NONE)
    this.arg.push(0)
    this.next.push(-1)
    this.eps.push([])
    return this.trans.length - 1
  }

  edge(from: number, kind: number, arg: number, to: number): void {
    this.trans[from] = kind
    this.arg[from] = arg
    this.next[from] = to
  }

  // `from` loops on `kind`, then leaves by epsilon to the returned state.
  loop(from: number, kind: number): number {
    this.edge(from, kind, 0, from)
    const exit = this.state()
    this.eps[from]!.push(exit)
    return exit
  }

  /**
   * Builds `nodes` from the fresh state `start`; returns the fresh exit state and the states that must be linked,
   * by epsilon, past the separator that follows the sequence (a globstar at the start absorbing that separator).
   */
  sequence(
    nodes: ReadonlyArray<Node>,
    start: number,
    left: number,
    right: number
  ): { readonly end: number; readonly pending: Array<number> } {
    let cur = start
    let pending: Array<number> = []
    let sepEntry = NOT_BOUNDARY
    const isSep = (node: Node | undefined) => node !== undefined && node._tag === "Char" && node.cp === this.separator
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i]!
      const l = i === 0 ? left : isSep(nodes[i - 1]) ? sepEntry : NOT_BOUNDARY
      const r = i === nodes.length - 1 ? right : isSep(nodes[i + 1]) ? SEPARATOR : NOT_BOUNDARY
      switch (node._tag) {
        case "Char": {
          const to = this.state()
          this.edge(cur, LIT, node.cp, to)
          if (node.cp === this.separator) {
            for (const p of pending) this.eps[p]!.push(to)
            pending = []
            sepEntry = cur
          }
          cur = to
          break
        }
        case "Any": {
          const to = this.state()
          this.edge(cur, NOT_SEP, 0, to)
          cur = to
          break
        }
        case "Class": {
          const to = this.state()
          this.classes.push(node.ranges)
          this.edge(cur, node.negated ? NEG_CLASS : CLASS, this.classes.length - 1, to)
          cur = to
          break
        }
        case "Star": {
          if (!node.double || l === NOT_BOUNDARY || r === NOT_BOUNDARY) {
            cur = this.loop(cur, NOT_SEP)
            break
          }
          // A globstar matches any text, or nothing together with one adjacent separator. With separators on both
          // sides it may take either (in `**.**.a` both must take the one on their right, in `a.**.**` the left one).
          if (r === SEPARATOR) {
            // `** sep` is `(any* sep)?`: the entry is linked past the separator once that is built.
            const body = this.state()
            this.eps[cur]!.push(body)
            pending.push(cur)
            cur = this.loop(body, ANY)
          } else {
            cur = this.loop(cur, ANY)
          }
          // `sep **` is `(sep any*)?`: bypass the separator that leads here.
          if (l >= 0) this.eps[l]!.push(cur)
          break
        }
        case "Group": {
          const exit = this.state()
          for (const alternative of node.alternatives) {
            const entry = this.state()
            this.eps[cur]!.push(entry)
            const built = this.sequence(alternative, entry, l, r)
            this.eps[built.end]!.push(exit)
            for (const p of built.pending) pending.push(p)
          }
          cur = exit
          break
        }
      }
    }
    return { end: cur, pending }
  }
}

const MAX_DFA_STATES = 256
const MAX_WIDE_EDGES = 256
const UNIVERSAL = 1
const DEAD = 2
const MATCHED = -2
const REJECTED = -1

/** @internal */
export interface Compiled {
  readonly prefix: string
  readonly exhaustive: boolean
  readonly matches: (key: string) => boolean
}

class Automaton {
  readonly trans: Int32Array
  readonly arg: Int32Array
  readonly next: Int32Array
  readonly epsStart: Int32Array
  readonly eps: Int32Array
  readonly classes: ReadonlyArray<ReadonlyArray<number>>
  readonly accept: number
  readonly separator: number
  readonly universal: Uint8Array

  // scratch for closures
  readonly mark: Int32Array
  readonly stack: Int32Array
  readonly roots: Int32Array
  gen = 0

  // The lazy DFA. The ASCII transitions of state d are table[d * 128 + cp]: 0 while unknown, else the target + 1.
  readonly sets: Array<Int32Array> = []
  readonly accepting: Array<boolean> = []
  readonly wide: Array<Map<number, number>> = []
  readonly index = new Map<string, number>()
  flags = new Uint8Array(8)
  table = new Int32Array(8 * 128)
  cursor = 0

  constructor(builder: Builder, accept: number) {
    const size = builder.trans.length
    this.trans = Int32Array.from(builder.trans)
    this.arg = Int32Array.from(builder.arg)
    this.next = Int32Array.from(builder.next)
    this.epsStart = new Int32Array(size + 1)
    let edges = 0
    for (let s = 0; s < size; s++) {
      this.epsStart[s] = edges
      edges += builder.eps[s]!.length
    }
    this.epsStart[size] = edges
    this.eps = new Int32Array(edges)
    for (let s = 0, k = 0; s < size; s++) for (const e of builder.eps[s]!) this.eps[k++] = e
    this.classes = builder.classes
    this.accept = accept
    this.separator = builder.separator
    this.mark = new Int32Array(size)
    this.stack = new Int32Array(size)
    this.roots = new Int32Array(size)
    this.universal = new Uint8Array(size)
    for (let s = 0; s < size; s++) {
      if (this.trans[s] === ANY && this.next[s] === s) {
        this.roots[0] = s
        this.universal[s] = this.close(1).accepting ? 1 : 0
      }
    }
  }

  admits(s: number, cp: number): boolean {
    switch (this.trans[s]) {
      case LIT:
        return this.arg[s] === cp
      case NOT_SEP:
        return cp !== this.separator
      case ANY:
        return true
      case CLASS:
        return cp !== this.separator && inRanges(this.classes[this.arg[s]!]!, cp)
      case NEG_CLASS:
        return cp !== this.separator && !inRanges(this.classes[this.arg[s]!]!, cp)
      default:
        return false
    }
  }

  // The consuming states reachable by epsilon from `this.roots[0..count)`, in discovery order.
  close(count: number): { readonly states: Int32Array; readonly accepting: boolean } {
    if (this.gen === 0x7fffffff) {
      this.mark.fill(0)
      this.gen = 0
    }
    const gen = ++this.gen
    const { epsStart, eps, mark, stack } = this
    let top = 0
    for (let k = 0; k < count; k++) {
      const s = this.roots[k]!
      if (mark[s] !== gen) {
        mark[s] = gen
        stack[top++] = s
      }
    }
    const out: Array<number> = []
    let accepting = false
    while (top > 0) {
      const s = stack[--top]!
      if (s === this.accept) accepting = true
      if (this.trans[s] !== NONE) out.push(s)
      for (let k = epsStart[s]!, end = epsStart[s + 1]!; k < end; k++) {
        const e = eps[k]!
        if (mark[e] !== gen) {
          mark[e] = gen
          stack[top++] = e
        }
      }
    }
    return { states: Int32Array.from(out), accepting }
  }

  step(states: Int32Array, cp: number): { readonly states: Int32Array; readonly accepting: boolean } {
    let count = 0
    for (let k = 0; k < states.length; k++) {
      const s = states[k]!
      if (this.admits(s, cp)) this.roots[count++] = this.next[s]!
    }
    return this.close(count)
  }

  // The DFA state of a state set, created on first sight; -1 past the cap.
  intern(states: Int32Array, accepting: boolean): number {
    const sorted = states.length < 2 ? states : Int32Array.from(states).sort()
    const key = (accepting ? "+" : "-") + sorted.join(",")
    const known = this.index.get(key)
    if (known !== undefined) return known
    const id = this.sets.length
    if (id >= MAX_DFA_STATES) return -1
    if (id >= this.flags.length) {
      const flags = new Uint8Array(this.flags.length * 2)
      flags.set(this.flags)
      this.flags = flags
      const table = new Int32Array(this.table.length * 2)
      table.set(this.table)
      this.table = table
    }
    let universal = false
    for (let k = 0; k < sorted.length; k++) if (this.universal[sorted[k]!] === 1) universal = true
    this.sets.push(sorted)
    this.accepting.push(accepting)
    this.wide.push(new Map())
    this.flags[id] = universal ? UNIVERSAL : sorted.length === 0 ? DEAD : 0
    this.index.set(key, id)
    return id
  }

  // Runs the key from `from` starting in DFA state `start`: one table look-up per ASCII character once cached.
  run(key: string, from: number, start: number): boolean {
    const n = key.length
    let d = start
    let i = from
    while (i < n) {
      const flag = this.flags[d]!
      if (flag !== 0) return flag === UNIVERSAL
      const cp = key.charCodeAt(i)
      if (cp < 128) {
        const cached = this.table[d * 128 + cp]!
        if (cached > 0) {
          d = cached - 1
          i++
          continue
        }
      }
      d = this.miss(key, i, d)
      if (d < 0) return d === MATCHED
      i = this.cursor
    }
    return this.accepting[d]!
  }

  // A transition not in the table: computes it from the NFA and caches it. Past the DFA cap the rest of the key
  // runs on the NFA alone and the result (MATCHED or REJECTED) is returned instead of a state.
  miss(key: string, i: number, d: number): number {
    const n = key.length
    let cp = key.charCodeAt(i++)
    if (cp >= 0xd800 && cp <= 0xdbff && i < n) {
      const low = key.charCodeAt(i)
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = ((cp - 0xd800) << 10) + (low - 0xdc00) + 0x10000
        i++
      }
    }
    this.cursor = i
    const wide = this.wide[d]!
    if (cp >= 128) {
      const cached = wide.get(cp)
      if (cached !== undefined) return cached
    }
    let set = this.step(this.sets[d]!, cp)
    const id = this.intern(set.states, set.accepting)
    if (id >= 0) {
      if (cp < 128) this.table[d * 128 + cp] = id + 1
      else if (wide.size < MAX_WIDE_EDGES) wide.set(cp, id)
      return id
    }
    while (i < n) {
      if (set.states.length === 0) return REJECTED
      cp = key.charCodeAt(i++)
      if (cp >= 0xd800 && cp <= 0xdbff && i < n) {
        const low = key.charCodeAt(i)
        if (low >= 0xdc00 && low <= 0xdfff) {
          cp = ((cp - 0xd800) << 10) + (low - 0xdc00) + 0x10000
          i++
        }
      }
      set = this.step(set.states, cp)
    }
    return set.accepting ? MATCHED : REJECTED
  }
}

const inRanges = (ranges: ReadonlyArray<number>, cp: number): boolean => {
  for (let k = 0; k < ranges.length; k += 2) {
    if (cp >= ranges[k]! && cp <= ranges[k + 1]!) return true
  }
  return false
}

/**
 * Compiles a glob for the separator code point `separator`; a string is the reason it is malformed. The source must
 * already be checked for length and well-formedness.
 *
 * @internal
 */
export const compile = (source: string, separator: number): Compiled | string => {
  let nodes: ReadonlyArray<Node>
  try {
    nodes = parse(source)
  } catch (error) {
    if (error instanceof Malformed) return error.reason
    throw error
  }
  const builder = new Builder(separator)
  const start = builder.state()
  const { end } = builder.sequence(nodes, start, EDGE, EDGE)
  const automaton = new Automaton(builder, end)

  automaton.roots[0] = start
  let set = automaton.close(1)
  let prefix = ""
  while (!set.accepting && set.states.length > 0) {
    const first = set.states[0]!
    if (automaton.trans[first] !== LIT) break
    const cp = automaton.arg[first]!
    let same = true
    for (let k = 1; k < set.states.length && same; k++) {
      const s = set.states[k]!
      same = automaton.trans[s] === LIT && automaton.arg[s] === cp
    }
    if (!same) break
    prefix += String.fromCodePoint(cp)
    set = automaton.step(set.states, cp)
  }

  if (set.states.length === 0) {
    const accepting = set.accepting
    return { prefix, exhaustive: false, matches: (key) => accepting && key === prefix }
  }
  const initial = automaton.intern(set.states, set.accepting)
  const exhaustive = automaton.flags[initial] === UNIVERSAL
  if (exhaustive) return { prefix, exhaustive, matches: (key) => key.startsWith(prefix) }
  const from = prefix.length
  const suffix = literalSuffix(nodes, separator)
  return {
    prefix,
    exhaustive,
    matches: suffix === ""
      ? (key) => key.startsWith(prefix) && automaton.run(key, from, initial)
      : (key) => key.startsWith(prefix) && key.endsWith(suffix) && automaton.run(key, from, initial)
  }
}

// Literal text every match ends with (a quick rejection before the automaton runs): the trailing literals of the
// pattern, less a leading separator that a globstar before them may take.
const literalSuffix = (nodes: ReadonlyArray<Node>, separator: number): string => {
  let k = nodes.length
  while (k > 0 && nodes[k - 1]!._tag === "Char") k--
  const points: Array<number> = []
  for (let j = k; j < nodes.length; j++) points.push((nodes[j] as { readonly cp: number }).cp)
  if (k > 0 && points[0] === separator) points.shift()
  return String.fromCodePoint(...points)
}
