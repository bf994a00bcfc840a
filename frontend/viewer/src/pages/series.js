// Series viewer (read-only): the slices with consensus, model and lung-mask overlays to toggle.
import { appData, el, getJson } from '../lib/api.js';
import { LABEL_COLOURS, RemoteLabels, SliceViewer } from '../lib/viewer.js';
import { helpDialog, isTyping } from '../lib/ui.js';

async function main() {
  const { app, data } = appData();
  const seriesId = Number(data.series);
  const geometry = { rows: Number(data.rows), columns: Number(data.columns), sliceCount: Number(data.slices) };
  const stage = el('div', { class: 'stage' });
  const panel = el('aside', { class: 'panel', 'aria-label': 'Overlays' });
  app.append(el('div', { class: 'workspace-grid' }, stage, panel));
  const viewer = new SliceViewer(stage, { seriesId, ...geometry, startSlice: Math.floor(geometry.sliceCount / 2) });
  const redraw = (z) => z === viewer.z && viewer.drawOverlay();

  const overlays = [];
  try {
    // Only a finalised consensus has masks to show; asking per slice otherwise would be 404s.
    const consensus = await getJson(`series/${seriesId}/consensus/`);
    if (consensus.finalized_at) overlays.push(['consensus', 'Consensus', (z) => `/api/v1/series/${seriesId}/consensus/slices/${z}/mask`, LABEL_COLOURS]);
  } catch {
    // No review, or not visible to this user yet.
  }
  try {
    const rows = await getJson(`patients/${data.patient}/involvement/`);
    for (const source of new Set(rows.filter((row) => row.series_id === seriesId && row.source.startsWith('model:')).map((row) => row.source))) {
      const modelId = source.slice(6);
      overlays.push([source, `Model ${modelId}`, (z) => `/api/v1/series/${seriesId}/slices/${z}/predictions/${modelId}`, LABEL_COLOURS]);
    }
  } catch {
    // No involvement visible to this user: the consensus and lung overlays still work.
  }
  overlays.push(['lung', 'Lung mask', (z) => `/api/v1/series/${seriesId}/slices/${z}/lung-mask`, { 1: [0, 158, 115] }]);
  const wanted = data.overlay || (overlays.length && overlays[0][0] === 'consensus' ? 'consensus' : '');
  const checks = overlays.map(([name, label, urlFor, colours], index) => {
    const source = new RemoteLabels(urlFor, { ...geometry, onLoaded: redraw });
    viewer.addLayer({ name, visible: name === wanted, labelsFor: (z) => source.labelsFor(z), colours, alpha: name === 'lung' ? 0.25 : 0.45 });
    const input = el('input', { type: 'checkbox', id: `show-${index}`, checked: name === wanted, 'data-testid': `show-${name}` });
    input.addEventListener('change', () => viewer.setLayerVisible(name, input.checked));
    return el('label', { class: 'check', for: `show-${index}` }, input, label, el('kbd', { text: String(index + 1) }));
  });
  const help = helpDialog([
    ['Wheel, ↑ ↓, PgUp PgDn, Home End', 'Previous / next slice'],
    ['1…9', 'Show / hide an overlay'],
    ['L / M / C', 'Lung / mediastinal / custom window'],
    ['Shift+drag, right drag, middle drag, R', 'Custom window, zoom, pan, reset'],
    ['?', 'This help'],
  ]);
  panel.append(el('fieldset', {}, el('legend', { text: 'Overlays' }), checks), viewer.windowControls(),
    el('p', { class: 'legend' }, el('span', {}, el('span', { class: 'swatch', style: `background: rgb(${LABEL_COLOURS[1]})` }), 'Reticulation'),
      el('span', {}, el('span', { class: 'swatch', style: `background: rgb(${LABEL_COLOURS[2]})` }), 'GGO')),
    el('button', { type: 'button', onclick: () => help.showModal() }, 'Shortcuts ', el('kbd', { text: '?' })));
  document.addEventListener('keydown', (event) => {
    if (isTyping(event) || help.open || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLInputElement && event.target.type === 'range' && event.key.startsWith('Arrow')) return;
    if (viewer.handleKey(event)) return;
    if (event.key === '?') help.showModal();
    const index = Number(event.key) - 1;
    if (index >= 0 && index < checks.length) {
      const input = checks[index].querySelector('input');
      input.checked = !input.checked;
      viewer.setLayerVisible(overlays[index][0], input.checked);
    }
  });
  window.ildViewer = { viewer };
  await viewer.start();
  viewer.element.focus();
}

main();
