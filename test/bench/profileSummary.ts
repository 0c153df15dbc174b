/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time and the most
 * inclusive time, as milliseconds and percent of the profile, so a bench MISS can be traced to where its time goes.
 * Usage: `npx tsx test/bench/profileSummary.ts <file.cpuprofile> [top=25] [filter]`, where `filter` keeps only
 * samples whose stack contains a frame matching it (e.g. `drivers/effect.ts` to look at the timed loops only).
 * tsx strips whitespace from TypeScript it loads, so every frame of a `.ts` file sits on line 1; frames are mapped
 * back to source lines by transforming the file again the way tsx does (esbuild, minified whitespace, source map).
 */
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import { SourceMapConsumer } from "source-map-js"

interface Node {
  readonly id: number
  readonly callFrame: {
    readonly functionName: string
    readonly url: string
    readonly lineNumber: number
    readonly columnNumber: number
  }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<Node>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const maps = new Map<string, SourceMapConsumer | undefined>()

/** The source map of a TypeScript file as tsx would load it, or undefined when it cannot be rebuilt. */
const sourceMap = (file: string): SourceMapConsumer | undefined => {
  if (!maps.has(file)) {
    try {
      const { map } = esbuild.transformSync(fs.readFileSync(file, "utf8"), {
        loader: "ts",
        format: "esm",
        target: `node${process.versions.node}`,
        sourcemap: "external",
        minifyWhitespace: true,
        keepNames: true
      })
      maps.set(file, new SourceMapConsumer(JSON.parse(map)))
    } catch {
      maps.set(file, undefined)
    }
  }
  return maps.get(file)
}

const sourceLine = (file: string, line: number, column: number): number => {
  if (!file.endsWith(".ts")) return line + 1
  const original = sourceMap(file)?.originalPositionFor({ line: line + 1, column })
  return original?.line ?? line + 1
}

const frameName = (node: Node): string => {
  const { columnNumber, functionName, lineNumber, url } = node.callFrame
  const file = url.replace(/^file:\/\//, "")
  const short = file.replace(/^.*\/node_modules\//, "").replace(`${process.cwd()}/`, "")
  return `${functionName || "(anonymous)"} ${short}:${sourceLine(file, lineNumber, columnNumber)}`
}

const parents = (profile: Profile): Map<number, number> => {
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  return parent
}

const stackOf = (id: number, parent: Map<number, number>): Array<number> => {
  const stack: Array<number> = []
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(at)
  return stack
}

const top = (times: Map<string, number>, total: number, n: number): string =>
  [...times].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) =>
    `${(us / 1000).toFixed(1).padStart(9)} ms ${(100 * us / total).toFixed(1).padStart(5)}%  ${name}`
  ).join("\n")

const summarise = (file: string, n: number, filter: string | undefined): string => {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = parents(profile)
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const names = stackOf(id, parent).map((at) => frameName(byId.get(at)!))
    if (filter !== undefined && !names.some((name) => name.includes(filter))) return
    const dt = profile.timeDeltas[i] ?? 0
    total += dt
    self.set(names[0]!, (self.get(names[0]!) ?? 0) + dt)
    for (const name of new Set(names)) inclusive.set(name, (inclusive.get(name) ?? 0) + dt)
  })
  return [
    `${file}: ${(total / 1000).toFixed(0)} ms sampled${filter === undefined ? "" : ` under "${filter}"`}`,
    "",
    "self time:",
    top(self, total, n),
    "",
    "inclusive time:",
    top(inclusive, total, n)
  ].join("\n")
}

const [file, n, filter] = process.argv.slice(2)
if (file === undefined) {
  console.error("usage: profileSummary.ts <file.cpuprofile> [top] [filter]")
  process.exitCode = 1
} else {
  console.log(summarise(file, Number(n ?? 25), filter))
}
