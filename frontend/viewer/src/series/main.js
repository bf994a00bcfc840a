// Series viewer (read-only): the slices with consensus, model and lung-mask overlays to toggle, and the Lungs panel.
import { appData, el } from '../lib/api.js';
import { legendEntries, loadLabelTable } from '../lib/labels.js';
import { RemoteLabels } from '../lib/remote-labels.js';
import { bindPageKeys } from '../lib/shortcuts.js';
import { helpDialog, runPage } from '../lib/ui.js';
import { SliceViewer } from '../lib/viewport.js';
import { windowControls } from '../lib/windowing.js';
import { availableOverlays } from './overlays.js';
import { lungPanel } from './panels.js';

const SHORTCUTS = [
  ['Wheel, ↑ ↓, PgUp PgDn, Home End', 'Previous / next slice'],
  ['1…9', 'Show / hide an overlay'],
  ['L / M / C', 'Lung / mediastinal / custom window'],
  ['Shift+drag, right drag, middle drag, R', 'Custom window, zoom, pan, reset'],
  ['?', 'This help'],
];

function overlaySwitches(viewer, overlays, wanted) {
  // One layer and one checkbox per overlay; returns toggle(index) for the number keys, and reload(name).
  const redraw = (z) => z === viewer.z && viewer.drawOverlay();
  const sources = new Map();
  const inputs = overlays.map(({ name, url, labels, alpha = 0.45 }, index) => {
    const source = new RemoteLabels(url, { rows: viewer.rows, columns: viewer.columns, onLoaded: redraw });
    sources.set(name, source);
    viewer.addLayer({ name, visible: name === wanted, labelsFor: (z) => source.labelsFor(z), labels, alpha });
    const input = el('input', { type: 'checkbox', id: `show-${index}`, checked: name === wanted, 'data-testid': `show-${name}` });
    input.addEventListener('change', () => viewer.setLayerVisible(name, input.checked));
    return input;
  });
  const labels = inputs.map((input, index) =>
    el('label', { class: 'check', for: input.id }, input, overlays[index].title, el('kbd', { text: String(index + 1) })));
  const toggle = (index) => {
    inputs[index].checked = !inputs[index].checked;
    viewer.setLayerVisible(overlays[index].name, inputs[index].checked);
  };
  const reload = (name) => {
    sources.get(name)?.clear();
    viewer.drawOverlay();
  };
  return { labels, toggle, reload };
}

async function main() {
  const { app, data } = appData();
  const seriesId = Number(data.series);
  const geometry = { rows: Number(data.rows), columns: Number(data.columns), sliceCount: Number(data.slices) };
  const table = await loadLabelTable();
  const stage = el('div', { class: 'stage' });
  const panel = el('aside', { class: 'panel', 'aria-label': 'Overlays' });
  app.append(el('div', { class: 'workspace-grid' }, stage, panel));
  const viewer = new SliceViewer(stage, { seriesId, ...geometry, startSlice: Math.floor(geometry.sliceCount / 2) });
  const overlays = await availableOverlays({ seriesId, patientId: data.patient, table });
  const wanted = data.overlay || (overlays[0].name === 'consensus' ? 'consensus' : '');
  const switches = overlaySwitches(viewer, overlays, wanted);
  const help = helpDialog(SHORTCUTS);
  const lungs = lungPanel({ seriesId, lungLabels: table.lung, viewer, onRecomputed: () => switches.reload('lung') });
  panel.append(el('fieldset', {}, el('legend', { text: 'Overlays' }), switches.labels), windowControls(viewer),
    el('p', { class: 'legend' }, ...legendEntries(table.patterns)), lungs,
    el('button', { type: 'button', onclick: () => help.showModal() }, 'Shortcuts ', el('kbd', { text: '?' })));
  bindPageKeys(viewer, {
    plain: (event) => {
      if (event.key === '?') return () => help.showModal();
      const index = Number(event.key) - 1;
      return index >= 0 && index < overlays.length ? () => switches.toggle(index) : null;
    },
  });
  await viewer.start();
  viewer.element.focus();
}

runPage(main);
