/**
 * Draws the scaling, values, batch and churn results as self-contained SVG line charts with the look of the bar charts
 * of `chart.ts` (same width, font, colours, title block and legend): one panel per workload side by side, x on a log
 * scale (store size, value size or batch size) or a linear one (seconds of a run), y on a shared log scale, one line
 * per target with each point (or each chosen point) labelled with its value where the label fits. An optional
 * reference line per panel (e.g. "2x raw") shows a goal.
 * Plain shapes and text on a white background, no CSS, scripts or fonts to fetch.
 */
import * as fs from "node:fs"
import { document, escape, GRID, heading, INK, MUTED, num, text, textWidth, WIDTH, writeSvg } from "./chart.js"

/** One line: a target, drawn in one colour. */
export interface Line {
  readonly target: string
  readonly label: string
  readonly color: string
}

/** One panel: the points of one workload. */
export interface Panel {
  readonly workload: string
  readonly title: string
}

/** One point of one line in one panel. */
export interface Point {
  readonly target: string
  readonly workload: string
  readonly x: number
  readonly y: number
}

/** A dashed line at `factor` times another target's values, labelled at its right end. */
export interface Reference {
  readonly target: string
  readonly factor: number
  readonly label: string
}

/** What to draw and how to label it. */
export interface LineChart {
  /** The file name without `.svg`, the same as the CSV it comes from. */
  readonly name: string
  readonly title: string
  readonly subtitle: string
  readonly lines: ReadonlyArray<Line>
  readonly panels: ReadonlyArray<Panel>
  /** The label of an x value under the axis. */
  readonly xLabel: (x: number) => string
  /** The title under each panel. */
  readonly xTitle: string
  /** The title of the shared y axis (the unit and which way is better). */
  readonly yTitle: string
  /** The label of a point's value. */
  readonly yLabel: (y: number) => string
  readonly reference?: Reference | undefined
  /** x on a linear scale (default: log). */
  readonly linearX?: boolean | undefined
  /** The x values that get a grid line and a label (default: every x of the points). */
  readonly xTicks?: ReadonlyArray<number> | undefined
  /** The points that get a value label and a marker (default: every point). */
  readonly labelled?: ((point: Point) => boolean) | undefined
}

const LEFT = 72
const RIGHT = 24
const PANEL_GAP = 30
const TOP = 146
const PLOT_HEIGHT = 300
const PAD = 22
const LIGHT_GRID = "#f3f4f6"

/** The y range, as powers of ten: from `10^lo` at the bottom to `10^hi` at the top. */
interface Scale {
  readonly lo: number
  readonly hi: number
}

const log = Math.log10

const NICE: ReadonlyArray<number> = [1, 2, 5]

/** The largest of 1, 2 or 5 times a power of ten at most `v`, or the smallest at least `v`. */
const nice = (v: number, direction: "below" | "above"): number => {
  const e = Math.floor(log(v))
  const m = v / 10 ** e
  if (direction === "below") return [...NICE].reverse().find((n) => n <= m * (1 + 1e-9))! * 10 ** e
  const n = NICE.find((n) => n >= m * (1 - 1e-9))
  return n === undefined ? 10 ** (e + 1) : n * 10 ** e
}

/** From the nice value below the smallest value to the nice value above the largest. */
const scaleOf = (values: ReadonlyArray<number>): Scale => {
  const lo = log(nice(Math.min(...values), "below"))
  const hi = log(nice(Math.max(...values), "above"))
  return { lo, hi: hi > lo ? hi : lo + 1 }
}

/** A y-axis tick: 0.5, 2, 50, 1K, 20K, 1M. */
const tick = (v: number): string =>
  v >= 1e6 ? `${v / 1e6}M` : v >= 1e3 ? `${v / 1e3}K` : String(Number(v.toPrecision(2)))

/** The ticks of a y scale: 1, 2 and 5 times each power of ten, or only the powers when it spans many decades. */
const ticks = (scale: Scale): Array<{ readonly value: number; readonly major: boolean }> => {
  const out: Array<{ readonly value: number; readonly major: boolean }> = []
  const steps = scale.hi - scale.lo > 3 ? [1] : NICE
  for (let e = Math.floor(scale.lo); e <= Math.ceil(scale.hi); e++) {
    for (const n of steps) {
      const value = Number((n * 10 ** e).toPrecision(3))
      if (log(value) >= scale.lo - 1e-9 && log(value) <= scale.hi + 1e-9) out.push({ value, major: n === 1 })
    }
  }
  return out
}

const legend = (lines: ReadonlyArray<Line>, reference: Reference | undefined, y: number): string => {
  let x = LEFT
  const items = lines.map((l) => {
    const item = `<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="${l.color}" stroke-width="2.5"/>` +
      `<circle cx="${x + 11}" cy="${y - 4}" r="4" fill="${l.color}" stroke="#ffffff" stroke-width="1.5"/>` +
      text(x + 28, y, l.label, { size: 13 })
    x += 28 + textWidth(l.label, 13) + 22
    return item
  })
  if (reference !== undefined) {
    items.push(
      `<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="#9ca3af" stroke-width="1.5" ` +
        `stroke-dasharray="5 4"/>` + text(x + 28, y, reference.label, { size: 13, fill: MUTED })
    )
  }
  return items.join("\n")
}

interface Box {
  readonly x1: number
  readonly x2: number
  readonly y1: number
  readonly y2: number
}

/** A text with a white outline under its fill, so it stays legible where it crosses a line. */
const halo = (svgText: string): string =>
  svgText.replace("<text ", `<text stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke" `)

const overlaps = (a: Box, b: Box): boolean => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2

/** The chart as an SVG document, or undefined when none of its targets was measured. */
export const render = (chart: LineChart, all: ReadonlyArray<Point>, note: string): string | undefined => {
  const points = all.filter((p) =>
    chart.lines.some((l) => l.target === p.target) && chart.panels.some((w) => w.workload === p.workload) && p.y > 0
  )
  if (points.length === 0) return undefined
  const panels = chart.panels.filter((w) => points.some((p) => p.workload === w.workload))
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b)
  const ref = chart.reference
  const refPoints = ref === undefined ? [] : points.filter((p) => p.target === ref.target)
  const scale = scaleOf([...points.map((p) => p.y), ...refPoints.map((p) => p.y * ref!.factor)])
  const width = (WIDTH - LEFT - RIGHT - (panels.length - 1) * PANEL_GAP) / panels.length
  const bottom = TOP + PLOT_HEIGHT
  const height = bottom + 52
  const xOf = chart.linearX === true ? (x: number) => x : log
  const xLo = xOf(xs[0]!)
  const xSpan = xOf(xs[xs.length - 1]!) - xLo || 1
  const px = (panel: number, x: number) =>
    LEFT + panel * (width + PANEL_GAP) + PAD + ((xOf(x) - xLo) / xSpan) * (width - 2 * PAD)
  const labelled = chart.labelled ?? (() => true)
  const py = (y: number) => bottom - ((log(y) - scale.lo) / (scale.hi - scale.lo)) * PLOT_HEIGHT

  const out: Array<string> = [...heading(chart, LEFT, height, note), legend(chart.lines, ref, 100)]
  const midY = TOP + PLOT_HEIGHT / 2
  out.push(
    `<text x="18" y="${midY}" font-size="12" fill="${INK}" text-anchor="middle" ` +
      `transform="rotate(-90 18 ${midY})">${escape(chart.yTitle)}</text>`
  )
  const yTicks = ticks(scale)
  for (const t of yTicks) {
    const y = py(t.value)
    out.push(text(LEFT - 8, y + 4, tick(t.value), { size: 11, fill: MUTED, anchor: "end" }))
  }

  panels.forEach((panel, c) => {
    const x0 = LEFT + c * (width + PANEL_GAP)
    out.push(text(x0 + width / 2, TOP - 14, panel.title, { size: 14, weight: "bold", anchor: "middle" }))
    yTicks.forEach((t, i) => {
      const y = num(py(t.value))
      const stroke = i === 0 ? "#9ca3af" : t.major ? GRID : LIGHT_GRID
      out.push(`<line x1="${num(x0)}" y1="${y}" x2="${num(x0 + width)}" y2="${y}" stroke="${stroke}"/>`)
    })
    out.push(`<line x1="${num(x0)}" y1="${TOP - 6}" x2="${num(x0)}" y2="${bottom}" stroke="#9ca3af"/>`)
    for (const x of chart.xTicks ?? xs) {
      const gx = num(px(c, x))
      out.push(`<line x1="${gx}" y1="${TOP - 6}" x2="${gx}" y2="${bottom}" stroke="${LIGHT_GRID}"/>`)
      out.push(text(px(c, x), bottom + 16, chart.xLabel(x), { size: 11, fill: MUTED, anchor: "middle" }))
    }
    out.push(text(x0 + width / 2, bottom + 34, chart.xTitle, { size: 12, anchor: "middle" }))

    const mine = points.filter((p) => p.workload === panel.workload)
    if (ref !== undefined) {
      const base = mine.filter((p) => p.target === ref.target).sort((a, b) => a.x - b.x)
      if (base.length > 0) {
        const d = base.map((p, i) => `${i === 0 ? "M" : "L"}${num(px(c, p.x))} ${num(py(p.y * ref.factor))}`)
        out.push(`<path d="${d.join(" ")}" fill="none" stroke="#9ca3af" stroke-width="1.5" stroke-dasharray="5 4"/>`)
      }
    }
    const placed: Array<Box> = []
    const markers: Array<{ readonly p: Point; readonly color: string }> = []
    for (const line of chart.lines) {
      const series = mine.filter((p) => p.target === line.target).sort((a, b) => a.x - b.x)
      if (series.length === 0) continue
      const d = series.map((p, i) => `${i === 0 ? "M" : "L"}${num(px(c, p.x))} ${num(py(p.y))}`)
      out.push(
        `<path d="${d.join(" ")}" fill="none" stroke="${line.color}" stroke-width="2.5" stroke-linejoin="round"/>`
      )
      for (const p of series.filter(labelled)) {
        markers.push({ p, color: line.color })
        placed.push({ x1: px(c, p.x) - 5, x2: px(c, p.x) + 5, y1: py(p.y) - 5, y2: py(p.y) + 5 })
      }
    }
    for (const { color, p } of markers) {
      out.push(
        `<circle cx="${num(px(c, p.x))}" cy="${num(py(p.y))}" r="4" fill="${color}" stroke="#ffffff" ` +
          `stroke-width="1.5"/>`
      )
    }
    // Labels: above the point, else below, else right or left of it; left out when none is free.
    for (const { color, p } of [...markers].sort((a, b) => b.p.y - a.p.y)) {
      const label = chart.yLabel(p.y)
      const w = textWidth(label, 10.5)
      const x = px(c, p.x)
      const y = py(p.y)
      const candidates = [
        { x, y: y - 9, anchor: "middle" as const },
        { x, y: y + 18, anchor: "middle" as const },
        { x: x + 8, y: y + 4, anchor: "start" as const },
        { x: x - 8, y: y + 4, anchor: "end" as const }
      ]
      for (const at of candidates) {
        const x1 = at.anchor === "middle" ? at.x - w / 2 : at.anchor === "start" ? at.x : at.x - w
        const box = { x1, x2: x1 + w, y1: at.y - 10, y2: at.y + 2 }
        const inside = box.x1 >= x0 && box.x2 <= x0 + width && box.y1 >= TOP - 6 && box.y2 <= bottom
        if (!inside || placed.some((b) => overlaps(b, box))) continue
        placed.push(box)
        out.push(halo(text(at.x, at.y, label, { size: 10.5, fill: color, weight: "bold", anchor: at.anchor })))
        break
      }
    }
  })
  return document(chart, height, out)
}

/** Writes `<name>.svg` into `dir` when the chart has data; returns the paths written. */
export const write = (
  dir: string,
  chart: LineChart,
  points: ReadonlyArray<Point>,
  note: string
): Array<string> => writeSvg(dir, chart.name, render(chart, points, note))

/**
 * The points of a results CSV: `x` and `y` name the columns of the point's coordinates (the leading columns hold no
 * commas, so a plain split reads them).
 */
export const readCsv = (file: string, x: string, y: string): Array<Point> => {
  const [header = "", ...lines] = fs.readFileSync(file, "utf8").trim().split("\n")
  const columns = header.split(",")
  const cell = (cells: ReadonlyArray<string>, name: string): string => cells[columns.indexOf(name)] ?? ""
  return lines.map((line) => line.split(",")).map((cells) => ({
    target: cell(cells, "target"),
    workload: cell(cells, "workload"),
    x: Number(cell(cells, x)),
    y: Number(cell(cells, y))
  }))
}
