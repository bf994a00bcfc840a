// The admins' AI pre-annotation switch, per assigned series, with its effect as the server states it
// (GET series/{id}/review/): whether it is on, which active model versions seed the readers' empty
// slices (and on how many slices they have predictions here), and per reading which versions seeded the
// slices it saved. PATCH series/{id}/review/ switches it; the effect is then read again.
import { el, getJson, request } from '../lib/api.js';
import { versionName } from '../models/names.js';
import './worklist.css';

function name(model, versions) {
  // "Model 5 · reticulation · demo weights" (GET models/ knows every version; an entry of the effect
  // carries its task and label).
  const id = model.model_version_id ?? model;
  return versionName(versions.get(id) || { id, task: model.task, is_demo: Boolean(model.label) });
}

function seedsCell(series, effect, versions) {
  const models = effect.seeding_models.map((model) => el('li', { 'data-model': String(model.model_version_id) },
    name(model, versions), ': ',
    model.slices_with_predictions
      ? `predictions on ${model.slices_with_predictions} of ${series.slice_count} slices`
      : el('span', {}, 'no predictions on this series yet (', el('a', { href: `/series/${series.id}/`, text: 'run it' }), ')')));
  const off = !effect.ai_preannotation;
  return el('td', { 'data-testid': 'preannotation-models', class: off ? 'preannotation-off' : '' },
    models.length ? el('ul', { class: 'plain' }, models) : 'No active reticulation or GGO model.',
    models.length && off ? el('p', { class: 'note', text: 'Used once it is switched on.' }) : null);
}

function readingsCell(effect, versions) {
  return el('td', {}, el('ul', { class: 'plain' }, effect.readings.map((reading) => {
    const seeded = reading.preannotated_from;
    return el('li', { 'data-reading': String(reading.id), 'data-testid': 'preannotated-from' },
      `${reading.role.replace('_', ' ')} (${reading.user}): `,
      el('span', { text: seeded.length ? seeded.map((id) => name(id, versions)).join(', ') : 'none' }));
  })));
}

function seriesRow(series, effect, { versions, onSwitch }) {
  const id = `preannotate-${series.id}`;
  const input = el('input', { type: 'checkbox', id, checked: effect.ai_preannotation, 'data-testid': id });
  input.addEventListener('change', () => onSwitch(series, input));
  return el('tr', { 'data-series': String(series.id), 'data-on': effect.ai_preannotation ? '1' : '0' },
    el('th', { scope: 'row', text: `#${series.id} · ${series.patient} · ${series.visit_label || ''} ${series.visit_date}` }),
    el('td', {}, el('label', { class: 'check', for: id }, input, 'On')),
    seedsCell(series, effect, versions), readingsCell(effect, versions));
}

function assignedSeries(readings) {
  const series = new Map();
  for (const reading of readings) {
    if (series.has(reading.series_id)) continue;
    series.set(reading.series_id, { id: reading.series_id, patient: reading.patient, visit_date: reading.visit_date,
      visit_label: reading.visit_label, slice_count: reading.slice_count });
  }
  return [...series.values()].sort((a, b) => a.id - b.id);
}

export async function preannotationSwitches() {
  const table = document.getElementById('preannotation');
  if (!table) return; // only admins have the section
  const status = document.getElementById('preannotation-status');
  const [readings, models] = await Promise.all([getJson('readings/'), getJson('models/').catch(() => [])]);
  const versions = new Map(models.map((version) => [version.id, version]));
  const effectOf = (series) => getJson(`series/${series.id}/review/`);
  const onSwitch = async (series, input) => {
    try {
      await request(`series/${series.id}/review/`, { method: 'PATCH', json: { ai_preannotation: input.checked } });
      status.textContent = `AI pre-annotation of series #${series.id} is ${input.checked ? 'on' : 'off'}.`;
    } catch (error) {
      status.textContent = `AI pre-annotation of series #${series.id} not changed: ${error.message}`;
    }
    const row = table.tBodies[0].querySelector(`tr[data-series="${series.id}"]`);
    row.replaceWith(seriesRow(series, await effectOf(series), { versions, onSwitch }));
    document.getElementById(`preannotate-${series.id}`).focus();
  };
  const assigned = assignedSeries(readings);
  const effects = await Promise.all(assigned.map(effectOf));
  table.tBodies[0].replaceChildren(...assigned.map((series, i) => seriesRow(series, effects[i], { versions, onSwitch })));
  table.hidden = assigned.length === 0;
  status.textContent = assigned.length ? `${assigned.length} assigned series` : 'No series is assigned yet.';
}
