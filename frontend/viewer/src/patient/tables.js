// Patient tables: the visits with lung function, the best involvement figure, the lung QC and a link
// into the images; all involvement figures with their lung method; and the legend of the chart lines.
import { el } from '../lib/api.js';
import { denseMissed, methodTag, nonLungAir } from '../lib/lungs.js';
import { formatChange, noiseSummary, visitChange } from './change.js';
import { sourceStyle, svg } from './charts.js';
import { pointOverlay, seriesHref } from './state.js';

function methodChangeLegend(changes) {
  if (!changes.length) return null;
  const icon = svg('svg', { width: 12, height: 16, 'aria-hidden': 'true' },
    svg('line', { x1: 6, x2: 6, y1: 0, y2: 16, stroke: '#1b1f24', 'stroke-width': 1.5, 'stroke-dasharray': '4 3' }));
  const what = changes.map(({ from, to }) => `${from} → ${to}`).join(', ');
  return el('span', { 'data-testid': 'method-change-legend' }, icon,
    `Lung method changes (${what}): figures either side are measured on different lung masks, a step there may not be disease change`);
}

export function sourceLegend(sources, { models, names }, changes = [], noise = null) {
  const entries = sources.map((source) => {
    const style = sourceStyle(source, models, names);
    const icon = svg('svg', { width: 28, height: 10, 'aria-hidden': 'true' },
      svg('line', { x1: 0, x2: 28, y1: 5, y2: 5, stroke: style.colour, 'stroke-width': style.width, 'stroke-dasharray': style.dash }));
    return el('span', {}, icon, style.name);
  });
  return el('div', { class: 'chart-legend' }, ...entries,
    el('span', {}, el('span', { class: 'swatch', style: 'background: #9aa6b2; opacity: .6' }), 'Between reader 1 and reader 2 (reader variability)'),
    methodChangeLegend(changes),
    noise ? el('span', { 'data-testid': 'noise-legend', text: noiseSummary(noise.noise, noise.min_n) }) : null);
}

function lungCell(lung) {
  // The lung QC of the visit's series: its method, the dense lung left out and, on a line of its own, the
  // non-lung air inside the mask (each flagged above its limit).
  if (!lung || !lung.method) return el('td', { class: 'lung-qc', 'data-testid': 'visit-lung', text: '–' });
  return el('td', { class: 'lung-qc', 'data-testid': 'visit-lung' }, methodTag(lung.method), lung.complete ? '' : ' (computing)',
    el('br'), denseMissed(lung), el('br'), nonLungAir(lung));
}

function changeCell(rows, visits, visit, source) {
  // The change since the previous visit by the same source as the Total % beside it.
  const change = source ? visitChange(rows, visits, visit, source) : null;
  const title = change
    ? `since ${change.previous.visit_date}, both ${source === 'consensus' ? 'consensus' : source}${change.methodsDiffer ? '; lung methods differ, part of the change may be the mask' : ''}`
    : 'no earlier visit with this source';
  return el('td', { 'data-testid': `change-${visit.id}`, title, text: `${formatChange(change)}${change?.methodsDiffer ? ' *' : ''}` });
}

function stageCell(visit, staging) {
  // Goh-Wells stage of the visit with the inputs and rule in the tooltip; '–' without a consensus or model figure.
  const staged = staging.find((entry) => entry.visit_id === visit.id);
  if (!staged) return el('td', { 'data-testid': `stage-${visit.id}`, text: '–' });
  const inputs = `extent ${staged.extent_pct.toFixed(1)} % (${staged.source}), FVC ${staged.fvc_pct_pred ?? 'not recorded'}`;
  return el('td', { 'data-testid': `stage-${visit.id}`, title: `${inputs}: ${staged.rule}. ${staged.note}`, text: staged.stage });
}

function visitRow(visit, rows, visits, { models, names }, lung, staging) {
  const of = (source) => rows.find((row) => row.visit_id === visit.id && row.source === source);
  const best = ['consensus', ...models, 'reader_1', 'reader_2'].map(of).find(Boolean);
  const href = seriesHref(visit, pointOverlay(null, visit, rows, models));
  const link = href ? el('a', { href, 'data-testid': `open-visit-${visit.id}`, 'aria-label': `Open the images of ${visit.date}` }, 'Images') : '–';
  return el('tr', { 'data-visit': String(visit.id) },
    el('td', { text: visit.label || '' }), el('td', { text: visit.date }),
    el('td', { text: visit.fvc_pct_pred ?? '–' }), el('td', { text: visit.dlco_pct_pred ?? '–' }),
    el('td', { text: best ? best.total_pct.toFixed(1) : '–', title: best ? `from ${sourceStyle(best.source, models, names).name}, lung method ${best.lung_method}` : '' }),
    changeCell(rows, visits, visit, best?.source), stageCell(visit, staging), lungCell(lung), el('td', {}, link));
}

export function visitTable(visits, rows, { models, names }, lungs, staging = []) {
  const headings = ['Visit', 'Date', 'FVC %', 'DLCO %', 'Total %'].map((h) => el('th', { scope: 'col', text: h }));
  headings.push(el('th', { scope: 'col', title: 'Total involvement minus that of the previous visit by the same source, in percentage points and relative to it' }, 'Change'));
  headings.push(el('th', { scope: 'col', title: 'Goh-Wells stage (Goh et al. 2008) from the quantitative extent and FVC; hover a stage for its inputs' }, 'Stage'));
  const lung = el('th', { scope: 'col', title: 'The lung method of the visit\'s series, the dense lung (-750 to -100 HU) it left out, and the non-lung air (stomach, bowel gas, trachea) inside it' }, 'Lung mask');
  return el('table', { 'data-testid': 'visits' },
    el('thead', {}, el('tr', {}, headings, lung, el('th', { scope: 'col' }))),
    el('tbody', {}, visits.map((visit) => visitRow(visit, rows, visits, { models, names }, lungs.get(visit.id), staging))));
}

export function allFigures(rows, { models, names }, patterns) {
  const percent = (value) => value?.toFixed(2) ?? '–';
  const figure = (row) => el('tr', {}, el('td', { text: row.visit_date }), el('td', { text: sourceStyle(row.source, models, names).name }),
    el('td', { text: row.total_pct.toFixed(2) }), patterns.map((label) => el('td', { text: percent(row[`${label.key}_pct`]) })),
    el('td', { text: row.lung_volume_ml.toFixed(0) }), el('td', { 'data-testid': 'figure-lung-method' }, methodTag(row.lung_method)));
  const headings = ['Date', 'Source', 'Total %', ...patterns.map((label) => `${label.name} %`), 'Lung mL', 'Lung method'];
  return el('details', {}, el('summary', { text: 'All involvement figures' }),
    el('table', { 'data-testid': 'all-figures' }, el('thead', {}, el('tr', {}, headings.map((h) => el('th', { text: h })))),
      el('tbody', {}, rows.map(figure))));
}
