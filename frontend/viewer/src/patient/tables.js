// Patient tables: the visits with lung function, the best involvement figure and a link into the
// images; all involvement figures; and the legend of the chart lines.
import { el } from '../lib/api.js';
import { sourceStyle, svg } from './charts.js';

export function sourceLegend(sources, models) {
  const entries = sources.map((source) => {
    const style = sourceStyle(source, models);
    const icon = svg('svg', { width: 28, height: 10, 'aria-hidden': 'true' },
      svg('line', { x1: 0, x2: 28, y1: 5, y2: 5, stroke: style.colour, 'stroke-width': style.width, 'stroke-dasharray': style.dash }));
    return el('span', {}, icon, style.name);
  });
  return el('div', { class: 'chart-legend' }, ...entries,
    el('span', {}, el('span', { class: 'swatch', style: 'background: #9aa6b2; opacity: .6' }), 'Between reader 1 and reader 2 (reader variability)'));
}

function visitRow(visit, rows, models) {
  const of = (source) => rows.find((row) => row.visit_id === visit.id && row.source === source);
  const best = ['consensus', ...models, 'reader_1', 'reader_2'].map(of).find(Boolean);
  const series = visit.series[0];
  const overlay = of('consensus') ? 'consensus' : (models.find((model) => of(model)) || '');
  const link = series
    ? el('a', { href: `/series/${series.id}/${overlay ? `?overlay=${encodeURIComponent(overlay)}` : ''}`, 'data-testid': `open-visit-${visit.id}`, 'aria-label': `Open the images of ${visit.date}` }, 'Images')
    : '–';
  return el('tr', { 'data-visit': String(visit.id) },
    el('td', { text: visit.label || '' }), el('td', { text: visit.date }),
    el('td', { text: visit.fvc_pct_pred ?? '–' }), el('td', { text: visit.dlco_pct_pred ?? '–' }),
    el('td', { text: best ? best.total_pct.toFixed(1) : '–', title: best ? `from ${sourceStyle(best.source, models).name}` : '' }),
    el('td', {}, link));
}

export function visitTable(visits, rows, models) {
  return el('table', { 'data-testid': 'visits' },
    el('thead', {}, el('tr', {}, ['Visit', 'Date', 'FVC %', 'DLCO %', 'Total %', ''].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, visits.map((visit) => visitRow(visit, rows, models))));
}

export function allFigures(rows, models, patterns) {
  const percent = (value) => value?.toFixed(2) ?? '–';
  const figure = (row) => el('tr', {}, el('td', { text: row.visit_date }), el('td', { text: sourceStyle(row.source, models).name }),
    el('td', { text: row.total_pct.toFixed(2) }), patterns.map((label) => el('td', { text: percent(row[`${label.key}_pct`]) })),
    el('td', { text: row.lung_volume_ml.toFixed(0) }));
  const headings = ['Date', 'Source', 'Total %', ...patterns.map((label) => `${label.name} %`), 'Lung mL'];
  return el('details', {}, el('summary', { text: 'All involvement figures' }),
    el('table', {}, el('thead', {}, el('tr', {}, headings.map((h) => el('th', { text: h })))),
      el('tbody', {}, rows.map(figure))));
}
