// Reader panels: tools, patterns (from the label table), brush size (in mm and px) and HU range, undo/redo,
// the window, the overlay switch, the slices done and the reviewed mark, the save status with conflict
// choices and the way back in when signed out, and submit.
import { el } from '../lib/api.js';
import { MAX_RADIUS, TOOLS } from '../lib/editor.js';
import { brushDiameterMm, formatMm } from '../lib/image-plane.js';
import { swatch } from '../lib/labels.js';
import { button } from '../lib/ui.js';
import { windowControls } from '../lib/windowing.js';

// D for distance: M is the mediastinal window on every viewer page.
const TOOL_KEYS = { brush: 'B', threshold: 'T', eraser: 'E', length: 'D' };

function brushFields(editor) {
  const size = el('input', { type: 'range', min: '1', max: String(MAX_RADIUS), value: String(editor.radius), id: 'brush-size', 'data-testid': 'brush-size' });
  size.addEventListener('input', () => editor.set({ radius: Number(size.value) }));
  // "8.0 mm (6 px)": the diameter on the patient, then the radius the editor paints with, in pixels.
  const sizeMm = el('span', { 'data-testid': 'brush-mm' });
  const sizeOut = el('output', { for: 'brush-size' });
  const readout = el('span', { class: 'brush-readout', 'data-testid': 'brush-readout' }, sizeMm, ' (', sizeOut, ')');
  const huLow = el('input', { type: 'number', step: '10', value: String(editor.huRange.low), id: 'hu-low', 'data-testid': 'hu-low', class: 'num' });
  const huHigh = el('input', { type: 'number', step: '10', value: String(editor.huRange.high), id: 'hu-high', 'data-testid': 'hu-high', class: 'num' });
  const setRange = () => editor.set({ huRange: { low: Number(huLow.value), high: Number(huHigh.value) } });
  huLow.addEventListener('change', setRange);
  huHigh.addEventListener('change', setRange);
  const fieldset = el('fieldset', {}, el('legend', { text: 'Brush' }),
    el('label', { for: 'brush-size' }, 'Size ', el('kbd', { text: '[ ]' })), size, readout,
    el('div', { class: 'hu' }, el('label', { for: 'hu-low', text: 'HU from' }), huLow, el('label', { for: 'hu-high', text: 'to' }), huHigh));
  const refresh = (columnSpacing) => {
    const diameter = columnSpacing ? `${formatMm(brushDiameterMm(editor.radius, columnSpacing), 1)} mm` : '– mm';
    size.value = String(editor.radius);
    size.setAttribute('aria-valuetext', `${diameter} across, radius ${editor.radius} px`);
    sizeMm.textContent = diameter;
    sizeOut.textContent = `${editor.radius} px`;
  };
  return { fieldset, refresh, inputs: [size, huLow, huHigh] };
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
  // The reader's mask, and the strokes waiting for their slice's mask to arrive.
  const input = el('input', { type: 'checkbox', checked: true, id: 'overlay-toggle', 'data-testid': 'overlay-toggle' });
  const show = () => ['mask', 'queued'].forEach((name) => viewer.setLayerVisible(name, input.checked));
  input.addEventListener('change', show);
  const toggle = () => {
    input.checked = !input.checked;
    show();
  };
  return { element: el('label', { class: 'check' }, input, ' Show masks ', el('kbd', { text: 'O' })), toggle };
}

export function toolPanel({ viewer, editor, patterns, overlay, models, onSubmit, help, status, progress }) {
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
    progress.element,
    status.conflict, status.status, status.actions,
    el('div', { class: 'row' }, submit, helpButton),
  ].filter(Boolean);
  const refresh = (submitted) => {
    tools.forEach((node, i) => node.setAttribute('aria-pressed', String(Object.keys(TOOLS)[i] === editor.tool)));
    labels.forEach((node, i) => node.setAttribute('aria-pressed', String(patterns[i].value === editor.label)));
    brush.refresh(viewer.geometry()?.pixelSpacing[1]);
    undo.disabled = submitted || editor.undoStack.length === 0;
    redo.disabled = submitted || editor.redoStack.length === 0;
    for (const node of [...tools, ...labels, ...brush.inputs, submit]) node.disabled = submitted;
    progress.refresh(submitted);
  };
  return { elements, refresh };
}

function statusText(summary, submitted) {
  // [what the status line says, its data-state]: saved, saving, dirty (unsaved), signed-out or error.
  if (submitted) return ['Submitted: this reading is read-only.', 'saved'];
  const waiting = summary.dirty + summary.queued.length + summary.marks;
  if (summary.signedOut) {
    const kept = waiting ? ' Your changes are kept here and saved as soon as you sign in again.' : ' Sign in again to save.';
    return [`Not saved: you are signed out.${kept}`, 'signed-out'];
  }
  if (summary.unreadable.length) {
    const [{ z, message }] = summary.unreadable;
    const kept = summary.queued.includes(z) ? ' Your strokes on it are kept; trying again.' : ' Trying again.';
    return [`Slice ${z + 1} could not be loaded: ${message}.${kept}`, 'error'];
  }
  if (summary.errors.length) {
    return [`Not saved: slice ${summary.errors[0].z + 1}: ${summary.errors[0].message}. Your strokes are kept; trying again.`, 'error'];
  }
  if (summary.markError) return [`Not saved: ${summary.markError}`, 'error'];
  if (summary.saving) return ['Saving…', 'saving'];
  if (summary.queued.length) return [`Slice ${summary.queued[0] + 1} is loading: your strokes on it are kept and saved once it is here.`, 'dirty'];
  if (waiting) return ['Unsaved changes', 'dirty'];
  return ['All changes saved', 'saved'];
}

export function saveStatus(masks, { retry }) {
  // The save status line (its data-state, see statusText), the conflict box, and when signed out or
  // failing, a way to sign in again (a new tab: nothing here is lost) and to try again now.
  const status = el('p', { class: 'save-status', role: 'status', 'data-testid': 'save-status' });
  const conflict = el('div', { class: 'conflict', role: 'alert', hidden: true, 'data-testid': 'conflict' });
  const signInLink = el('a', { href: '/login/', target: '_blank', 'data-testid': 'sign-in-again' }, 'Sign in again (new tab)');
  const retryButton = el('button', { type: 'button', 'data-testid': 'retry-save', onclick: retry }, 'Try again now');
  const actions = el('p', { class: 'save-actions row', hidden: true }, signInLink, retryButton);
  const show = (summary, submitted) => {
    [status.textContent, status.dataset.state] = statusText(summary, submitted);
    actions.hidden = submitted || !['signed-out', 'error'].includes(status.dataset.state);
    signInLink.hidden = !summary.signedOut;
    conflict.hidden = summary.conflicts.length === 0;
    conflict.replaceChildren(...summary.conflicts.map((z) => conflictChoice(masks, z)));
  };
  const note = (text) => {
    status.textContent = text;
  };
  return { status, conflict, actions, show, note };
}

export function progressPanel(viewer, review) {
  // "k of n slices done" (painted or marked reviewed, as the server counts), the reviewed mark of the
  // slice on screen (button and V), and a badge on the slice itself.
  const text = el('p', { class: 'progress-text', 'data-testid': 'progress', 'aria-live': 'polite' });
  const bar = el('progress', { max: '1', value: '0', 'aria-hidden': 'true' });
  const mark = button('Reviewed', { key: 'V', testid: 'mark-reviewed', pressed: false, title: 'Mark this slice reviewed (V)',
    onclick: () => review.toggle(viewer.z) });
  const badge = el('span', { class: 'reviewed-badge', 'data-testid': 'reviewed-badge', hidden: true });
  viewer.frame.append(badge);
  const element = el('fieldset', { class: 'progress' }, el('legend', { text: 'Slices done' }), text, bar, mark);
  const refresh = (submitted) => {
    const progress = review.progress;
    if (progress) {
      text.textContent = `${progress.slices_done} of ${progress.slice_count} slices done`;
      Object.assign(text.dataset, { done: String(progress.slices_done), total: String(progress.slice_count) });
      Object.assign(bar, { max: progress.slice_count, value: progress.slices_done });
    } else {
      text.textContent = review.loadError ? `Progress unavailable: ${review.loadError}` : 'Counting slices done…';
    }
    const reviewed = review.isReviewed(viewer.z);
    mark.setAttribute('aria-pressed', String(reviewed));
    mark.disabled = submitted;
    badge.hidden = !reviewed;
    badge.textContent = review.pending.has(viewer.z) ? 'Reviewed (not saved yet)' : 'Reviewed';
  };
  return { element, refresh };
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
