// Patient charts (SVG): involvement per visit and source with the inter-reader band, and lung function,
// on one shared time axis. Each point is a link to its visit's series with the source's overlay.
import { el } from '../lib/api.js';
import { noiseText } from './change.js';
import { pointOverlay, seriesHref } from './state.js';

const SVG = 'http://www.w3.org/2000/svg';
const MODEL_COLOURS = ['#009E73', '#CC79A7', '#D55E00', '#0072B2'];
const WIDTH = 360;
const HEIGHT = 210;
const MARGIN = { left: 38, right: 34, top: 10, bottom: 34 };

export function sourceStyle(source, models, names = new Map()) {
  // models: the "model:<id>" sources in order (their colours); names: source -> the version's name.
  if (source === 'consensus') return { colour: '#000000', dash: '', width: 3, name: 'Consensus' };
  if (source === 'reader_1') return { colour: '#B07000', dash: '5 3', width: 1.5, name: 'Reader 1' };
  if (source === 'reader_2') return { colour: '#3A8FC4', dash: '2 3', width: 1.5, name: 'Reader 2' };
  const index = models.indexOf(source);
  return { colour: MODEL_COLOURS[index % MODEL_COLOURS.length], dash: '8 3 2 3', width: 2, name: names.get(source) || `Model ${source.slice(6)}` };
}

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

export function niceTicks(highest, count = 5) {
  // Ticks from 0 to at least `highest`, about `count` steps of 1, 2, 2.5 or 5 x 10^k.
  const raw = Math.max(highest, Number.EPSILON) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw * (1 - 1e-9));
  const steps = Math.ceil(highest / step - 1e-9);
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9) + (Math.abs(step / power - 2.5) < 1e-9 ? 1 : 0));
  return { top: steps * step, ticks: Array.from({ length: steps + 1 }, (_, i) => Number((i * step).toFixed(digits))), digits };
}

function pointLink(plot, { href, label, testid, cx, cy, colour }) {
  // A point as a link (keyboard: Tab, Enter), with a larger invisible target around the dot.
  const dot = [svg('circle', { cx, cy, r: 9, fill: 'transparent' }), svg('circle', { cx, cy, r: 3, fill: colour, class: 'dot' }), svg('title', {}, label)];
  plot.append(href ? svg('a', { href, 'aria-label': `${label}: open the images`, 'data-testid': testid, class: 'point' }, ...dot) : svg('g', {}, ...dot));
}

function axes(visits, highest, { format, label }) {
  // The plot with its value grid (nice ticks from 0 to at least `highest`) and visit dates;
  // returns {plot, x(date), y(value)}.
  const { top, ticks, digits } = niceTicks(highest);
  format ??= (value) => value.toFixed(digits);
  const times = visits.map((visit) => new Date(visit.date).getTime());
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const x = (date) => MARGIN.left + (t1 === t0 ? 0.5 : (new Date(date).getTime() - t0) / (t1 - t0)) * (WIDTH - MARGIN.left - MARGIN.right);
  const y = (value) => HEIGHT - MARGIN.bottom - (value / top) * (HEIGHT - MARGIN.top - MARGIN.bottom);
  const plot = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label.text, 'data-testid': label.testid });
  for (const value of ticks) {
    plot.append(svg('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value), stroke: '#e1e4e8' }),
      svg('text', { x: MARGIN.left - 4, y: y(value) + 4, 'text-anchor': 'end', 'font-size': 10, 'data-tick': '' }, format(value)));
  }
  for (const visit of visits) {
    plot.append(svg('text', { x: x(visit.date), y: HEIGHT - MARGIN.bottom + 14, 'text-anchor': 'middle', 'font-size': 10 }, visit.date));
  }
  return { plot, x, y };
}

function readerBand({ plot, x, y }, banded, metric) {
  // Between reader 1 and reader 2 at every visit both read.
  const style = { fill: '#9aa6b2', opacity: 0.35, 'data-testid': 'reader-band' };
  if (banded.length === 1) {
    const [[visit, a, b]] = banded;
    plot.append(svg('rect', { x: x(visit.date) - 5, width: 10, y: y(Math.max(a[metric], b[metric])), height: Math.max(1, Math.abs(y(a[metric]) - y(b[metric]))), ...style }));
    return;
  }
  const upper = banded.map(([visit, a, b]) => `${x(visit.date)},${y(Math.max(a[metric], b[metric]))}`);
  const lower = banded.map(([visit, a, b]) => `${x(visit.date)},${y(Math.min(a[metric], b[metric]))}`).reverse();
  plot.append(svg('polygon', { points: [...upper, ...lower].join(' '), ...style }));
}

function sourceLine({ plot, x, y }, points, { source, style, metric, rows, models }) {
  plot.append(svg('polyline', { points: points.map(([visit, row]) => `${x(visit.date)},${y(row[metric])}`).join(' '), fill: 'none', stroke: style.colour, 'stroke-width': style.width, 'stroke-dasharray': style.dash, 'data-source': source }));
  for (const [visit, row] of points) {
    pointLink(plot, { href: seriesHref(visit, pointOverlay(source, visit, rows, models)), label: `${style.name}, ${visit.date}: ${row[metric].toFixed(2)} %`,
      testid: `point-${source}-${visit.id}`, cx: x(visit.date), cy: y(row[metric]), colour: style.colour });
  }
}

export function methodChangeText({ from, to }) {
  return `lung method: ${from} → ${to}`;
}

function methodMarker({ plot, x }, change) {
  // A dashed vertical line between the two visits, labelled, with a tooltip: a method change is not disease change.
  const at = (x(change.before.date) + x(change.after.date)) / 2;
  const leftHalf = at < WIDTH / 2;
  const marker = svg('g', { 'data-testid': 'lung-method-change', 'data-from': change.from, 'data-to': change.to },
    svg('title', {}, `The lung mask changes from ${change.from} (${change.before.date}) to ${change.to} (${change.after.date}): `
      + 'involvement before and after this line is measured on different lung regions, so a step here may not be disease change.'),
    svg('line', { x1: at, x2: at, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom, stroke: '#1b1f24', 'stroke-width': 1.2, 'stroke-dasharray': '4 3' }),
    svg('text', { x: at + (leftHalf ? 3 : -3), y: MARGIN.top + 9, 'text-anchor': leftHalf ? 'start' : 'end', 'font-size': 10,
      fill: '#1b1f24', stroke: '#fff', 'stroke-width': 3, 'paint-order': 'stroke' }, methodChangeText(change)));
  plot.append(marker);
}

function noiseMarker({ plot, x, y }, change, before, after, metric) {
  // Mid-segment: a triangle pointing the way of a change beyond reader noise, a ring for one within it.
  const [cx, cy] = [(x(before.visit_date) + x(after.visit_date)) / 2, (y(before[metric]) + y(after[metric])) / 2];
  const up = change.change_pct_points > 0;
  const glyph = change.beyond_noise
    ? svg('path', { d: up ? `M${cx - 5},${cy + 4} L${cx + 5},${cy + 4} L${cx},${cy - 5} Z` : `M${cx - 5},${cy - 4} L${cx + 5},${cy - 4} L${cx},${cy + 5} Z`, fill: '#b31d28' })
    : svg('circle', { cx, cy, r: 3.5, fill: '#fff', stroke: '#57606a', 'stroke-width': 1.3 });
  plot.append(svg('g', { 'data-testid': 'noise-marker', 'data-source': change.source, 'data-beyond': String(change.beyond_noise), tabindex: '0' },
    svg('title', {}, noiseText(change)), svg('circle', { cx, cy, r: 8, fill: 'transparent' }), glyph));
}

function noiseMarkers(chart, { noise, metric, rows }) {
  // Consensus and model changes only (the reader lines are the noise itself); none while not estimable.
  const measure = metric.replace(/_pct$/, '');
  for (const change of noise?.changes ?? []) {
    if (change.measure !== measure || !change.estimable || change.source.startsWith('reader_')) continue;
    const of = (visitId) => rows.find((row) => row.visit_id === visitId && row.source === change.source);
    const [before, after] = [of(change.from_visit_id), of(change.to_visit_id)];
    if (before && after && typeof before[metric] === 'number' && typeof after[metric] === 'number') noiseMarker(chart, change, before, after, metric);
  }
}

export function involvementChart({ title, metric, visits, rows, sources, models, names, changes = [], noise = null }) {
  const values = rows.map((row) => row[metric]).filter((value) => typeof value === 'number');
  const chart = axes(visits, Math.max(5, ...values) * 1.05, { label: { text: `${title} (% of lung) per visit and source`, testid: `chart-${metric}` } });
  for (const visit of visits) {
    chart.plot.append(svg('text', { x: chart.x(visit.date), y: HEIGHT - MARGIN.bottom + 26, 'text-anchor': 'middle', 'font-size': 10, fill: '#57606a' }, visit.label || ''));
  }
  const at = (source, visit) => rows.find((row) => row.source === source && row.visit_id === visit.id && typeof row[metric] === 'number');
  const banded = visits.map((visit) => [visit, at('reader_1', visit), at('reader_2', visit)]).filter(([, a, b]) => a && b);
  if (banded.length) readerBand(chart, banded, metric);
  for (const source of sources) {
    const points = visits.map((visit) => [visit, at(source, visit)]).filter(([, row]) => row);
    if (points.length) sourceLine(chart, points, { source, style: sourceStyle(source, models, names), metric, rows, models });
  }
  for (const change of changes) methodMarker(chart, change);
  noiseMarkers(chart, { noise, metric, rows });
  return el('figure', { class: 'chart' }, el('h3', { text: `${title} (% of lung)` }), chart.plot);
}

export function lungFunctionChart(visits, { rows, models }) {
  // FVC and DLCO (% predicted) on the same time axis as the involvement charts.
  const measured = visits.flatMap((visit) => [visit.fvc_pct_pred, visit.dlco_pct_pred]).filter((value) => typeof value === 'number');
  const { plot, x, y } = axes(visits, Math.max(100, ...measured), { label: { text: 'FVC and DLCO, % predicted, per visit', testid: 'chart-pft' } });
  for (const [field, colour, dash, name] of [['fvc_pct_pred', '#0072B2', '', 'FVC'], ['dlco_pct_pred', '#D55E00', '6 3', 'DLCO']]) {
    const points = visits.filter((visit) => typeof visit[field] === 'number');
    if (!points.length) continue;
    plot.append(svg('polyline', { points: points.map((visit) => `${x(visit.date)},${y(visit[field])}`).join(' '), fill: 'none', stroke: colour, 'stroke-width': 2, 'stroke-dasharray': dash }));
    for (const visit of points) {
      pointLink(plot, { href: seriesHref(visit, pointOverlay(null, visit, rows, models)), label: `${name}, ${visit.date}: ${visit[field]} %`,
        testid: `point-${field}-${visit.id}`, cx: x(visit.date), cy: y(visit[field]), colour });
    }
    const last = points[points.length - 1];
    plot.append(svg('text', { x: x(last.date) + 5, y: y(last[field]) + 4, 'font-size': 10, fill: colour }, name));
  }
  return el('figure', { class: 'chart' }, el('h3', { text: 'Lung function (% predicted)' }), plot);
}
