// Reader panels: tools, patterns (from the label table), brush size and HU range, undo/redo, the
// window, the overlay switch, the save status with conflict choices, and submit.
import { el } from '../lib/api.js';
import { TOOLS } from '../lib/editor.js';
import { swatch } from '../lib/labels.js';
import { button } from '../lib/ui.js';
import { windowControls } from '../lib/windowing.js';

const TOOL_KEYS = { brush: 'B', threshold: 'T', eraser: 'E' };

function brushFields(editor) {
  const size = el('input', { type: 'range', min: '1', max: '60', value: String(editor.radius), id: 'brush-size', 'data-testid': 'brush-size' });
  size.addEventListener('input', () => editor.set({ radius: Number(size.value) }));
  const sizeOut = el('output', { for: 'brush-size' });
  const huLow = el('input', { type: 'number', step: '10', value: String(editor.huRange.low), id: 'hu-low', 'data-testid': 'hu-low', class: 'num' });
  const huHigh = el('input', { type: 'number', step: '10', value: String(editor.huRange.high), id: 'hu-high', 'data-testid': 'hu-high', class: 'num' });
  const setRange = () => editor.set({ huRange: { low: Number(huLow.value), high: Number(huHigh.value) } });
  huLow.addEventListener('change', setRange);
  huHigh.addEventListener('change', setRange);
  const fieldset = el('fieldset', {}, el('legend', { text: 'Brush' }),
    el('label', { for: 'brush-size' }, 'Size ', el('kbd', { text: '[ ]' })), size, sizeOut,
    el('div', { class: 'hu' }, el('label', { for: 'hu-low', text: 'HU from' }), huLow, el('label', { for: 'hu-high', text: 'to' }), huHigh));
  return { fieldset, size, sizeOut, inputs: [size, huLow, huHigh] };
}

function patternButtons(editor, patterns) {
  return patterns.map((label) => {
    const node = button(label.name, { key: String(label.value), testid: `label-${label.value}`, pressed: label.value === editor.label,
      onclick: () => editor.set({ label: label.value }) });
    node.prepend(swatch(label));
    return node;
  });
}

export function overlaySwitch(viewer) {
  const input = el('input', { type: 'checkbox', checked: true, id: 'overlay-toggle', 'data-testid': 'overlay-toggle' });
  input.addEventListener('change', () => viewer.setLayerVisible('mask', input.checked));
  const toggle = () => {
    input.checked = !input.checked;
    viewer.setLayerVisible('mask', input.checked);
  };
  return { element: el('label', { class: 'check' }, input, ' Show masks ', el('kbd', { text: 'O' })), toggle };
}

export function toolPanel({ viewer, editor, patterns, overlay, models, onSubmit, help, status }) {
  // The panel's elements, and refresh(submitted) to show the editor's state; models: the model
  // overlays and Run model action (lib/run-model.js), or null.
  const tools = Object.entries(TOOLS).map(([tool, name]) =>
    button(name, { key: TOOL_KEYS[tool], testid: `tool-${tool}`, pressed: tool === editor.tool, onclick: () => editor.set({ tool }) }));
  const labels = patternButtons(editor, patterns);
  const brush = brushFields(editor);
  const undo = button('Undo', { key: 'Ctrl+Z', testid: 'undo', onclick: () => editor.undo() });
  const redo = button('Redo', { key: 'Ctrl+Y', testid: 'redo', onclick: () => editor.redo() });
  const submit = el('button', { type: 'button', class: 'primary', 'data-testid': 'submit', onclick: onSubmit }, 'Submit reading…');
  const helpButton = button('Shortcuts', { key: '?', testid: 'help-button', onclick: () => help.showModal() });
  const elements = [
    el('fieldset', { class: 'tools' }, el('legend', { text: 'Tool' }), tools),
    el('fieldset', {}, el('legend', { text: 'Pattern' }), labels),
    brush.fieldset,
    el('div', { class: 'row' }, undo, redo),
    windowControls(viewer),
    overlay.element,
    models,
    status.conflict, status.status,
    el('div', { class: 'row' }, submit, helpButton),
  ].filter(Boolean);
  const refresh = (submitted) => {
    tools.forEach((node, i) => node.setAttribute('aria-pressed', String(Object.keys(TOOLS)[i] === editor.tool)));
    labels.forEach((node, i) => node.setAttribute('aria-pressed', String(patterns[i].value === editor.label)));
    brush.size.value = String(editor.radius);
    brush.sizeOut.textContent = `${editor.radius} px`;
    undo.disabled = submitted || editor.undoStack.length === 0;
    redo.disabled = submitted || editor.redoStack.length === 0;
    for (const node of [...tools, ...labels, ...brush.inputs, submit]) node.disabled = submitted;
  };
  return { elements, refresh };
}

function statusText(summary, submitted) {
  if (submitted) return ['Submitted: this reading is read-only.', 'saved'];
  if (summary.unreadable.length) {
    const [{ z, message }] = summary.unreadable;
    return [`Slice ${z + 1} could not be loaded: ${message}`, 'error'];
  }
  if (summary.errors.length) return [`Not saved: slice ${summary.errors[0].z + 1}: ${summary.errors[0].message}`, 'error'];
  if (summary.saving) return ['Saving…', 'saving'];
  if (summary.dirty) return ['Unsaved changes', 'dirty'];
  return ['All changes saved', 'saved'];
}

export function saveStatus(masks) {
  // The save status line (its data-state: saved, saving, dirty or error) and the conflict box.
  const status = el('p', { class: 'save-status', role: 'status', 'data-testid': 'save-status' });
  const conflict = el('div', { class: 'conflict', role: 'alert', hidden: true, 'data-testid': 'conflict' });
  const show = (summary, submitted) => {
    [status.textContent, status.dataset.state] = statusText(summary, submitted);
    conflict.hidden = summary.conflicts.length === 0;
    conflict.replaceChildren(...summary.conflicts.map((z) => conflictChoice(masks, z)));
  };
  return { status, conflict, show };
}

function conflictChoice(masks, z) {
  const entry = masks.slices.get(z);
  return el('div', {},
    el('p', {}, el('strong', { text: `Slice ${z + 1} was changed elsewhere` }),
      ` (server version ${entry.conflict.currentVersion}, yours was based on ${entry.version}). Your strokes are kept on screen and not saved.`),
    el('div', { class: 'row' },
      el('button', { type: 'button', class: 'primary', 'data-testid': 'keep-mine', onclick: () => masks.keepMine(z) }, 'Keep mine (overwrite)'),
      el('button', { type: 'button', 'data-testid': 'take-theirs', onclick: () => masks.takeTheirs(z) }, 'Load server version')));
}
