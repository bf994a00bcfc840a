// Patient page: visits in date order, involvement trend per source with the inter-reader band and the
// changes of lung method marked, PFTs, and each visit's lung QC.
import { appData, el } from '../lib/api.js';
import { runPage } from '../lib/ui.js';
import './patient.css';
import { involvementChart, lungFunctionChart } from './charts.js';
import { loadPatient, methodChanges } from './state.js';
import { allFigures, sourceLegend, visitTable } from './tables.js';

function metrics(patterns) {
  // [field, title]: the total, then one per pattern of the label table (involvement has `<key>_pct`).
  return [['total_pct', 'Total involvement'], ...patterns.map((label) => [`${label.key}_pct`, label.name])];
}

async function main() {
  const { app, data } = appData();
  const { visits, rows, patterns, sources, models, names, lungs, noise, staging } = await loadPatient(Number(data.patient));
  const changes = methodChanges(visits, rows);
  const charts = el('div', { class: 'charts' },
    metrics(patterns).map(([metric, title]) => involvementChart({ title, metric, visits, rows, sources, models, names, changes, noise })), lungFunctionChart(visits, { rows, models }));
  document.getElementById('patient-status').textContent = rows.length
    ? `${visits.length} visits, involvement from ${sources.length} source(s).`
    : `${visits.length} visits; no involvement figures yet (they appear once a consensus is finalised or a model has run).`;
  app.append(
    el('div', { class: 'patient-grid' },
      el('section', { 'aria-label': 'Involvement trend' }, sourceLegend(sources, { models, names }, changes, noise), charts),
      el('section', { 'aria-label': 'Visits and lung function' }, visitTable(visits, rows, { models, names }, lungs, staging),
        el('p', { class: 'note', text: 'FVC and DLCO in % predicted; total involvement from the consensus where there is one. Lung method, dense lung left out of the mask and non-lung air inside it (QC figures) of each visit\'s series; ⚠ marks masks to check.' }))),
    allFigures(rows, { models, names }, patterns));
  app.dataset.ready = '1';
}

runPage(main);
