// A line chart as hand-written SVG (no dependency): panels side by side that share a log x axis,
// each with its own log y axis, one line per series, the legend below. Log on both axes because
// the figures it shows span decades (a downtime of 0.05 s beside one of 10 s; dirty rates of 1
// to 100 % a second) and a ratio reads the same anywhere on the chart.

export interface Point { x: number; y: number }

export interface Series {
  name: string
  /** points whose x or y is not a positive number are left out (a log axis has no place for them) */
  points: Point[]
  /** drawn thicker, in black, square markers: the one series the chart is about */
  emphasis?: boolean
  /** said in the legend instead of a line when the series has no points (e.g. "not yet") */
  note?: string
}

export interface Panel { title: string; yLabel: string; series: Series[] }

export interface Chart {
  title: string
  subtitle?: string
  xLabel: string
  /** where the x axis gets its ticks (the measured x values) */
  xTicks: number[]
  panels: Panel[]
}

const PANEL_W = 460
const PANEL_H = 320
/** room for the y tick labels and the y label; for the x labels below; for the panel title */
const MARGIN = { left: 72, right: 24, top: 36, bottom: 52 }
const HEADER_H = 56
const LEGEND_ROW_H = 22
const LEGEND_COLS = 3
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
/** Colour-blind-safe (Okabe-Ito), black kept for the emphasised series. */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#F0E442']
/** Up to this many decades on a y axis, ticks at 1, 2 and 5 of each; beyond, decades only. */
const DENSE_TICK_DECADES = 3

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

const usable = (p: Point): boolean => Number.isFinite(p.x) && Number.isFinite(p.y) && p.x > 0 && p.y > 0

/** A tick label without float noise: 0.05, 0.2, 1, 10, 200. */
export function tickLabel(v: number): string {
  return Number(v.toPrecision(3)).toString()
}

/** Ticks of a log axis covering [lo, hi] (both > 0): 1-2-5 of each decade, or decades only. */
export function logTicks(lo: number, hi: number): number[] {
  const d0 = Math.floor(Math.log10(lo))
  const d1 = Math.ceil(Math.log10(hi))
  const steps = d1 - d0 <= DENSE_TICK_DECADES ? [1, 2, 5] : [1]
  const out: number[] = []
  for (let d = d0; d <= d1; d++) for (const s of steps) out.push(Number((s * 10 ** d).toPrecision(3)))
  return out.filter((v) => v >= lo * 0.999 && v <= hi * 1.001)
}

/** Room above and below the data, so no marker sits on the frame (x of the value, on a log axis). */
const Y_PAD = 1.3

/** The nearest 1-2-5 value at or below (or above) v. */
function snap(v: number, up: boolean): number {
  const d = Math.floor(Math.log10(v))
  const steps = [1, 2, 5, 10].map((s) => s * 10 ** d)
  return up ? steps.find((x) => x >= v * 0.999)! : steps.filter((x) => x <= v * 1.001).pop()!
}

/** The y range of a panel: the data's with some room, widened to 1-2-5 values. */
function yDomain(series: Series[]): [number, number] {
  const ys = series.flatMap((s) => s.points.filter(usable).map((p) => p.y))
  if (ys.length === 0) return [0.1, 10]
  return [snap(Math.min(...ys) / Y_PAD, false), snap(Math.max(...ys) * Y_PAD, true)]
}

const num = (v: number): string => Number(v.toFixed(1)).toString()

export function lineChart(c: Chart): string {
  const colours = new Map<string, string>()
  let k = 0
  for (const s of c.panels.flatMap((p) => p.series)) {
    if (!colours.has(s.name)) colours.set(s.name, s.emphasis ? '#000000' : PALETTE[k++ % PALETTE.length]!)
  }
  const legend = [...new Map(c.panels.flatMap((p) => p.series).map((s) => [s.name, s])).values()]
  const legendRows = Math.ceil(legend.length / LEGEND_COLS)
  const width = c.panels.length * PANEL_W
  const height = HEADER_H + PANEL_H + 16 + legendRows * LEGEND_ROW_H + 12
  const xs = c.xTicks.filter((x) => x > 0)
  const xLo = Math.min(...xs) / 1.4
  const xHi = Math.max(...xs) * 1.4
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`)
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(c.title)}</text>`)
  if (c.subtitle) out.push(`<text x="${width / 2}" y="42" text-anchor="middle" fill="#444444">${escapeXml(c.subtitle)}</text>`)
  c.panels.forEach((panel, i) => {
    const ox = i * PANEL_W + MARGIN.left
    const oy = HEADER_H + MARGIN.top
    const w = PANEL_W - MARGIN.left - MARGIN.right
    const h = PANEL_H - MARGIN.top - MARGIN.bottom
    const [yLo, yHi] = yDomain(panel.series)
    const px = (x: number) => ox + (Math.log(x / xLo) / Math.log(xHi / xLo)) * w
    const py = (y: number) => oy + h - (Math.log(y / yLo) / Math.log(yHi / yLo)) * h
    out.push(`<g class="panel">`)
    out.push(`<text x="${num(ox + w / 2)}" y="${oy - 12}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`)
    out.push(`<rect x="${ox}" y="${oy}" width="${w}" height="${h}" fill="none" stroke="#888888"/>`)
    for (const t of logTicks(yLo, yHi)) {
      const y = num(py(t))
      out.push(`<line x1="${ox}" y1="${y}" x2="${ox + w}" y2="${y}" stroke="#e4e4e4"/>`)
      out.push(`<text x="${ox - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t)}</text>`)
    }
    for (const t of xs) {
      const x = num(px(t))
      out.push(`<line x1="${x}" y1="${oy}" x2="${x}" y2="${oy + h}" stroke="#e4e4e4"/>`)
      out.push(`<text x="${x}" y="${oy + h + 16}" text-anchor="middle">${tickLabel(t)}</text>`)
    }
    out.push(`<text x="${num(ox + w / 2)}" y="${oy + h + 38}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`)
    const ly = num(oy + h / 2)
    out.push(`<text x="${ox - 52}" y="${ly}" text-anchor="middle" transform="rotate(-90 ${ox - 52} ${ly})">${escapeXml(panel.yLabel)}</text>`)
    // the emphasised series last: on top of the others it follows
    for (const s of [...panel.series].sort((a, b) => Number(a.emphasis ?? false) - Number(b.emphasis ?? false))) {
      const pts = s.points.filter(usable).sort((a, b) => a.x - b.x)
      if (pts.length === 0) continue
      const colour = colours.get(s.name)!
      const sw = s.emphasis ? 3.5 : 2
      out.push(`<g class="series" data-name="${escapeXml(s.name)}">`)
      if (pts.length > 1) {
        out.push(`<polyline fill="none" stroke="${colour}" stroke-width="${sw}" points="${pts.map((p) => `${num(px(p.x))},${num(py(p.y))}`).join(' ')}"/>`)
      }
      for (const p of pts) out.push(marker(num(px(p.x)), num(py(p.y)), colour, s.emphasis ?? false))
      out.push(`</g>`)
    }
    out.push(`</g>`)
  })
  const ly0 = HEADER_H + PANEL_H + 16
  const colW = width / LEGEND_COLS
  legend.forEach((s, i) => {
    const x = (i % LEGEND_COLS) * colW + 24
    const y = ly0 + Math.floor(i / LEGEND_COLS) * LEGEND_ROW_H
    const drawn = s.points.some(usable)
    const colour = drawn ? colours.get(s.name)! : '#aaaaaa'
    out.push(`<g class="legend">`)
    if (drawn) {
      out.push(`<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="${colour}" stroke-width="${s.emphasis ? 3.5 : 2}"/>`)
      out.push(marker(String(x + 14), String(y), colour, s.emphasis ?? false))
    }
    const label = drawn ? s.name : `${s.name} (${s.note ?? 'no data'})`
    out.push(`<text x="${x + 36}" y="${y}" dominant-baseline="middle" fill="${drawn ? '#000000' : '#777777'}"${s.emphasis ? ' font-weight="bold"' : ''}>${escapeXml(label)}</text>`)
    out.push(`</g>`)
  })
  out.push(`</svg>`)
  return `${out.join('\n')}\n`
}

function marker(x: string, y: string, colour: string, square: boolean): string {
  return square
    ? `<rect x="${Number(x) - 4.5}" y="${Number(y) - 4.5}" width="9" height="9" fill="${colour}"/>`
    : `<circle cx="${x}" cy="${y}" r="3.5" fill="${colour}"/>`
}
