// Reader workspace: one reading's masks on the series, painted and autosaved slice by slice.
// state.js holds the masks, review.js the slices done, tools.js the editor and keyboard, panels.js what
// the panel shows, submit.js the submit dialogs. No stroke is lost silently: strokes on a slice whose
// mask is still loading wait for it, saves go out as the slice changes and as the page goes, and a
// save refused because the sign-in lapsed waits for the next sign-in (lib/save-queue.js).
import { appData, el, getJson } from '../lib/api.js';
import { loadLabelTable } from '../lib/labels.js';
import { canRunModel, modelPanel } from '../lib/run-model.js';
import { Session, guardPageLeave } from '../lib/save-queue.js';
import { helpDialog, runPage } from '../lib/ui.js';
import { SliceViewer } from '../lib/viewport.js';
import { reformatPanel, reformatSwitch } from '../lib/reformat.js';
import { overlaySwitch, progressPanel, saveStatus, toolPanel } from './panels.js';
import './reader.css';
import { SliceReview } from './review.js';
import { recordReadingTime } from './reading-time.js';
import { ReadingMasks } from './state.js';
import { submitReading } from './submit.js';
import { bindReaderKeys, createEditor, readerShortcuts } from './tools.js';

async function main() {
  const { app, data } = appData();
  const { patterns } = await loadLabelTable();
  const page = { readingId: Number(data.reading), submitted: data.state === 'submitted' };
  const geometry = { rows: Number(data.rows), columns: Number(data.columns), sliceCount: Number(data.slices) };
  const stage = el('div', { class: 'stage' });
  const panel = el('aside', { class: 'panel', 'aria-label': 'Tools' });
  const images = el('div', { class: 'with-reformats' }, stage);
  app.append(el('div', { class: 'workspace-grid' }, images, panel));

  const viewer = new SliceViewer(stage, { seriesId: Number(data.series), ...geometry });
  const session = new Session({ probe: () => getJson(`readings/${page.readingId}/progress/`) });
  let editor = null;
  let reformats = null;
  const showStatus = () => status.show(summary(), page.submitted);
  const review = new SliceReview({ readingId: page.readingId, session, onChange: () => refresh() });
  const masks = new ReadingMasks({
    readingId: page.readingId, rows: geometry.rows, columns: geometry.columns, session,
    onChange: (z) => {
      if (z === viewer.z) viewer.drawOverlay();
      reformats?.redrawSoon();
      showStatus();
    },
    onLoaded: (z) => editor?.arrived(z),
    onSaved: (z) => {
      if (!review.isAnnotated(z)) review.refresh();
    },
  });
  const summary = () => ({ ...masks.summary(), queued: editor ? editor.queuedSlices() : [], marks: review.pending.size,
    markError: review.markError });
  const unsaved = () => {
    const now = summary();
    return Boolean(now.dirty || now.saving || now.queued.length || now.marks);
  };
  const status = saveStatus(masks, { retry: () => {
    session.check();
    masks.retryFailed();
    review.resend();
  } });
  editor = createEditor(viewer, masks, { patterns, submitted: page.submitted });
  viewer.addLayer({ name: 'mask', labels: patterns, labelsFor: (z) => masks.labelsFor(z) });
  viewer.addLayer({ name: 'queued', labels: patterns, labelsFor: (z) => editor.queuedLabels(z) });
  const overlay = overlaySwitch(viewer);
  const help = helpDialog(readerShortcuts(patterns));
  const progress = progressPanel(viewer, review);
  let tools = null;
  const refresh = () => {
    editor.enabled = !page.submitted;
    tools?.refresh(page.submitted);
    showStatus();
  };
  // The reader's active time on an open reading; what is not on the server yet goes before the submit.
  const readingTime = page.submitted ? null : recordReadingTime({ readingId: page.readingId, viewer, app });
  const submit = async () => {
    await readingTime?.flush();
    return submitReading({ app, page, masks, unsaved, review, viewer, status, refresh });
  };
  // Blinded reading: only admins and adjudicators see models here (readers only through AI pre-annotation).
  const models = canRunModel() ? await modelPanel(viewer, { seriesId: Number(data.series), labels: patterns }) : null;
  tools = toolPanel({ viewer, editor, patterns, overlay, models, onSubmit: submit, help, status, progress });
  panel.append(...tools.elements);
  const reformatShown = reformatSwitch(images, async () => {
    // The coronal and sagittal reformats show the reader's mask of every slice painted so far.
    const layers = [
      { name: 'mask', labels: patterns, peek: (z) => masks.peek(z) },
      { name: 'queued', labels: patterns, peek: (z) => editor.queuedLabels(z) },
    ];
    reformats = await reformatPanel(images, { axial: viewer, seriesId: Number(data.series), layers });
    const done = review.progress ?? (await review.refresh());
    for (const z of done?.annotated_slices ?? []) masks.load(z);
  });
  overlay.element.after(reformatShown.element);
  editor.on(refresh);
  refresh();
  review.refresh();

  bindReaderKeys({ viewer, editor, patterns, toggleOverlay: overlay.toggle, showHelp: () => help.showModal(), submit,
    toggleReviewed: () => review.toggle(viewer.z), isSubmitted: () => page.submitted });
  guardPageLeave({ unsaved, saveNow: () => {
    masks.saveAll();
    review.resend();
  } });
  viewer.on((what, z) => {
    if (what !== 'slice') return;
    masks.saveAll(); // what was painted on the slice left goes now, not after the pause
    masks.load(z).then(() => viewer.drawOverlay());
    refresh();
  });
  await viewer.start();
  viewer.element.focus();
  await reformatShown.start();
}

runPage(main);
