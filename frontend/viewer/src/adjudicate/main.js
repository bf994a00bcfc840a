// Adjudication: both readings and their disagreement as overlays, slices ordered by disagreement,
// one decision per slice (reader 1, reader 2, union, intersection, or an edited mask), then finalise.
// Model predictions are layers too, and admins and adjudicators can run a model here (lib/run-model.js).
// state.js talks to the server, layers.js fills the viewport, tools.js edits, panels.js shows.
import { ApiError, appData, el, getJson } from '../lib/api.js';
import { loadLabelTable } from '../lib/labels.js';
import { modelPanel } from '../lib/run-model.js';
import { confirmDialog, helpDialog, runPage } from '../lib/ui.js';
import { SliceViewer } from '../lib/viewport.js';
import { WINDOWS } from '../lib/windowing.js';
import { addConsensusLayer, addReviewLayers } from './layers.js';
import { AdjudicationPanel } from './panels.js';
import { Consensus, loadReview, rankSlices } from './state.js';
import { EditMode, SHORTCUTS, bindAdjudicationKeys } from './tools.js';
import './adjudicate.css';

const FINALISE_WARNING = 'The decisions become the consensus masks and involvement is computed from them; no decision can change afterwards.';

async function openReview(app, seriesId) {
  // The readings and agreement, or null with the reason shown (not both submitted, not the adjudicator).
  const status = el('p', { role: 'status', class: 'save-status', 'data-testid': 'adjudication-status' });
  try {
    const review = await loadReview(seriesId, (message) => {
      status.textContent = message;
      app.replaceChildren(status);
    });
    app.replaceChildren();
    return review;
  } catch (error) {
    app.append(el('p', { class: 'error', role: 'alert', 'data-testid': 'adjudication-closed' }, error instanceof ApiError ? error.message : String(error)));
    return null;
  }
}

async function main() {
  const { app, data } = appData();
  const seriesId = Number(data.series);
  const geometry = { rows: Number(data.rows), columns: Number(data.columns), sliceCount: Number(data.slices) };
  const [table, review, spacing] = await Promise.all([loadLabelTable(), openReview(app, seriesId), getJson(`series/${seriesId}/`)]);
  if (!review) return;
  const consensus = new Consensus(seriesId, geometry);
  await consensus.refresh();
  const ranked = rankSlices(review.agreement);
  const stage = el('div', { class: 'stage' });
  const aside = el('aside', { class: 'panel', 'aria-label': 'Adjudication' });
  app.append(el('div', { class: 'workspace-grid' }, stage, aside));
  const viewer = new SliceViewer(stage, { seriesId, ...geometry, startSlice: ranked.length ? ranked[0].z_index : 0 });
  const readingOf = Object.fromEntries(review.readings.map((reading) => [reading.role, reading.id]));
  addReviewLayers(viewer, { seriesId, readingOf, table });
  const models = await modelPanel(viewer, { seriesId, labels: table.patterns });
  const page = wire({ app, aside, viewer, consensus, table, review, ranked, spacing, models });
  viewer.on((what) => what === 'slice' && page.render());
  page.render();
  await viewer.start();
  viewer.setWindow(WINDOWS.lung);
  viewer.element.focus();
}

function wire({ app, aside, viewer, consensus, table, review, ranked, spacing, models }) {
  // Connects the decisions, the edit mode, the panel and the keyboard; returns {render}.
  const help = helpDialog(SHORTCUTS);
  const decide = async (decision, z = viewer.z, mask = null) => {
    if (consensus.finalised) return;
    try {
      await consensus.decide(z, decision, mask);
      render();
    } catch (error) {
      panel.status.textContent = `Decision on slice ${z + 1} not saved: ${error.message}`;
    }
  };
  const edit = new EditMode(viewer, { consensus, patterns: table.patterns,
    onSave: (z, png) => decide('edited', z, png), onError: (message) => { panel.status.textContent = message; },
    onActive: (editing) => panel.setEditing(editing) });
  const finalise = () => finaliseConsensus({ consensus, panel, render });
  const panel = new AdjudicationPanel({ viewer, table, agreement: review.agreement, ranked, spacing, edit, models,
    on: { decide: (decision) => decide(decision), finalise, help: () => help.showModal() } });
  aside.append(...panel.elements);
  let consensusShown = false;
  const render = () => {
    panel.render(consensus);
    app.dataset.finalised = consensus.finalised ? '1' : '0';
    if (consensus.finalised && !consensusShown) {
      // Once finalised, the consensus itself can be looked at beside the readings.
      consensusShown = true;
      addConsensusLayer(viewer, { seriesId: consensus.seriesId, table });
      panel.addConsensusSwitch();
    }
  };
  const step = (delta) => {
    if (!ranked.length) return;
    const index = ranked.findIndex((row) => row.z_index === viewer.z);
    viewer.goTo(ranked[index < 0 ? 0 : Math.max(0, Math.min(ranked.length - 1, index + delta))].z_index);
  };
  bindAdjudicationKeys(viewer, { edit, decide: (decision) => decide(decision), step, showHelp: () => help.showModal(),
    toggleOverlay: (index) => panel.toggleOverlay(index) });
  return { render };
}

async function finaliseConsensus({ consensus, panel, render }) {
  const ok = await confirmDialog({ title: 'Finalise the consensus?', message: FINALISE_WARNING, confirm: 'Finalise' });
  if (!ok) return;
  try {
    await consensus.finalise({ onStarted: render, onProgress: (update) => panel.showJob(update) });
    render();
  } catch (error) {
    panel.status.textContent = `Finalising failed: ${error.message}`;
  }
}

runPage(main);
