// Reader workspace: one reading's masks on the series, painted and autosaved slice by slice.
// state.js holds the masks, tools.js the editor and keyboard, panels.js what the panel shows.
import { appData, el, request } from '../lib/api.js';
import { loadLabelTable } from '../lib/labels.js';
import { canRunModel, modelPanel } from '../lib/run-model.js';
import { confirmDialog, helpDialog, runPage } from '../lib/ui.js';
import { SliceViewer } from '../lib/viewport.js';
import { overlaySwitch, saveStatus, toolPanel } from './panels.js';
import { ReadingMasks } from './state.js';
import { bindReaderKeys, createEditor, readerShortcuts } from './tools.js';

const SUBMIT_WARNING = 'After submitting you cannot change your masks (an admin can reopen the reading). '
  + 'The other reader\'s masks stay hidden until both have submitted.';

async function main() {
  const { app, data } = appData();
  const { patterns } = await loadLabelTable();
  const page = { readingId: Number(data.reading), submitted: data.state === 'submitted' };
  const geometry = { rows: Number(data.rows), columns: Number(data.columns), sliceCount: Number(data.slices) };
  const stage = el('div', { class: 'stage' });
  const panel = el('aside', { class: 'panel', 'aria-label': 'Tools' });
  app.append(el('div', { class: 'workspace-grid' }, stage, panel));

  const viewer = new SliceViewer(stage, { seriesId: Number(data.series), ...geometry });
  const masks = new ReadingMasks({
    readingId: page.readingId, rows: geometry.rows, columns: geometry.columns,
    onChange: (z, summary) => {
      if (z === viewer.z) viewer.drawOverlay();
      status.show(summary, page.submitted);
    },
  });
  const status = saveStatus(masks);
  viewer.addLayer({ name: 'mask', labels: patterns, labelsFor: (z) => masks.labelsFor(z) });
  const editor = createEditor(viewer, masks, { patterns, submitted: page.submitted });
  const overlay = overlaySwitch(viewer);
  const help = helpDialog(readerShortcuts(patterns));
  const submit = () => submitReading({ app, page, masks, editor, status, refresh: () => tools.refresh(page.submitted) });
  // Blinded reading: only admins and adjudicators see models here (readers only through AI pre-annotation).
  const models = canRunModel() ? await modelPanel(viewer, { seriesId: Number(data.series), labels: patterns }) : null;
  const tools = toolPanel({ viewer, editor, patterns, overlay, models, onSubmit: submit, help, status });
  panel.append(...tools.elements);
  editor.on(() => tools.refresh(page.submitted));
  tools.refresh(page.submitted);
  status.show(masks.summary(), page.submitted);

  bindReaderKeys({ viewer, editor, patterns, toggleOverlay: overlay.toggle, showHelp: () => help.showModal(), submit,
    isSubmitted: () => page.submitted });
  window.addEventListener('beforeunload', (event) => {
    const summary = masks.summary();
    if (summary.dirty || summary.saving) event.preventDefault();
  });
  viewer.on((what, z) => {
    if (what === 'slice') masks.load(z).then(() => viewer.drawOverlay());
  });
  await viewer.start();
  viewer.element.focus();
}

async function submitReading({ app, page, masks, editor, status, refresh }) {
  if (page.submitted) return;
  const summary = await masks.flush();
  if (summary.conflicts.length || summary.errors.length || summary.dirty) {
    status.status.textContent = 'Resolve the unsaved slices before submitting.';
    return;
  }
  const ok = await confirmDialog({ title: 'Submit this reading?', message: SUBMIT_WARNING, confirm: 'Submit' });
  if (!ok) return;
  try {
    await request(`readings/${page.readingId}/submit/`, { method: 'POST' });
    page.submitted = true;
    editor.enabled = false;
    app.dataset.state = 'submitted';
    refresh();
    status.show(masks.summary(), true);
  } catch (error) {
    status.status.textContent = `Submit failed: ${error.message}`;
  }
}

runPage(main);
