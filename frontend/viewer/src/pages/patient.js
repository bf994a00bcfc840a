// Patient page: visits in date order, involvement trend per source with the inter-reader band, PFTs.
import { appData, el, getJson } from '../lib/api.js';

const SVG = 'http://www.w3.org/2000/svg';
const METRICS = [
  ['total_pct', 'Total involvement'],
  ['reticulation_pct', 'Reticulation'],
  ['ggo_pct', 'GGO'],
];
const MODEL_COLOURS = ['#009E73', '#CC79A7', '#D55E00', '#0072B2'];

function sourceStyle(source, models) {
  if (source === 'consensus') return { colour: '#000000', dash: '', width: 3, name: 'Consensus' };
  if (source === 'reader_1') return { colour: '#B07000', dash: '5 3', width: 1.5, name: 'Reader 1' };
  if (source === 'reader_2') return { colour: '#3A8FC4', dash: '2 3', width: 1.5, name: 'Reader 2' };
  const index = models.indexOf(source);
  return { colour: MODEL_COLOURS[index % MODEL_COLOURS.length], dash: '8 3 2 3', width: 2, name: `Model ${source.slice(6)}` };
}

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

function chart({ title, metric, visits, rows, sources, models }) {
  const width = 360;
  const height = 210;
  const margin = { left: 38, right: 34, top: 10, bottom: 34 };
  const times = visits.map((visit) => new Date(visit.date).getTime());
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const x = (date) => margin.left + (t1 === t0 ? 0.5 : (new Date(date).getTime() - t0) / (t1 - t0)) * (width - margin.left - margin.right);
  const values = rows.map((row) => row[metric]).filter((value) => typeof value === 'number');
  const top = Math.max(5, ...values) * 1.15;
  const y = (value) => height - margin.bottom - (value / top) * (height - margin.top - margin.bottom);
  const plot = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${title} (% of lung) per visit and source`, 'data-testid': `chart-${metric}` });
  // Axes and grid.
  for (let i = 0; i <= 4; i++) {
    const value = (top / 4) * i;
    plot.append(svg('line', { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), stroke: '#e1e4e8' }),
      svg('text', { x: margin.left - 4, y: y(value) + 4, 'text-anchor': 'end', 'font-size': 10 }, value.toFixed(value < 10 ? 1 : 0)));
  }
  for (const visit of visits) {
    plot.append(svg('text', { x: x(visit.date), y: height - margin.bottom + 14, 'text-anchor': 'middle', 'font-size': 10 }, visit.date),
      svg('text', { x: x(visit.date), y: height - margin.bottom + 26, 'text-anchor': 'middle', 'font-size': 10, fill: '#57606a' }, visit.label || ''));
  }
  const at = (source, visit) => rows.find((row) => row.source === source && row.visit_id === visit.id && typeof row[metric] === 'number');
  // Inter-reader band: between reader 1 and reader 2 at every visit both read.
  const banded = visits.map((visit) => [visit, at('reader_1', visit), at('reader_2', visit)]).filter(([, a, b]) => a && b);
  if (banded.length) {
    const upper = banded.map(([visit, a, b]) => `${x(visit.date)},${y(Math.max(a[metric], b[metric]))}`);
    const lower = banded.map(([visit, a, b]) => `${x(visit.date)},${y(Math.min(a[metric], b[metric]))}`).reverse();
    if (banded.length === 1) {
      const [[visit, a, b]] = banded;
      plot.append(svg('rect', { x: x(visit.date) - 5, width: 10, y: y(Math.max(a[metric], b[metric])), height: Math.max(1, Math.abs(y(a[metric]) - y(b[metric]))), fill: '#9aa6b2', opacity: 0.35, 'data-testid': 'reader-band' }));
    } else {
      plot.append(svg('polygon', { points: [...upper, ...lower].join(' '), fill: '#9aa6b2', opacity: 0.35, 'data-testid': 'reader-band' }));
    }
  }
  for (const source of sources) {
    const style = sourceStyle(source, models);
    const points = visits.map((visit) => [visit, at(source, visit)]).filter(([, row]) => row);
    if (!points.length) continue;
    plot.append(svg('polyline', { points: points.map(([visit, row]) => `${x(visit.date)},${y(row[metric])}`).join(' '), fill: 'none', stroke: style.colour, 'stroke-width': style.width, 'stroke-dasharray': style.dash, 'data-source': source }));
    for (const [visit, row] of points) {
      plot.append(svg('circle', { cx: x(visit.date), cy: y(row[metric]), r: 3, fill: style.colour },
        svg('title', {}, `${style.name}, ${visit.date}: ${row[metric].toFixed(2)} %`)));
    }
  }
  return el('figure', { class: 'chart' }, el('h3', { text: `${title} (% of lung)` }), plot);
}

function pftChart(visits) {
  // FVC and DLCO (% predicted) on the same time axis as the involvement charts.
  const width = 360;
  const height = 210;
  const margin = { left: 38, right: 34, top: 10, bottom: 34 };
  const times = visits.map((visit) => new Date(visit.date).getTime());
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const x = (date) => margin.left + (t1 === t0 ? 0.5 : (new Date(date).getTime() - t0) / (t1 - t0)) * (width - margin.left - margin.right);
  const y = (value) => height - margin.bottom - (value / 120) * (height - margin.top - margin.bottom);
  const plot = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'FVC and DLCO, % predicted, per visit', 'data-testid': 'chart-pft' });
  for (const value of [0, 30, 60, 90, 120]) {
    plot.append(svg('line', { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), stroke: '#e1e4e8' }),
      svg('text', { x: margin.left - 4, y: y(value) + 4, 'text-anchor': 'end', 'font-size': 10 }, String(value)));
  }
  for (const visit of visits) {
    plot.append(svg('text', { x: x(visit.date), y: height - margin.bottom + 14, 'text-anchor': 'middle', 'font-size': 10 }, visit.date));
  }
  for (const [field, colour, dash, name] of [['fvc_pct_pred', '#0072B2', '', 'FVC'], ['dlco_pct_pred', '#D55E00', '6 3', 'DLCO']]) {
    const points = visits.filter((visit) => typeof visit[field] === 'number');
    if (!points.length) continue;
    plot.append(svg('polyline', { points: points.map((visit) => `${x(visit.date)},${y(visit[field])}`).join(' '), fill: 'none', stroke: colour, 'stroke-width': 2, 'stroke-dasharray': dash }));
    for (const visit of points) plot.append(svg('circle', { cx: x(visit.date), cy: y(visit[field]), r: 3, fill: colour }, svg('title', {}, `${name}, ${visit.date}: ${visit[field]} %`)));
    const last = points[points.length - 1];
    plot.append(svg('text', { x: x(last.date) + 5, y: y(last[field]) + 4, 'font-size': 10, fill: colour }, name));
  }
  return el('figure', { class: 'chart' }, el('h3', { text: 'Lung function (% predicted)' }), plot);
}

async function main() {
  const { app, data } = appData();
  const patientId = Number(data.patient);
  const [patient, rows] = await Promise.all([getJson(`patients/${patientId}/`), getJson(`patients/${patientId}/involvement/`)]);
  const visits = [...patient.visits].sort((a, b) => a.date.localeCompare(b.date));
  const sources = [...new Set(rows.map((row) => row.source))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const models = sources.filter((source) => source.startsWith('model:'));
  const legend = el('div', { class: 'chart-legend' }, ...sources.map((source) => {
    const style = sourceStyle(source, models);
    return el('span', {}, el('svg', {}), style.name);
  }));
  legend.querySelectorAll('svg').forEach((node, i) => {
    const style = sourceStyle(sources[i], models);
    const icon = svg('svg', { width: 28, height: 10, 'aria-hidden': 'true' }, svg('line', { x1: 0, x2: 28, y1: 5, y2: 5, stroke: style.colour, 'stroke-width': style.width, 'stroke-dasharray': style.dash }));
    node.replaceWith(icon);
  });
  legend.append(el('span', {}, el('span', { class: 'swatch', style: 'background: #9aa6b2; opacity: .6' }), 'Between reader 1 and reader 2 (reader variability)'));

  const charts = el('div', { class: 'charts' }, METRICS.map(([metric, title]) => chart({ title, metric, visits, rows, sources, models })), pftChart(visits));
  const visitTable = el('table', { 'data-testid': 'visits' },
    el('thead', {}, el('tr', {}, ['Visit', 'Date', 'FVC %', 'DLCO %', 'Total %', ''].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, visits.map((visit) => {
      const best = ['consensus', ...models, 'reader_1', 'reader_2'].map((source) => rows.find((row) => row.visit_id === visit.id && row.source === source)).find(Boolean);
      const series = visit.series[0];
      const overlay = rows.some((row) => row.visit_id === visit.id && row.source === 'consensus') ? 'consensus' : (models.find((m) => rows.some((row) => row.visit_id === visit.id && row.source === m)) || '');
      return el('tr', { 'data-visit': String(visit.id) },
        el('td', { text: visit.label || '' }), el('td', { text: visit.date }),
        el('td', { text: visit.fvc_pct_pred ?? '–' }), el('td', { text: visit.dlco_pct_pred ?? '–' }),
        el('td', { text: best ? best.total_pct.toFixed(1) : '–', title: best ? `from ${sourceStyle(best.source, models).name}` : '' }),
        el('td', {}, series ? el('a', { href: `/series/${series.id}/${overlay ? `?overlay=${encodeURIComponent(overlay)}` : ''}`, 'data-testid': `open-visit-${visit.id}`, 'aria-label': `Open the images of ${visit.date}` }, 'Images') : '–'));
    })));
  const allRows = el('details', {}, el('summary', { text: 'All involvement figures' }),
    el('table', {}, el('thead', {}, el('tr', {}, ['Date', 'Source', 'Total %', 'Reticulation %', 'GGO %', 'Lung mL'].map((h) => el('th', { text: h })))),
      el('tbody', {}, rows.map((row) => el('tr', {}, el('td', { text: row.visit_date }), el('td', { text: sourceStyle(row.source, models).name }),
        el('td', { text: row.total_pct.toFixed(2) }), el('td', { text: row.reticulation_pct?.toFixed(2) ?? '–' }),
        el('td', { text: row.ggo_pct?.toFixed(2) ?? '–' }), el('td', { text: row.lung_volume_ml.toFixed(0) }))))));
  document.getElementById('patient-status').textContent = rows.length
    ? `${visits.length} visits, involvement from ${sources.length} source(s).`
    : `${visits.length} visits; no involvement figures yet (they appear once a consensus is finalised or a model has run).`;
  app.append(el('div', { class: 'patient-grid' }, el('section', { 'aria-label': 'Involvement trend' }, legend, charts), el('section', { 'aria-label': 'Visits and lung function' }, visitTable, el('p', { class: 'note', text: 'FVC and DLCO in % predicted; total involvement from the consensus where there is one.' }))), allRows);
  app.dataset.ready = '1';
}

function rank(source) {
  return { consensus: 0, reader_1: 2, reader_2: 3 }[source] ?? 1;
}

main();
