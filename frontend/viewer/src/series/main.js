// Series viewer (read-only): the slices with consensus, model and lung-mask overlays to toggle, the
// visit's involvement, the Lungs panel, a side-by-side comparison with the previous visit, and for admins
// and adjudicators the Run model action, whose result is added as an overlay.
import { appData, el, getJson } from '../lib/api.js';
import { legendEntries, loadLabelTable } from '../lib/labels.js';
import { OverlaySwitches, modelOverlay, runModelPanel } from '../lib/run-model.js';
import { bindPageKeys } from '../lib/shortcuts.js';
import { helpDialog, runPage } from '../lib/ui.js';
import { reformatPanel, reformatSwitch } from '../lib/reformat.js';
import { SliceViewer } from '../lib/viewport.js';
import { windowControls } from '../lib/windowing.js';
import { compareSwitch } from './compare.js';
import { involvementPanel } from './involvement.js';
import { availableOverlays } from './overlays.js';
import { lungPanel } from './panels.js';

const SHORTCUTS = [
  ['Wheel, ↑ ↓, PgUp PgDn, Home End', 'Previous / next slice'],
  ['1…9', 'Show / hide an overlay'],
  ['L / M / C', 'Lung / mediastinal / custom window'],
  ['Shift+drag, right drag, middle drag, R', 'Custom window, zoom, pan, reset'],
  ['?', 'This help'],
];

async function main() {
  const { app, data } = appData();
  const seriesId = Number(data.series);
  const geometry = { rows: Number(data.rows), columns: Number(data.columns), sliceCount: Number(data.slices) };
  const [table, series] = await Promise.all([loadLabelTable(), getJson(`series/${seriesId}/`)]);
  const here = el('div', { class: 'stage stage-main' });
  const previous = el('div', { class: 'stage', hidden: true, 'data-testid': 'compare' });
  const stage = el('div', { class: 'compare-stage' }, here, previous);
  const panel = el('aside', { class: 'panel', 'aria-label': 'Overlays' });
  const images = el('div', { class: 'with-reformats' }, stage);
  app.append(el('div', { class: 'workspace-grid' }, images, panel));
  const viewer = new SliceViewer(here, { seriesId, ...geometry, startSlice: Math.floor(geometry.sliceCount / 2) });
  const { overlays, models } = await availableOverlays({ seriesId, table });
  const wanted = data.overlay || (overlays[0].name === 'consensus' ? 'consensus' : '');
  const switches = new OverlaySwitches(viewer, { numbered: true });
  for (const overlay of overlays) switches.add(overlay, { visible: overlay.name === wanted });
  // A finished run adds its model's layer (or refreshes it) and turns it on.
  const run = models && runModelPanel({ seriesId, models,
    onDone: (prediction) => switches.show(modelOverlay(seriesId, prediction, table.patterns)) });
  const help = helpDialog(SHORTCUTS);
  const lungs = lungPanel({ seriesId, lungLabels: table.lung, viewer, onRecomputed: () => switches.reload('lung') });
  const compare = await compareSwitch({ viewer, stage, pane: previous, patientId: Number(data.patient), visitId: series.visit_id, table })
    .catch(() => null); // the comparison is an extra: the page works without it
  const reformatShown = reformatSwitch(images, () => showReformats(images, { viewer, seriesId, switches }));
  panel.append(...[el('fieldset', {}, el('legend', { text: 'Overlays' }), switches.element), reformatShown.element, compare, run,
    windowControls(viewer),
    el('p', { class: 'legend' }, ...legendEntries(table.patterns)), involvementPanel({ visitId: series.visit_id, patterns: table.patterns }), lungs,
    el('button', { type: 'button', onclick: () => help.showModal() }, 'Shortcuts ', el('kbd', { text: '?' }))].filter(Boolean));
  bindPageKeys(viewer, {
    plain: (event) => {
      if (event.key === '?') return () => help.showModal();
      const index = Number(event.key) - 1;
      return index >= 0 && index < Math.min(9, switches.length) ? () => switches.toggle(index) : null;
    },
  });
  await viewer.start();
  viewer.element.focus();
  await reformatShown.start();
}

async function showReformats(images, { viewer, seriesId, switches }) {
  // The overlays on the coronal and sagittal too: each one's every slice is fetched once it is switched on.
  const layers = switches.entries.map(({ overlay, source }) => ({ name: overlay.name, labels: overlay.labels,
    ...(overlay.alpha === undefined ? {} : { alpha: overlay.alpha }), peek: (z) => source.peek(z) }));
  const reformats = await reformatPanel(images, { axial: viewer, seriesId, layers });
  const loadShown = () => {
    for (const { source, input } of switches.entries) if (input.checked) source.loadAll(viewer.sliceCount);
  };
  for (const { source } of switches.entries) source.on(reformats.redrawSoon);
  viewer.on((what) => what === 'layers' && loadShown()); // a switch clicked or its number key pressed
  loadShown();
}

runPage(main);
