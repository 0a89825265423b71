// The hand-written SVG chart: well-formed, every series drawn where its values say (log axes), the
// emphasised one on top and in black, a series without points named in the legend with its note,
// labels escaped, no NaN anywhere.
import t from 'tap'
import { escapeXml, lineChart, logTicks, tickLabel, type Chart } from '../src/lib/svg-chart.js'

const chart: Chart = {
  title: 'downtime & total <time>',
  xLabel: 'dirty rate (%/s)',
  xTicks: [1, 10, 50, 100],
  panels: [
    {
      title: 'downtime', yLabel: 'downtime (s)', series: [
        { name: 'full', points: [{ x: 1, y: 9 }, { x: 10, y: 9.5 }, { x: 100, y: 10 }] },
        { name: 'auto', emphasis: true, points: [{ x: 1, y: 0.2 }, { x: 10, y: 0.4 }, { x: 100, y: Number.NaN }] },
        { name: 'hybrid', note: 'not yet', points: [] },
      ],
    },
    { title: 'total', yLabel: 'total (s)', series: [{ name: 'full', points: [{ x: 1, y: 10 }, { x: 100, y: 11 }] }] },
  ],
}

/** Every element opened is closed, in order (the chart nests only g, and text holds no markup). */
function wellFormed(svg: string): boolean {
  const stack: string[] = []
  for (const m of svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    if (m[3]) continue
    if (!m[1]) stack.push(m[2]!)
    else if (stack.pop() !== m[2]) return false
  }
  return stack.length === 0
}

const polyline = (svg: string, name: string): [number, number][] => {
  const g = new RegExp(`<g class="series" data-name="${name}">\\n<polyline [^>]*points="([^"]+)"`).exec(svg)
  return g ? g[1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]) : []
}

t.test('a well-formed SVG with title, axis labels and legend, text escaped, no NaN', async (t) => {
  const svg = lineChart(chart)
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+" viewBox="0 0 \d+ \d+"/)
  t.ok(wellFormed(svg), 'every element closed')
  t.match(svg, 'downtime &amp; total &lt;time&gt;', 'the title, escaped')
  t.match(svg, '>dirty rate (%/s)</text>', 'x label')
  t.match(svg, '>downtime (s)</text>', 'y label of the first panel')
  t.match(svg, '>total (s)</text>', 'y label of the second panel')
  for (const x of ['1', '10', '50', '100']) t.match(svg, new RegExp(`>${x}</text>`), `x tick ${x}`)
  t.notMatch(svg, /NaN|Infinity|undefined/, 'no value leaks as NaN')
  t.match(svg, /<g class="legend">[^]*?>full<\/text>/, 'full in the legend')
  t.match(svg, /font-weight="bold">auto<\/text>/, 'auto in the legend, set apart')
  t.match(svg, />hybrid \(not yet\)<\/text>/, 'a series without points: in the legend with its note')
  t.notMatch(svg, /data-name="hybrid"/, 'and no line for it')
})

t.test('points go where their values say: log axes, higher values higher up', async (t) => {
  const svg = lineChart(chart)
  const full = polyline(svg, 'full')
  t.equal(full.length, 3, 'one vertex per point of the first panel\'s full')
  t.ok(full[0]![0] < full[1]![0] && full[1]![0] < full[2]![0], 'x grows left to right')
  t.ok(full[0]![1] > full[2]![1], 'a larger value is drawn higher (smaller y)')
  // log x: 1 -> 10 is as wide as 10 -> 100
  t.ok(Math.abs((full[1]![0] - full[0]![0]) - (full[2]![0] - full[1]![0])) < 0.5, 'log x axis')
  const auto = polyline(svg, 'auto')
  t.equal(auto.length, 2, 'a NaN point is left out')
  t.ok(auto[0]![1] > full[0]![1], 'auto (0.2 s) below full (9 s)')
  t.match(svg, /data-name="auto">\n<polyline fill="none" stroke="#000000" stroke-width="3.5"/, 'the emphasised series: black, thicker')
  t.ok(svg.indexOf('data-name="auto"') > svg.indexOf('data-name="full"'), 'and drawn last, on top')
})

t.test('log ticks and their labels', async (t) => {
  t.same(logTicks(0.1, 20), [0.1, 0.2, 0.5, 1, 2, 5, 10, 20], '1-2-5 over a few decades')
  t.same(logTicks(0.01, 1000), [0.01, 0.1, 1, 10, 100, 1000], 'decades only over many')
  t.equal(tickLabel(0.30000000000000004), '0.3')
  t.equal(tickLabel(200), '200')
  t.equal(escapeXml('a<b & "c">'), 'a&lt;b &amp; &quot;c&quot;&gt;')
})
