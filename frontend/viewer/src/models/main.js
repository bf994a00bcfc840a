// Models page: every registered model version with its provenance, its metrics per fold, over the folds
// and on the test set, its involvement agreement with the consensus (Bland–Altman) and its activation
// history; admins activate or deactivate a version with a reason, and start a training run.
import { appData, el, getJson } from '../lib/api.js';
import { runPage } from '../lib/ui.js';
import { activationControl, trainingForm } from './admin.js';
import { SIGN_TEXT, blandAltmanPlot } from './charts.js';
import { aiEffectSection } from './effect.js';
import { versionName } from './names.js';
import { activationHistory, agreementTable, metricsTable, provenance, settingsDetails } from './tables.js';

function agreement(version) {
  const involvement = version.involvement;
  const heading = el('h3', { text: 'Involvement: model against consensus' });
  if (!involvement || !['test', 'validation'].some((set) => involvement[set]?.patients?.length)) {
    return el('div', { class: 'agreement-block' }, heading,
      el('p', { class: 'note', 'data-testid': 'no-agreement', text: 'No involvement figures of this version against a consensus yet.' }));
  }
  return el('div', { class: 'agreement-block' }, heading,
    el('p', { 'data-testid': 'sign' }, 'Differences are ', el('strong', { text: SIGN_TEXT }),
      ', in percentage points (pp) of lung: a positive difference means the model finds more involvement than the consensus.'),
    agreementTable(version, involvement), blandAltmanPlot(version, involvement));
}

function versionSection(version, { admin, onChanged }) {
  const titleId = `model-${version.id}-title`;
  return el('section', { id: `model-${version.id}`, class: `model-version${version.is_active ? ' active' : ''}`, 'aria-labelledby': titleId,
    'data-version': String(version.id), 'data-active': version.is_active ? '1' : '0', 'data-testid': 'model-version' },
  el('h2', { id: titleId }, versionName(version), ' ',
    el('span', { class: `badge${version.is_active ? ' badge-active' : ''}`, 'data-testid': 'model-state', text: version.is_active ? 'active' : 'inactive' })),
  version.is_demo ? el('p', { class: 'demo-label', role: 'note', 'data-testid': 'demo-label' }, el('strong', { text: '⚠ ' }), version.label || 'Demo weights') : null,
  admin ? activationControl(version, onChanged) : null,
  el('div', { class: 'model-grid' },
    el('div', {}, provenance(version), settingsDetails(version.settings), activationHistory(version)),
    el('div', {}, el('h3', { text: 'Segmentation metrics' }), metricsTable(version), agreement(version))));
}

async function main() {
  const { app, data } = appData();
  const admin = data.admin === '1';
  const status = document.getElementById('models-status');
  const list = el('div', { class: 'model-list', 'data-testid': 'model-list' });
  app.append(list);
  if (admin) {
    app.append(trainingForm());
    // The AI effect is an admin's figure; the list of versions shows without it if it cannot be read.
    const effect = await getJson('statistics/ai-effect/').catch(() => null);
    if (effect) app.append(aiEffectSection(effect));
  }

  async function refresh(message = '') {
    const versions = await getJson('models/');
    list.replaceChildren(...versions.map((version) => versionSection(version, { admin, onChanged: refresh })));
    const active = versions.filter((version) => version.is_active).map((version) => `${version.task} (model ${version.id})`);
    status.textContent = [message, versions.length
      ? `${versions.length} model version(s); active: ${active.length ? active.join(', ') : 'none'}.`
      : 'No model versions registered yet.'].filter(Boolean).join(' ');
    app.dataset.ready = '1';
  }
  await refresh();
  // A link from the jobs page (#model-<id>) lands on its version once the page has drawn it.
  if (window.location.hash) document.getElementById(window.location.hash.slice(1))?.scrollIntoView();
}

runPage(main);
