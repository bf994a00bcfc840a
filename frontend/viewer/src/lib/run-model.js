// Models on a series, shared by the series, adjudication and reader pages:
// - OverlaySwitches: label maps fetched per slice as viewer layers, each with its checkbox; a layer can
//   be added or refreshed later (a model run just replaced its predictions);
// - the model overlays: one per model version with predictions on the series (GET series/{id}/models/),
//   named as everywhere else (models/names.js), so demo weights say so wherever they are shown;
// - the "Run model" action, for admins and adjudicators only (#app data-can-run-model="1"): the task
//   among those with an active model, POST series/{id}/inference/, the job followed with a progress bar
//   and a status line, and the finished predictions handed to the page, which shows them.
import { versionName } from '../models/names.js';
import { ApiError, el, getJson, postJson } from './api.js';
import { followJob, isFinished } from './jobs.js';
import { RemoteLabels } from './remote-labels.js';
import './run-model.css';

export function canRunModel() {
  // What the page was rendered with; the server refuses the run to anyone else anyway.
  return document.getElementById('app')?.dataset.canRunModel === '1';
}

export function loadSeriesModels(seriesId) {
  // {can_run, active: [{task, model_version_id, label, is_demo}],
  //  predictions: [{model_version_id, task, label, slices, complete}]}
  return getJson(`series/${seriesId}/models/`);
}

export function modelTitle({ model_version_id: id, task, label, is_demo: demo }) {
  // A model on a series (an active one, or one with predictions) named as everywhere else:
  // "Model 3 · merged · demo weights".
  return versionName({ id, task, is_demo: demo ?? Boolean(label) });
}

export function modelOverlay(seriesId, prediction, labels) {
  // The overlay of one version's predictions (8-bit label maps; a merged model's "abnormal" is 1).
  const id = prediction.model_version_id;
  return { name: `model:${id}`, title: modelTitle(prediction), labels,
    url: (z) => `/api/v1/series/${seriesId}/slices/${z}/predictions/${id}` };
}

function demoBadge(label) {
  return el('span', { class: 'model-demo', 'data-testid': 'model-demo-label' },
    el('span', { 'aria-hidden': 'true', text: '⚠ ' }), label);
}

export function addRemoteLayer(viewer, overlay, { visible = false } = {}) {
  // The overlay ({name, url(z), labels, alpha}) as a layer of the viewer, fetched per slice as drawn;
  // returns its RemoteLabels (clear() it when the server's maps change).
  const source = new RemoteLabels(overlay.url, { rows: viewer.rows, columns: viewer.columns,
    onLoaded: (z) => z === viewer.z && viewer.drawOverlay() });
  viewer.addLayer({ name: overlay.name, visible, labelsFor: (z) => source.labelsFor(z), labels: overlay.labels,
    alpha: overlay.alpha ?? 0.45 });
  return source;
}

export class OverlaySwitches {
  // overlays: {name, title, url(z), labels, alpha}; `numbered`: each checkbox shows its number key
  // (1..9), which the page binds to toggle(index).
  constructor(viewer, { numbered = false } = {}) {
    Object.assign(this, { viewer, numbered });
    this.entries = [];
    this.element = el('div', { class: 'overlay-switches' });
  }

  get length() {
    return this.entries.length;
  }

  add(overlay, { visible = false } = {}) {
    const { viewer } = this;
    const index = this.entries.length;
    const input = el('input', { type: 'checkbox', id: `show-${overlay.name}`, checked: visible, 'data-testid': `show-${overlay.name}` });
    input.addEventListener('change', () => viewer.setLayerVisible(overlay.name, input.checked));
    const source = addRemoteLayer(viewer, overlay, { visible });
    this.entries.push({ overlay, source, input });
    this.element.append(el('label', { class: 'check', for: input.id }, input, overlay.title,
      this.numbered && index < 9 ? el('kbd', { text: String(index + 1) }) : null));
  }

  entry(name) {
    return this.entries.find((entry) => entry.overlay.name === name);
  }

  setVisible(entry, visible) {
    entry.input.checked = visible;
    this.viewer.setLayerVisible(entry.overlay.name, visible);
  }

  toggle(index) {
    const entry = this.entries[index];
    if (entry) this.setVisible(entry, !entry.input.checked);
  }

  reload(name) {
    // The server's label maps changed: fetched again when next drawn.
    this.entry(name)?.source.clear();
    this.viewer.drawOverlay();
  }

  show(overlay) {
    // Add the overlay, or refresh it when it is there, and turn it on.
    if (this.entry(overlay.name)) this.reload(overlay.name);
    else this.add(overlay);
    this.setVisible(this.entry(overlay.name), true);
  }
}

function jobText(job, model) {
  const percent = `${Math.round((job.progress || 0) * 100)} %`;
  return {
    queued: `${model} is queued for a worker…`,
    running: `${model} is running on this series: ${percent}`,
    done: `${model} has finished: its predictions are shown.`,
    failed: `${model} failed: ${job.error || 'no reason given'}`,
    cancelled: `The run of ${model} was cancelled.`,
  }[job.state] || `${model}: ${job.state}`;
}

class RunModel {
  // The action's elements and its one run at a time; onDone(prediction) when predictions are stored.
  constructor({ seriesId, active, onDone }) {
    Object.assign(this, { seriesId, active, onDone });
    this.select = el('select', { id: 'run-model-task', 'data-testid': 'run-model-task', onchange: () => this.describe() },
      active.map((model) => el('option', { value: model.task, text: `${model.task} · Model ${model.model_version_id}` })));
    this.label = el('p', { class: 'run-model-label' });
    this.button = el('button', { type: 'button', class: 'primary', 'data-testid': 'run-model', onclick: () => this.run() }, 'Run model');
    this.progress = el('progress', { max: '1', value: '0', hidden: true, 'data-testid': 'run-model-progress', 'aria-labelledby': 'run-model-title' });
    this.status = el('p', { role: 'status', class: 'run-model-status', 'data-testid': 'run-model-status' });
    this.error = el('p', { role: 'alert', class: 'error', 'data-testid': 'run-model-error' });
    this.section = el('section', { class: 'run-model', 'aria-labelledby': 'run-model-title', 'data-testid': 'run-model-panel', 'data-state': 'idle' },
      el('h2', { id: 'run-model-title', text: 'Run model' }), ...this.choice(), this.progress, this.status, this.error);
    this.describe();
  }

  choice() {
    if (!this.active.length) {
      return [el('p', { 'data-testid': 'run-model-none' }, 'No task has an active model. An admin activates one on the ',
        el('a', { href: '/models/', text: 'Models page' }), '.')];
    }
    return [el('div', { class: 'row' }, el('label', { for: 'run-model-task', text: 'Task' }), this.select), this.label, this.button];
  }

  get chosen() {
    return this.active.find((model) => model.task === this.select.value);
  }

  describe() {
    const model = this.chosen;
    this.label.replaceChildren(...(model && model.label ? [demoBadge(model.label)] : []));
  }

  setState(state) {
    this.section.dataset.state = state;
    const busy = state === 'queued' || state === 'running';
    this.button.disabled = busy;
    this.select.disabled = busy;
    this.progress.hidden = !busy && state !== 'done';
  }

  async run() {
    const model = this.chosen;
    if (!model) return;
    this.error.textContent = '';
    this.setState('queued');
    this.status.textContent = `Asking to run ${modelTitle(model)}…`;
    try {
      const job = await postJson(`series/${this.seriesId}/inference/`, { task: model.task });
      await this.follow(job, model);
    } catch (error) {
      this.setState('failed');
      this.status.textContent = '';
      this.error.textContent = `The model did not run: ${error instanceof ApiError ? error.message : String(error)}`;
    }
  }

  async follow(job, model) {
    // model: the active entry the job runs, {task, model_version_id, label, is_demo} (the id from the job).
    const ran = { ...model, model_version_id: job.model_version_id ?? model.model_version_id };
    const name = modelTitle(ran);
    const show = (update) => {
      this.setState(update.state);
      this.progress.value = update.progress || 0;
      this.progress.dataset.job = String(update.id);
      const text = jobText(update, name);
      const bad = update.state === 'failed' || update.state === 'cancelled';
      this.status.textContent = bad ? '' : text;
      this.error.textContent = bad ? text : '';
    };
    show(job);
    const ended = isFinished(job) ? job : await followJob(job.id, show);
    if (ended.state === 'done') this.onDone(ran);
  }

  async resume() {
    // A run of this series still queued or running (started before this page opened) is followed here.
    const jobs = await getJson(`jobs/?series=${this.seriesId}&active=1`).catch(() => []);
    const job = jobs.find((candidate) => candidate.kind === 'inference');
    if (!job) return;
    const model = this.active.find((entry) => entry.model_version_id === job.model_version_id)
      || { model_version_id: job.model_version_id }; // no longer active: named by its id
    await this.follow(job, model).catch((error) => {
      this.error.textContent = `Could not follow the model run: ${error.message}`;
    });
  }
}

export function runModelPanel({ seriesId, models, onDone }) {
  // The "Run model" section, or null for users who may not run a model.
  if (!canRunModel() || models.can_run === false) return null;
  const action = new RunModel({ seriesId, active: models.active, onDone });
  action.resume();
  return action.section;
}

export async function modelPanel(viewer, { seriesId, labels }) {
  // The adjudication and reader pages' model tools: a switch per model with predictions on the series
  // and, for those who may, the Run model action. Null when there is neither, or the models cannot be read.
  let models;
  try {
    models = await loadSeriesModels(seriesId);
  } catch (error) {
    console.warn(`models of series ${seriesId}: ${error.message}`);
    return null;
  }
  const switches = new OverlaySwitches(viewer);
  const overlays = el('fieldset', { class: 'model-overlays', 'data-testid': 'model-overlays' },
    el('legend', { text: 'Model overlays' }), switches.element);
  for (const prediction of models.predictions) switches.add(modelOverlay(seriesId, prediction, labels));
  const run = runModelPanel({ seriesId, models, onDone: (prediction) => {
    switches.show(modelOverlay(seriesId, prediction, labels));
    overlays.hidden = false;
  } });
  if (!run && !switches.length) return null;
  overlays.hidden = !switches.length;
  return el('div', { class: 'model-tools' }, overlays, run);
}
