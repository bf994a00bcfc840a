// Adjudication: both readings and their disagreement as overlays, slices ordered by disagreement,
// one decision per slice (reader 1, reader 2, union, intersection, or an edited mask), then finalise.
import { ApiError, appData, el, getJson, request } from '../lib/api.js';
import { DISAGREEMENT_COLOURS, LABEL_COLOURS, RemoteLabels, SliceViewer, WINDOWS } from '../lib/viewer.js';
import { LABEL_NAMES, LabelEditor } from '../lib/editor.js';
import { encodeLabelPng } from '../lib/png.js';
import { followJob } from '../lib/jobs.js';
import { button, confirmDialog, helpDialog, isTyping } from '../lib/ui.js';

const DECISIONS = [
  ['reader_1', 'Reader 1', '1'],
  ['reader_2', 'Reader 2', '2'],
  ['union', 'Union', 'U'],
  ['intersection', 'Intersection', 'I'],
];
const OVERLAYS = [
  ['reader_1', 'Reader 1', 'Q'],
  ['reader_2', 'Reader 2', 'W'],
  ['disagreement', 'Disagreement', 'D'],
];
const SHORTCUTS = [
  ['Wheel, ↑ ↓, PgUp PgDn', 'Previous / next slice'],
  ['N / P', 'Next / previous slice in the disagreement list'],
  ['1 / 2 / U / I', 'Decide: reader 1, reader 2, union, intersection'],
  ['E', 'Edit: start from the union and paint (B brush, X eraser, 1/2 pattern while editing, [ ] size); Enter saves, Esc cancels'],
  ['Q / W / D', 'Show / hide reader 1, reader 2, disagreement'],
  ['L / M / C', 'Lung / mediastinal / custom window'],
  ['?', 'This help'],
];

async function main() {
  const { app, data } = appData();
  const seriesId = Number(data.series);
  const geometry = { rows: Number(data.rows), columns: Number(data.columns), sliceCount: Number(data.slices) };
  const status = el('p', { role: 'status', class: 'save-status', 'data-testid': 'adjudication-status' });

  let readings;
  let agreement;
  try {
    readings = await getJson(`series/${seriesId}/readings/`);
    // The agreement job may still be running just after the second submit: 409 until it is done.
    for (let attempt = 0; ; attempt++) {
      try {
        agreement = await getJson(`series/${seriesId}/agreement/`);
        break;
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 409) || attempt > 60) throw error;
        status.textContent = error.message;
        app.replaceChildren(status);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
    app.replaceChildren();
  } catch (error) {
    app.append(el('p', { class: 'error', role: 'alert', 'data-testid': 'adjudication-closed' }, error instanceof ApiError ? error.message : String(error)));
    return;
  }
  const readingOf = Object.fromEntries(readings.map((reading) => [reading.role, reading.id]));
  let consensus = await getJson(`series/${seriesId}/consensus/`);

  const stage = el('div', { class: 'stage' });
  const panel = el('aside', { class: 'panel', 'aria-label': 'Adjudication' });
  app.append(el('div', { class: 'workspace-grid' }, stage, panel));
  const ranked = [...agreement.slices_by_disagreement].sort((a, b) => b.differing_pixels - a.differing_pixels || a.z_index - b.z_index);
  const viewer = new SliceViewer(stage, { seriesId, ...geometry, startSlice: ranked.length ? ranked[0].z_index : 0 });
  const redraw = (z) => z === viewer.z && viewer.drawOverlay();
  const sources = {
    reader_1: new RemoteLabels((z) => `/api/v1/readings/${readingOf.reader_1}/slices/${z}/mask`, { ...geometry, onLoaded: redraw }),
    reader_2: new RemoteLabels((z) => `/api/v1/readings/${readingOf.reader_2}/slices/${z}/mask`, { ...geometry, onLoaded: redraw }),
    disagreement: new RemoteLabels((z) => `/api/v1/series/${seriesId}/slices/${z}/disagreement`, { ...geometry, onLoaded: redraw }),
  };
  viewer.addLayer({ name: 'reader_1', visible: false, labelsFor: (z) => sources.reader_1.labelsFor(z), colours: LABEL_COLOURS });
  viewer.addLayer({ name: 'reader_2', visible: false, labelsFor: (z) => sources.reader_2.labelsFor(z), colours: LABEL_COLOURS });
  viewer.addLayer({ name: 'disagreement', visible: true, labelsFor: (z) => sources.disagreement.labelsFor(z), colours: DISAGREEMENT_COLOURS, alpha: 0.6 });

  // ---- edit mode: a local label map of one slice, posted as decision "edited"
  let edit = null; // {z, labels}
  viewer.addLayer({ name: 'edit', visible: true, labelsFor: (z) => (edit && edit.z === z ? edit.labels : null), colours: LABEL_COLOURS, alpha: 0.5 });
  const editor = new LabelEditor(viewer, { labelsFor: (z) => (edit && edit.z === z ? edit.labels : null), onEdited: () => {}, enabled: false });
  const editBar = el('div', { class: 'conflict', hidden: true, 'data-testid': 'edit-bar' });

  // ---- panel
  const overlayChecks = OVERLAYS.map(([name, label, key]) => {
    const input = el('input', { type: 'checkbox', id: `show-${name}`, 'data-testid': `show-${name}`, checked: viewer.layer(name).visible });
    input.addEventListener('change', () => viewer.setLayerVisible(name, input.checked));
    return el('label', { class: 'check', for: `show-${name}` }, input, label, el('kbd', { text: key }));
  });
  const legend = el('div', { class: 'legend' },
    ...Object.entries(LABEL_NAMES).map(([label, name]) => el('span', {}, el('span', { class: 'swatch', style: `background: rgb(${LABEL_COLOURS[label]})` }), name)),
    ...[['1', 'Only reader 1'], ['2', 'Only reader 2'], ['3', 'Both, different pattern']].map(([label, name]) =>
      el('span', {}, el('span', { class: 'swatch', style: `background: rgb(${DISAGREEMENT_COLOURS[label]})` }), name)));
  const decisionButtons = DECISIONS.map(([decision, label, key]) => button(label, { key, testid: `decide-${decision}`, onclick: () => decide(decision) }));
  const editButton = button('Edit…', { key: 'E', testid: 'decide-edited', onclick: () => startEdit() });
  const sliceList = el('ul', { class: 'slice-list', 'aria-label': 'Slices by disagreement', 'data-testid': 'slice-list' });
  const finalise = el('button', { type: 'button', class: 'primary', 'data-testid': 'finalise', onclick: () => finaliseConsensus() }, 'Finalise consensus…');
  const progress = el('progress', { max: '1', value: '0', hidden: true, 'data-testid': 'finalise-progress' });
  const figures = agreement.series || {};
  const help = helpDialog(SHORTCUTS);
  panel.append(
    el('p', {}, `Dice reticulation ${fmt(figures.dice_reticulation)}, GGO ${fmt(figures.dice_ggo)}, combined ${fmt(figures.dice_combined)}`),
    el('fieldset', {}, el('legend', { text: 'Overlays' }), overlayChecks, legend),
    el('fieldset', {}, el('legend', { text: 'Decision for this slice' }), decisionButtons, editButton),
    viewer.windowControls(),
    editBar,
    el('h2', { text: 'Slices by disagreement', style: 'font-size: .95rem; margin: 0' }),
    sliceList,
    status,
    el('div', { class: 'row' }, finalise, button('Shortcuts', { key: '?', onclick: () => help.showModal() })),
    progress,
  );

  let consensusShown = false;
  function showConsensusLayer() {
    // Once finalised, the consensus itself can be looked at beside the readings.
    if (consensusShown || !consensus.finalized_at) return;
    consensusShown = true;
    const source = new RemoteLabels((z) => `/api/v1/series/${seriesId}/consensus/slices/${z}/mask`, { ...geometry, onLoaded: redraw });
    viewer.addLayer({ name: 'consensus', visible: false, labelsFor: (z) => source.labelsFor(z), colours: LABEL_COLOURS });
    const input = el('input', { type: 'checkbox', id: 'show-consensus', 'data-testid': 'show-consensus' });
    input.addEventListener('change', () => viewer.setLayerVisible('consensus', input.checked));
    overlayChecks[0].parentElement.insertBefore(el('label', { class: 'check', for: 'show-consensus' }, input, 'Consensus'), legend);
  }

  const decisionOf = () => Object.fromEntries(consensus.decisions.map((d) => [d.z_index, d.decision]));
  function render() {
    const decided = decisionOf();
    const undecided = new Set(consensus.undecided_slices);
    sliceList.replaceChildren(...ranked.map((row) => el('li', {}, el('button', {
      type: 'button', 'aria-current': String(row.z_index === viewer.z), 'data-z': String(row.z_index),
      onclick: () => viewer.goTo(row.z_index),
    }, el('span', { text: `Slice ${row.z_index + 1} · ${row.differing_pixels} px` }),
    el('span', { class: decided[row.z_index] ? 'decided' : '', text: decided[row.z_index] ? decided[row.z_index].replace('_', ' ') : (undecided.has(row.z_index) ? 'to decide' : '') })))));
    const current = decided[viewer.z];
    decisionButtons.forEach((node, i) => node.setAttribute('aria-pressed', String(DECISIONS[i][0] === current)));
    editButton.setAttribute('aria-pressed', String(current === 'edited'));
    const finalised = Boolean(consensus.finalized_at);
    for (const node of [...decisionButtons, editButton]) node.disabled = finalised;
    finalise.disabled = finalised || consensus.undecided_slices.length > 0;
    status.textContent = finalised
      ? 'Consensus finalised.'
      : consensus.undecided_slices.length
        ? `${consensus.undecided_slices.length} slice(s) still to decide: ${consensus.undecided_slices.map((z) => z + 1).join(', ')}`
        : 'Every slice with a mark is decided; the consensus can be finalised.';
    app.dataset.finalised = finalised ? '1' : '0';
    showConsensusLayer();
  }

  async function decide(decision, mask = null) {
    if (consensus.finalized_at) return;
    const z = viewer.z;
    try {
      if (mask) {
        const form = new FormData();
        form.append('decision', decision);
        form.append('mask', mask, `slice-${z}.png`);
        await request(`series/${seriesId}/consensus/slices/${z}/`, { method: 'POST', body: form });
      } else {
        await request(`series/${seriesId}/consensus/slices/${z}/`, { method: 'POST', json: { decision } });
      }
      consensus = await getJson(`series/${seriesId}/consensus/`);
      render();
    } catch (error) {
      status.textContent = `Decision on slice ${z + 1} not saved: ${error.message}`;
    }
  }

  async function startEdit() {
    if (consensus.finalized_at) return;
    const z = viewer.z;
    const [first, second] = await Promise.all([sources.reader_1.load(z), sources.reader_2.load(z)]);
    const labels = new Uint8Array(geometry.rows * geometry.columns);
    for (let i = 0; i < labels.length; i++) labels[i] = (first && first[i]) || (second && second[i]) || 0;
    edit = { z, labels };
    editor.enabled = true;
    editBar.hidden = false;
    editBar.replaceChildren(
      el('p', {}, el('strong', { text: `Editing slice ${z + 1}` }), ' (started from the union). Paint with the left button; B brush, X eraser, 1/2 pattern, [ ] size.'),
      el('div', { class: 'row' },
        el('button', { type: 'button', class: 'primary', 'data-testid': 'save-edit', onclick: () => saveEdit() }, 'Save edited mask (Enter)'),
        el('button', { type: 'button', onclick: () => stopEdit() }, 'Cancel (Esc)')));
    viewer.drawOverlay();
  }

  function stopEdit() {
    edit = null;
    editor.enabled = false;
    editBar.hidden = true;
    viewer.drawOverlay();
  }

  async function saveEdit() {
    if (!edit) return;
    if (viewer.z !== edit.z) await viewer.goTo(edit.z);
    const png = await encodeLabelPng(edit.labels, geometry.columns, geometry.rows);
    await decide('edited', png);
    stopEdit();
  }

  async function finaliseConsensus() {
    const ok = await confirmDialog({ title: 'Finalise the consensus?', message: 'The decisions become the consensus masks and involvement is computed from them; no decision can change afterwards.', confirm: 'Finalise' });
    if (!ok) return;
    try {
      const job = await (await request(`series/${seriesId}/consensus/finalize/`, { method: 'POST' })).json();
      progress.hidden = false;
      consensus = await getJson(`series/${seriesId}/consensus/`);
      render();
      await followJob(job.id, (update) => {
        progress.value = update.progress;
        status.textContent = `Computing consensus involvement: ${update.state} ${Math.round(update.progress * 100)}%`;
        if (update.state === 'failed') status.textContent = `Involvement job failed: ${update.error}`;
      });
      consensus = await getJson(`series/${seriesId}/consensus/`);
      render();
    } catch (error) {
      status.textContent = `Finalising failed: ${error.message}`;
    }
  }

  function step(delta) {
    if (!ranked.length) return;
    const index = ranked.findIndex((row) => row.z_index === viewer.z);
    const next = index < 0 ? 0 : Math.max(0, Math.min(ranked.length - 1, index + delta));
    viewer.goTo(ranked[next].z_index);
  }

  document.addEventListener('keydown', (event) => {
    if (isTyping(event) || help.open || document.querySelector('dialog[open]')) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLInputElement && event.target.type === 'range' && event.key.startsWith('Arrow')) return;
    if (viewer.handleKey(event)) return;
    const key = event.key.toLowerCase();
    let action;
    if (edit) {
      action = { enter: saveEdit, escape: stopEdit, b: () => editor.set({ tool: 'brush' }), x: () => editor.set({ tool: 'eraser' }),
        1: () => editor.set({ label: 1 }), 2: () => editor.set({ label: 2 }), '[': () => editor.set({ radius: editor.radius - 1 }), ']': () => editor.set({ radius: editor.radius + 1 }) }[key];
    } else {
      action = {
        1: () => decide('reader_1'), 2: () => decide('reader_2'), u: () => decide('union'), i: () => decide('intersection'), e: startEdit,
        n: () => step(1), p: () => step(-1), '?': () => help.showModal(),
        q: () => toggle(0), w: () => toggle(1), d: () => toggle(2),
      }[key];
    }
    if (action) {
      event.preventDefault();
      action();
    }
  });
  function toggle(index) {
    const input = overlayChecks[index].querySelector('input');
    input.checked = !input.checked;
    viewer.setLayerVisible(OVERLAYS[index][0], input.checked);
  }
  viewer.on((what) => what === 'slice' && render());
  render();
  window.ildViewer = { viewer, editor };
  await viewer.start();
  viewer.setWindow(WINDOWS.lung);
  viewer.element.focus();
}

function fmt(value) {
  return typeof value === 'number' ? value.toFixed(2) : '–';
}

main();
