// Reader workspace: one reading's masks on the series, painted and autosaved slice by slice.
import { appData, el, request } from '../lib/api.js';
import { LABEL_COLOURS, SliceViewer } from '../lib/viewer.js';
import { LABEL_NAMES, LabelEditor, TOOLS } from '../lib/editor.js';
import { ReadingMasks } from '../lib/masks.js';
import { button, confirmDialog, helpDialog, isTyping } from '../lib/ui.js';

const SHORTCUTS = [
  ['Wheel, ↑ ↓, PgUp PgDn, Home End', 'Previous / next slice (10 with PgUp/PgDn)'],
  ['B', 'Brush'],
  ['T', 'HU-threshold brush (paints only pixels inside the HU range)'],
  ['E', 'Eraser'],
  ['1 / 2', 'Paint reticulation / GGO'],
  ['[ / ]', 'Smaller / larger brush'],
  ['Ctrl+Z', 'Undo the last stroke'],
  ['Ctrl+Y, Ctrl+Shift+Z', 'Redo'],
  ['L / M', 'Lung window (W1500 L-600) / mediastinal window (W350 L40)'],
  ['C', 'Type a custom window (width, level; Enter applies)'],
  ['Shift+drag', 'Custom window; right drag zooms, middle drag pans, R resets the view'],
  ['O', 'Show / hide the mask overlay'],
  ['Ctrl+Enter', 'Submit the reading'],
  ['?', 'This help'],
];

async function main() {
  const { app, data } = appData();
  const readingId = Number(data.reading);
  const geometry = { rows: Number(data.rows), columns: Number(data.columns), sliceCount: Number(data.slices) };
  let submitted = data.state === 'submitted';

  const status = el('p', { class: 'save-status', role: 'status', 'data-testid': 'save-status' });
  const conflict = el('div', { class: 'conflict', role: 'alert', hidden: true, 'data-testid': 'conflict' });
  const stage = el('div', { class: 'stage' });
  const panel = el('aside', { class: 'panel', 'aria-label': 'Tools' });
  app.append(el('div', { class: 'workspace-grid' }, stage, panel));

  const viewer = new SliceViewer(stage, { seriesId: Number(data.series), ...geometry });
  const masks = new ReadingMasks({
    readingId, rows: geometry.rows, columns: geometry.columns,
    onChange: (z, summary) => {
      if (z === viewer.z) viewer.drawOverlay();
      showStatus(summary);
    },
  });
  viewer.addLayer({ name: 'mask', labelsFor: (z) => masks.labelsFor(z), colours: LABEL_COLOURS });
  const editor = new LabelEditor(viewer, {
    labelsFor: (z) => masks.slices.get(z)?.labels ?? null,
    onEdited: (z) => masks.edited(z),
    enabled: !submitted,
  });

  // ---- panel
  const toolButtons = Object.entries(TOOLS).map(([tool, name]) =>
    button(name, { key: { brush: 'B', threshold: 'T', eraser: 'E' }[tool], testid: `tool-${tool}`, pressed: tool === 'brush',
      onclick: () => editor.set({ tool }) }));
  const labelButtons = Object.entries(LABEL_NAMES).map(([label, name]) => {
    const swatch = el('span', { class: 'swatch', style: `background: rgb(${LABEL_COLOURS[label].join(',')})` });
    const node = button(name, { key: label, testid: `label-${label}`, pressed: label === '1', onclick: () => editor.set({ label: Number(label) }) });
    node.prepend(swatch);
    return node;
  });
  const size = el('input', { type: 'range', min: '1', max: '60', value: String(editor.radius), id: 'brush-size', 'data-testid': 'brush-size' });
  size.addEventListener('input', () => editor.set({ radius: Number(size.value) }));
  const sizeOut = el('output', { for: 'brush-size' });
  const huLow = el('input', { type: 'number', step: '10', value: String(editor.huRange.low), id: 'hu-low', 'data-testid': 'hu-low', class: 'num' });
  const huHigh = el('input', { type: 'number', step: '10', value: String(editor.huRange.high), id: 'hu-high', 'data-testid': 'hu-high', class: 'num' });
  const setRange = () => editor.set({ huRange: { low: Number(huLow.value), high: Number(huHigh.value) } });
  huLow.addEventListener('change', setRange);
  huHigh.addEventListener('change', setRange);
  const undo = button('Undo', { key: 'Ctrl+Z', testid: 'undo', onclick: () => editor.undo() });
  const redo = button('Redo', { key: 'Ctrl+Y', testid: 'redo', onclick: () => editor.redo() });
  const overlayToggle = el('input', { type: 'checkbox', checked: true, id: 'overlay-toggle', 'data-testid': 'overlay-toggle' });
  overlayToggle.addEventListener('change', () => viewer.setLayerVisible('mask', overlayToggle.checked));
  const submit = el('button', { type: 'button', class: 'primary', 'data-testid': 'submit', onclick: () => submitReading() }, 'Submit reading…');
  const help = helpDialog(SHORTCUTS);
  const helpButton = button('Shortcuts', { key: '?', testid: 'help-button', onclick: () => help.showModal() });
  panel.append(
    el('fieldset', { class: 'tools' }, el('legend', { text: 'Tool' }), toolButtons),
    el('fieldset', {}, el('legend', { text: 'Pattern' }), labelButtons),
    el('fieldset', {}, el('legend', { text: 'Brush' }),
      el('label', { for: 'brush-size' }, 'Size ', el('kbd', { text: '[ ]' })), size, sizeOut,
      el('div', { class: 'hu' }, el('label', { for: 'hu-low', text: 'HU from' }), huLow, el('label', { for: 'hu-high', text: 'to' }), huHigh)),
    el('div', { class: 'row' }, undo, redo),
    viewer.windowControls(),
    el('label', { class: 'check' }, overlayToggle, ' Show masks ', el('kbd', { text: 'O' })),
    conflict, status,
    el('div', { class: 'row' }, submit, helpButton),
  );

  const refreshPanel = () => {
    toolButtons.forEach((node, i) => node.setAttribute('aria-pressed', String(Object.keys(TOOLS)[i] === editor.tool)));
    labelButtons.forEach((node, i) => node.setAttribute('aria-pressed', String(i + 1 === editor.label)));
    size.value = String(editor.radius);
    sizeOut.textContent = `${editor.radius} px`;
    undo.disabled = submitted || editor.undoStack.length === 0;
    redo.disabled = submitted || editor.redoStack.length === 0;
    for (const node of [...toolButtons, ...labelButtons, size, huLow, huHigh, submit]) node.disabled = submitted;
  };
  editor.on(refreshPanel);
  refreshPanel();

  function showStatus(summary) {
    if (submitted) {
      status.textContent = 'Submitted: this reading is read-only.';
    } else if (summary.errors.length) {
      status.textContent = `Not saved: slice ${summary.errors[0].z + 1}: ${summary.errors[0].message}`;
    } else if (summary.saving) {
      status.textContent = 'Saving…';
    } else if (summary.dirty) {
      status.textContent = 'Unsaved changes';
    } else {
      status.textContent = 'All changes saved';
    }
    status.dataset.state = summary.errors.length ? 'error' : summary.saving ? 'saving' : summary.dirty ? 'dirty' : 'saved';
    conflict.hidden = summary.conflicts.length === 0;
    conflict.replaceChildren();
    for (const z of summary.conflicts) {
      const entry = masks.slices.get(z);
      conflict.append(
        el('p', {}, el('strong', { text: `Slice ${z + 1} was changed elsewhere` }),
          ` (server version ${entry.conflict.currentVersion}, yours was based on ${entry.version}). Your strokes are kept on screen and not saved.`),
        el('div', { class: 'row' },
          el('button', { type: 'button', class: 'primary', 'data-testid': 'keep-mine', onclick: () => masks.keepMine(z) }, 'Keep mine (overwrite)'),
          el('button', { type: 'button', 'data-testid': 'take-theirs', onclick: () => masks.takeTheirs(z) }, 'Load server version')),
      );
    }
  }
  showStatus(masks.summary());

  async function submitReading() {
    if (submitted) return;
    const summary = await masks.flush();
    if (summary.conflicts.length || summary.errors.length || summary.dirty) {
      status.textContent = 'Resolve the unsaved slices before submitting.';
      return;
    }
    const ok = await confirmDialog({
      title: 'Submit this reading?',
      message: 'After submitting you cannot change your masks (an admin can reopen the reading). The other reader\'s masks stay hidden until both have submitted.',
      confirm: 'Submit',
    });
    if (!ok) return;
    try {
      await request(`readings/${readingId}/submit/`, { method: 'POST' });
      submitted = true;
      editor.enabled = false;
      app.dataset.state = 'submitted';
      refreshPanel();
      showStatus(masks.summary());
    } catch (error) {
      status.textContent = `Submit failed: ${error.message}`;
    }
  }

  // ---- keyboard
  document.addEventListener('keydown', (event) => {
    if (isTyping(event) || help.open) return;
    const key = event.key;
    if ((event.ctrlKey || event.metaKey) && !event.altKey) {
      if (key.toLowerCase() === 'z' && !event.shiftKey) editor.undo();
      else if (key.toLowerCase() === 'y' || (key.toLowerCase() === 'z' && event.shiftKey)) editor.redo();
      else if (key === 'Enter') submitReading();
      else return;
      event.preventDefault();
      return;
    }
    if (event.target instanceof HTMLInputElement && event.target.type === 'range' && key.startsWith('Arrow')) return;
    if (viewer.handleKey(event)) return;
    const actions = {
      b: () => editor.set({ tool: 'brush' }), t: () => editor.set({ tool: 'threshold' }), e: () => editor.set({ tool: 'eraser' }),
      1: () => editor.set({ label: 1 }), 2: () => editor.set({ label: 2 }),
      '[': () => editor.set({ radius: editor.radius - 1 }), ']': () => editor.set({ radius: editor.radius + 1 }),
      o: () => { overlayToggle.checked = !overlayToggle.checked; viewer.setLayerVisible('mask', overlayToggle.checked); },
      '?': () => help.showModal(),
    };
    const action = actions[key.length === 1 ? key.toLowerCase() : key] || actions[key];
    if (action && !(submitted && 'bte12[]'.includes(key.toLowerCase()))) {
      event.preventDefault();
      action();
    }
  });
  window.addEventListener('beforeunload', (event) => {
    const summary = masks.summary();
    if (summary.dirty || summary.saving) event.preventDefault();
  });

  viewer.on((what, z) => {
    if (what === 'slice') masks.load(z).then(() => viewer.drawOverlay());
  });
  window.ildViewer = { viewer, editor, masks };
  await viewer.start();
  viewer.element.focus();
}

main();
