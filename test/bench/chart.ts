/**
 * Draws the bench results as two self-contained SVG bar charts for the README: `test/bench/results/sqlite.svg`
 * (better-sqlite3, SqliteStore, Keyv + WAL and Keyv as shipped, on get, set and setMany per entry) and `memory.svg`
 * (Map, Effect.sync(Map) and MemoryStore on get and set). Each chart has one column per store size and one row per
 * workload, with a horizontal bar per target on a shared log scale (Keyv is ~50x slower than the rest) and each bar
 * labelled with its ops/s. The SVG is plain shapes and text in a system font on a white background, with no CSS, no
 * scripts and no fonts to fetch, so GitHub shows it as it is at ~900px wide. `npm run bench` calls `write` after a
 * full run; `npx tsx test/bench/chart.ts` redraws both charts from the committed CSVs. The same bar chart, with its
 * own rows, bars and columns (`writeChart`; columns may name backends instead of sizes), draws the eviction and index
 * sections. The look (font, colours, text helpers, the title block and the SVG document) is exported for the line
 * charts of `lineChart.ts`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Workload } from "./harness.js"

/** One bar: the median throughput of one target on one workload at one store size (a `Report.Row` is one). */
export interface Point {
  readonly size: number
  readonly workload: string
  readonly target: string
  readonly opsPerSec: number
  /** The heading of the bar's column when columns are not store sizes (e.g. a backend). */
  readonly column?: string | undefined
}

/** One target's bars: their colour, and the target's name in the legend. */
export interface Series {
  readonly target: string
  readonly label: string
  readonly color: string
}

/** What one bar chart draws: a row per workload, a bar per series, a column per store size (or `Point.column`). */
export interface Chart {
  /** The file name without `.svg`, the same as the CSV it comes from. */
  readonly name: string
  readonly title: string
  readonly subtitle: string
  /** Top to bottom inside each row, and left to right in the legend. */
  readonly series: ReadonlyArray<Series>
  readonly workloads: ReadonlyArray<string>
  /** What each workload row says under its name. */
  readonly notes: Readonly<Record<string, ReadonlyArray<string>>>
}

/** What each workload row of the core charts (and of the redis and postgres charts) says under its name. */
export const WORKLOAD_NOTES: Record<Workload, ReadonlyArray<string>> = {
  get: ["random hits"],
  set: ["one fresh key", "per call"],
  setMany: ["1000 fresh keys", "per call, per entry"]
}

/** The colour of our stores, and of the floors they are compared with. */
export const OURS = "#2563eb"
export const FLOOR = "#64748b"
/** The colour of a third series (Effect.sync(Map), MemoryStore in the line charts). */
export const THIRD = "#7c3aed"

const CHARTS: ReadonlyArray<Chart> = [
  {
    name: "sqlite",
    title: "SqliteStore vs raw better-sqlite3 vs Keyv",
    subtitle: "Entries per second, median trial, 256-byte values; setMany writes batches of 1000 and counts each entry",
    series: [
      { target: "better-sqlite3", label: "better-sqlite3 (raw floor)", color: FLOOR },
      { target: "SqliteStore", label: "SqliteStore", color: OURS },
      { target: "keyv+WAL", label: "Keyv + WAL", color: "#d97706" },
      { target: "keyv", label: "Keyv (as shipped)", color: "#b91c1c" }
    ],
    workloads: ["get", "set", "setMany"],
    notes: WORKLOAD_NOTES
  },
  {
    name: "memory",
    title: "MemoryStore vs a bare Map",
    subtitle: "Entries per second, median trial, 256-byte values",
    series: [
      { target: "Map", label: "Map (floor)", color: FLOOR },
      { target: "Effect.sync(Map)", label: "Effect.sync(Map)", color: THIRD },
      { target: "MemoryStore", label: "MemoryStore", color: OURS }
    ],
    workloads: ["get", "set"],
    notes: WORKLOAD_NOTES
  }
]

/** The look every chart shares: font, width, ink, muted text and grid colours. */
export const FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif"
export const WIDTH = 900
const LEFT = 140
const RIGHT = 24
const COLUMN_GAP = 36
const BAR = 18
const BAR_GAP = 5
const ROW_GAP = 26
export const INK = "#111827"
export const MUTED = "#6b7280"
export const GRID = "#e5e7eb"

// --- text and numbers ---

/** `s` escaped for SVG text and attributes. */
export const escape = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** A coordinate with at most one decimal. */
export const num = (n: number): string => String(Math.round(n * 10) / 10)

/** A rough width of `s` in a sans-serif font of `size` px, enough to keep labels off each other. */
export const textWidth = (s: string, size: number): number => s.length * size * 0.6

/** Size, anchor, colour and weight of a text. */
export interface TextOptions {
  readonly size?: number
  readonly anchor?: "start" | "middle" | "end"
  readonly fill?: string
  readonly weight?: "bold"
}

/** One SVG text element. */
export const text = (x: number, y: number, content: string, o: TextOptions = {}): string =>
  `<text x="${num(x)}" y="${num(y)}" font-size="${o.size ?? 12}" fill="${o.fill ?? INK}"` +
  (o.anchor !== undefined && o.anchor !== "start" ? ` text-anchor="${o.anchor}"` : "") +
  (o.weight !== undefined ? ` font-weight="${o.weight}"` : "") + `>${escape(content)}</text>`

/** Three significant digits with a K or M suffix: 523, 7.59K, 124K, 8.98M. */
export const compact = (n: number): string => {
  const [divisor, unit] = n >= 999_500 ? [1e6, "M"] : n >= 999.5 ? [1e3, "K"] : [1, ""]
  const v = n / divisor
  return `${v >= 99.95 ? v.toFixed(0) : v >= 9.995 ? v.toFixed(1) : v.toFixed(2)}${unit}`
}

/** A power of ten as an axis label: 100, 1K, 10K, 1M. */
const decadeLabel = (exponent: number): string =>
  exponent >= 6 ? `${10 ** (exponent - 6)}M` : exponent >= 3 ? `${10 ** (exponent - 3)}K` : String(10 ** exponent)

const sizeLabel = (n: number): string => n >= 1000 ? `${(n / 1000).toLocaleString("en-US")}K` : String(n)

// --- scale and layout ---

/** The whole decades around all values: bars start at `10^lo`, and the column's right edge is `10^hi`. */
interface Scale {
  readonly lo: number
  readonly hi: number
}

const scaleOf = (values: ReadonlyArray<number>): Scale => {
  const lo = Math.floor(Math.log10(Math.min(...values)))
  const hi = Math.ceil(Math.log10(Math.max(...values)))
  return { lo, hi: hi > lo ? hi : lo + 1 }
}

/** Where `value` falls across a column `width` px wide. */
const position = (scale: Scale, value: number, width: number): number =>
  Math.max(0, (Math.log10(value) - scale.lo) / (scale.hi - scale.lo)) * width

const rowHeight = (bars: number): number => bars * BAR + (bars - 1) * BAR_GAP

const columnWidth = (columns: number): number => (WIDTH - LEFT - RIGHT - (columns - 1) * COLUMN_GAP) / columns

const columnX = (column: number, width: number): number => LEFT + column * (width + COLUMN_GAP)

// --- pieces of the chart ---

/** Height of a legend line. */
const LEGEND_LINE = 20

/** The legend from `y` on, wrapped onto more lines when it would run past the right edge; and how many lines. */
const legend = (series: ReadonlyArray<Series>, y: number): { readonly svg: string; readonly lines: number } => {
  let x = LEFT
  let line = 0
  const svg = series.map((s) => {
    const width = 20 + textWidth(s.label, 13)
    if (x > LEFT && x + width > WIDTH - RIGHT) {
      x = LEFT
      line++
    }
    const ly = y + line * LEGEND_LINE
    const item = `<rect x="${num(x)}" y="${ly - 11}" width="14" height="14" rx="2" fill="${s.color}"/>` +
      text(x + 20, ly, s.label, { size: 13 })
    x += width + 22
    return item
  }).join("\n")
  return { svg, lines: line + 1 }
}

/** Decade gridlines over the rows of one column, with their labels and the axis title below. */
const axis = (scale: Scale, x: number, width: number, top: number, bottom: number): string => {
  const out: Array<string> = []
  for (let e = scale.lo; e <= scale.hi; e++) {
    const gx = x + position(scale, 10 ** e, width)
    const stroke = e === scale.lo ? "#9ca3af" : GRID
    out.push(`<line x1="${num(gx)}" y1="${top}" x2="${num(gx)}" y2="${bottom}" stroke="${stroke}"/>`)
    const anchor = e === scale.lo ? "start" : e === scale.hi ? "end" : "middle"
    out.push(text(gx, bottom + 16, decadeLabel(e), { size: 11, fill: MUTED, anchor }))
  }
  out.push(text(x + width / 2, bottom + 34, "ops/s, log scale (longer is faster)", { size: 12, anchor: "middle" }))
  return out.join("\n")
}

/** One bar with its ops/s label: after the bar's end, or inside it when it would run past the column. */
const bar = (scale: Scale, value: number, color: string, x: number, y: number, width: number): string => {
  const length = Math.max(2, position(scale, value, width))
  const label = compact(value)
  const outside = length + 5 + textWidth(label, 11.5) <= width
  return `<rect x="${num(x)}" y="${y}" width="${num(length)}" height="${BAR}" rx="2" fill="${color}"/>\n` +
    text(outside ? x + length + 5 : x + length - 5, y + BAR / 2 + 4, label, {
      size: 11.5,
      anchor: outside ? "start" : "end",
      fill: outside ? INK : "#ffffff",
      weight: "bold"
    })
}

/** A workload's name and notes, right-aligned left of the bars and centred on them. */
const rowLabel = (workload: string, notes: ReadonlyArray<string>, top: number, height: number): string => {
  const first = top + height / 2 - (notes.length * 14) / 2 + 4
  return [
    text(LEFT - 14, first, workload, { size: 14, weight: "bold", anchor: "end" }),
    ...notes.map((note, i) => text(LEFT - 14, first + 15 + i * 13, note, { size: 11, fill: MUTED, anchor: "end" }))
  ].join("\n")
}

const columnOf = (p: Point): string => p.column ?? `${sizeLabel(p.size)} entries`

const find = (points: ReadonlyArray<Point>, column: string, workload: string, target: string): Point | undefined =>
  points.find((p) => columnOf(p) === column && p.workload === workload && p.target === target)

/** What every chart says at its top, above its legend. */
export interface Titles {
  readonly title: string
  readonly subtitle: string
}

/** The opening of every chart: the white background, the title, the subtitle and the run's note, at `left`. */
export const heading = (titles: Titles, left: number, height: number, note: string): Array<string> => [
  `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
  text(left, 32, titles.title, { size: 20, weight: "bold" }),
  text(left, 54, titles.subtitle, { size: 12.5, fill: MUTED }),
  ...(note === "" ? [] : [text(left, 72, note, { size: 11, fill: MUTED })])
]

/** A chart's shapes as a standalone SVG document of the shared width, titled for screen readers. */
export const document = (titles: Titles, height: number, shapes: ReadonlyArray<string>): string =>
  [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${num(height)}" ` +
    `viewBox="0 0 ${WIDTH} ${num(height)}" font-family="${FONT}" role="img">`,
    `<title>${escape(`${titles.title}: ${titles.subtitle}`)}</title>`,
    ...shapes,
    "</svg>"
  ].join("\n") + "\n"

/** The chart as an SVG document, or undefined when none of its targets was measured. */
export const render = (chart: Chart, all: ReadonlyArray<Point>, note: string): string | undefined => {
  const points = all.filter((p) => chart.series.some((s) => s.target === p.target) && p.opsPerSec > 0)
  if (points.length === 0) return undefined
  const columns = [...new Set([...points].sort((a, b) => a.size - b.size).map(columnOf))]
  const scale = scaleOf(points.map((p) => p.opsPerSec))
  const width = columnWidth(columns.length)
  const rowH = rowHeight(chart.series.length)
  const key = legend(chart.series, 100)
  const top = 146 + (key.lines - 1) * LEGEND_LINE
  const bottom = top + chart.workloads.length * (rowH + ROW_GAP) - ROW_GAP / 2
  const height = bottom + 52
  const out: Array<string> = [...heading(chart, LEFT, height, note), key.svg]
  columns.forEach((column, c) => {
    const x = columnX(c, width)
    out.push(text(x + width / 2, top - 14, column, { size: 14, weight: "bold", anchor: "middle" }))
    out.push(axis(scale, x, width, top - 6, bottom))
  })
  chart.workloads.forEach((workload, r) => {
    const rowTop = top + r * (rowH + ROW_GAP)
    if (r > 0) {
      const ly = num(rowTop - ROW_GAP / 2)
      out.push(`<line x1="12" y1="${ly}" x2="${WIDTH - 12}" y2="${ly}" stroke="${GRID}" stroke-dasharray="4 4"/>`)
    }
    out.push(rowLabel(workload, chart.notes[workload] ?? [], rowTop, rowH))
    columns.forEach((column, c) => {
      chart.series.forEach((s, i) => {
        const p = find(points, column, workload, s.target)
        if (p !== undefined) {
          out.push(bar(scale, p.opsPerSec, s.color, columnX(c, width), rowTop + i * (BAR + BAR_GAP), width))
        }
      })
    })
  })
  return document(chart, height, out)
}

/** The run the numbers come from, from the `latest.json` metadata: date, Node, CPU. */
export const describe = (meta: Record<string, unknown>): string => {
  const parts: Array<string> = []
  if (typeof meta.date === "string") parts.push(meta.date.slice(0, 10))
  if (typeof meta.node === "string") parts.push(`Node ${meta.node}`)
  if (typeof meta.cpu === "string") {
    parts.push(typeof meta.cores === "number" ? `${meta.cpu}, ${meta.cores} cores` : meta.cpu)
  }
  return parts.join(" · ")
}

/** Writes `svg` as `<name>.svg` into `dir` unless it is undefined (no data); returns the paths written (none or one). */
export const writeSvg = (dir: string, name: string, svg: string | undefined): Array<string> => {
  if (svg === undefined) return []
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${name}.svg`)
  fs.writeFileSync(file, svg)
  return [file]
}

/** Writes `<name>.svg` of one chart into `dir` when it has data; returns the paths written (none or one). */
export const writeChart = (
  dir: string,
  chart: Chart,
  points: ReadonlyArray<Point>,
  meta: Record<string, unknown>
): Array<string> => writeSvg(dir, chart.name, render(chart, points, describe(meta)))

/** Writes `<name>.svg` for each chart of the core section with data into `dir`; returns the paths. */
export const write = (dir: string, points: ReadonlyArray<Point>, meta: Record<string, unknown>): Array<string> =>
  CHARTS.flatMap((chart) => writeChart(dir, chart, points, meta))

// --- standalone: redraw from the committed CSVs ---

/**
 * The points of one results CSV (columns `size`, `workload`, `target`, `ops_per_sec`, and `column` when it names the
 * bar's column; its leading columns hold no commas, so a plain split reads them).
 */
export const readCsv = (file: string, column?: string): Array<Point> => {
  const [header = "", ...lines] = fs.readFileSync(file, "utf8").trim().split("\n")
  const columns = header.split(",")
  const cell = (cells: ReadonlyArray<string>, name: string): string => cells[columns.indexOf(name)] ?? ""
  return lines.map((line) => line.split(",")).map((cells) => ({
    size: Number(cell(cells, "size")),
    workload: cell(cells, "workload"),
    target: cell(cells, "target"),
    opsPerSec: Number(cell(cells, "ops_per_sec")),
    ...(column === undefined ? {} : { column: cell(cells, column) })
  }))
}

/** The metadata of a run from a `<name>.json` file, or nothing when it is absent. */
export const readMeta = (file: string): Record<string, unknown> =>
  fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown> : {}

/** Redraws the bar charts in `dir` from the CSVs and `latest.json` there; returns the paths written. */
export const redraw = (dir: string): Array<string> => {
  const csvs = CHARTS.map((c) => path.join(dir, `${c.name}.csv`)).filter((f) => fs.existsSync(f))
  return write(dir, csvs.flatMap((csv) => readCsv(csv)), readMeta(path.join(dir, "latest.json")))
}

const main = (): void => {
  const written = redraw(path.join(path.dirname(fileURLToPath(import.meta.url)), "results"))
  for (const file of written) console.log(`wrote ${path.relative(process.cwd(), file)}`)
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
