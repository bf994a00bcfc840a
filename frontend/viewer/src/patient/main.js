// Patient page: visits in date order, involvement trend per source with the inter-reader band, PFTs.
import { appData, el, getJson } from '../lib/api.js';
import { loadLabelTable } from '../lib/labels.js';
import { runPage } from '../lib/ui.js';
import { involvementChart, lungFunctionChart } from './charts.js';
import { allFigures, sourceLegend, visitTable } from './tables.js';

function metrics(patterns) {
  // [field, title]: the total, then one per pattern of the label table (involvement has `<key>_pct`).
  return [['total_pct', 'Total involvement'], ...patterns.map((label) => [`${label.key}_pct`, label.name])];
}

function rank(source) {
  return { consensus: 0, reader_1: 2, reader_2: 3 }[source] ?? 1;
}

async function main() {
  const { app, data } = appData();
  const patientId = Number(data.patient);
  const [patient, rows, { patterns }] = await Promise.all([
    getJson(`patients/${patientId}/`), getJson(`patients/${patientId}/involvement/`), loadLabelTable()]);
  const visits = [...patient.visits].sort((a, b) => a.date.localeCompare(b.date));
  const sources = [...new Set(rows.map((row) => row.source))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const models = sources.filter((source) => source.startsWith('model:'));
  const charts = el('div', { class: 'charts' },
    metrics(patterns).map(([metric, title]) => involvementChart({ title, metric, visits, rows, sources, models })), lungFunctionChart(visits));
  document.getElementById('patient-status').textContent = rows.length
    ? `${visits.length} visits, involvement from ${sources.length} source(s).`
    : `${visits.length} visits; no involvement figures yet (they appear once a consensus is finalised or a model has run).`;
  app.append(
    el('div', { class: 'patient-grid' },
      el('section', { 'aria-label': 'Involvement trend' }, sourceLegend(sources, models), charts),
      el('section', { 'aria-label': 'Visits and lung function' }, visitTable(visits, rows, models),
        el('p', { class: 'note', text: 'FVC and DLCO in % predicted; total involvement from the consensus where there is one.' }))),
    allFigures(rows, models, patterns));
  app.dataset.ready = '1';
}

runPage(main);
