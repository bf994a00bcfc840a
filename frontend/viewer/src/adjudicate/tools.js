// Adjudication tools: edit mode (one slice's label map, started from the server's union of the two
// readings, painted with the brush/eraser, posted as decision "edited"), and the keyboard. Edit is A,
// not E: E is the eraser, as in the reader workspace, also while editing here.
import { el } from '../lib/api.js';
import { LabelEditor } from '../lib/editor.js';
import { encodeLabelPng } from '../lib/labelmaps.js';
import { bindPageKeys } from '../lib/shortcuts.js';

export const DECISIONS = [
  ['reader_1', 'Reader 1', '1'],
  ['reader_2', 'Reader 2', '2'],
  ['union', 'Union', 'U'],
  ['intersection', 'Intersection', 'I'],
];

export const EDIT_KEY = 'A';

export const SHORTCUTS = [
  ['Wheel, ↑ ↓, PgUp PgDn', 'Previous / next slice'],
  ['N / P', 'Next / previous slice in the disagreement list'],
  ['1 / 2 / U / I', 'Decide: reader 1, reader 2, union, intersection'],
  [EDIT_KEY, 'Edit: start from the union and paint (B brush, E eraser, pattern keys while editing, [ ] size); Enter saves, Esc cancels'],
  ['Q / W / D', 'Show / hide reader 1, reader 2, disagreement'],
  ['L / M / C', 'Lung / mediastinal / custom window'],
  ['?', 'This help'],
];

export class EditMode {
  constructor(viewer, { consensus, patterns, onSave, onError, onActive = () => {} }) {
    // onActive(editing): the page hides what would mix with the edited mask while editing.
    Object.assign(this, { viewer, consensus, patterns, onSave, onError, onActive });
    this.slice = null; // {z, labels} while editing
    const labelsFor = (z) => (this.slice && this.slice.z === z ? this.slice.labels : null);
    viewer.addLayer({ name: 'edit', visible: true, labelsFor, labels: patterns, alpha: 0.5 });
    this.editor = new LabelEditor(viewer, { labelsFor, onEdited: () => {}, label: patterns[0].value, enabled: false });
    this.bar = el('div', { class: 'conflict', hidden: true, 'data-testid': 'edit-bar' });
  }

  get active() {
    return this.slice !== null;
  }

  async start() {
    if (this.consensus.finalised) return;
    const z = this.viewer.z;
    let labels;
    try {
      labels = await this.consensus.proposal(z, 'union');
    } catch (error) {
      this.onError(`Slice ${z + 1} cannot be edited: ${error.message}`);
      return;
    }
    this.slice = { z, labels };
    this.editor.enabled = true;
    this.bar.hidden = false;
    this.onActive(true);
    const keys = this.patterns.map((label) => label.value).join('/');
    this.bar.replaceChildren(
      el('p', {}, el('strong', { text: `Editing slice ${z + 1}` }), ` (started from the union). Paint with the left button; B brush, E eraser, ${keys} pattern, [ ] size.`),
      el('div', { class: 'row' },
        el('button', { type: 'button', class: 'primary', 'data-testid': 'save-edit', onclick: () => this.save() }, 'Save edit (Enter)'),
        el('button', { type: 'button', onclick: () => this.stop() }, 'Cancel (Esc)')));
    this.viewer.drawOverlay();
  }

  stop() {
    this.slice = null;
    this.editor.enabled = false;
    this.bar.hidden = true;
    this.onActive(false);
    this.viewer.drawOverlay();
  }

  async save() {
    if (!this.slice) return;
    const { z, labels } = this.slice;
    if (this.viewer.z !== z) await this.viewer.goTo(z);
    await this.onSave(z, encodeLabelPng(labels, this.viewer.columns, this.viewer.rows));
    this.stop();
  }

  keyAction(key) {
    const editor = this.editor;
    const actions = {
      enter: () => this.save(), escape: () => this.stop(),
      b: () => editor.set({ tool: 'brush' }), e: () => editor.set({ tool: 'eraser' }),
      '[': () => editor.set({ radius: editor.radius - 1 }), ']': () => editor.set({ radius: editor.radius + 1 }),
    };
    for (const label of this.patterns) actions[String(label.value)] = () => editor.set({ label: label.value });
    return actions[key] ?? null;
  }
}

export function bindAdjudicationKeys(viewer, { edit, decide, step, showHelp, toggleOverlay }) {
  const deciding = {
    1: () => decide('reader_1'), 2: () => decide('reader_2'), u: () => decide('union'), i: () => decide('intersection'),
    [EDIT_KEY.toLowerCase()]: () => edit.start(), n: () => step(1), p: () => step(-1), '?': showHelp,
    q: () => toggleOverlay(0), w: () => toggleOverlay(1), d: () => toggleOverlay(2),
  };
  bindPageKeys(viewer, {
    plain: (event) => {
      const key = event.key.toLowerCase();
      return edit.active ? edit.keyAction(key) : deciding[key] ?? null;
    },
  });
}
