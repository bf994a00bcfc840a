// Adjudication panels: agreement figures, overlay switches with the legend (from the label table),
// decision buttons, the slices ranked by disagreement with their decisions, status and finalise.
import { el } from '../lib/api.js';
import { legendEntries } from '../lib/labels.js';
import { button } from '../lib/ui.js';
import { windowControls } from '../lib/windowing.js';
import { OVERLAYS } from './layers.js';
import { DECISIONS } from './tools.js';

function overlaySwitch(viewer, name, label, key) {
  const input = el('input', { type: 'checkbox', id: `show-${name}`, 'data-testid': `show-${name}`, checked: viewer.layer(name).visible });
  input.addEventListener('change', () => viewer.setLayerVisible(name, input.checked));
  return el('label', { class: 'check', for: `show-${name}` }, input, label, key ? el('kbd', { text: key }) : null);
}

function fmt(value) {
  return typeof value === 'number' ? value.toFixed(2) : '–';
}

function statusText(consensus) {
  if (consensus.finalised) return 'Consensus finalised.';
  const undecided = consensus.undecided;
  if (!undecided.length) return 'Every slice with a mark is decided; the consensus can be finalised.';
  return `${undecided.length} slice(s) still to decide: ${undecided.map((z) => z + 1).join(', ')}`;
}

export class AdjudicationPanel {
  constructor({ viewer, table, agreement, ranked, edit, models, on }) {
    // models: the model overlays and Run model action (lib/run-model.js), or null.
    Object.assign(this, { viewer, ranked });
    this.switches = OVERLAYS.map(([name, label, key]) => overlaySwitch(viewer, name, label, key));
    this.legend = el('div', { class: 'legend' }, ...legendEntries(table.patterns), ...legendEntries(table.disagreement));
    this.decisionButtons = DECISIONS.map(([decision, label, key]) => button(label, { key, testid: `decide-${decision}`, onclick: () => on.decide(decision) }));
    this.editButton = button('Edit…', { key: 'E', testid: 'decide-edited', onclick: () => edit.start() });
    this.sliceList = el('ul', { class: 'slice-list', 'aria-label': 'Slices by disagreement', 'data-testid': 'slice-list' });
    this.status = el('p', { role: 'status', class: 'save-status', 'data-testid': 'adjudication-status' });
    this.finaliseButton = el('button', { type: 'button', class: 'primary', 'data-testid': 'finalise', onclick: on.finalise }, 'Finalise consensus…');
    this.progress = el('progress', { max: '1', value: '0', hidden: true, 'data-testid': 'finalise-progress' });
    const figures = agreement.series || {};
    this.elements = [
      el('p', {}, `Dice ${table.patterns.map((label) => `${label.name.toLowerCase()} ${fmt(figures[`dice_${label.key}`])}`).join(', ')}, combined ${fmt(figures.dice_combined)}`),
      el('fieldset', {}, el('legend', { text: 'Overlays' }), this.switches, this.legend),
      el('fieldset', {}, el('legend', { text: 'Decision for this slice' }), this.decisionButtons, this.editButton),
      windowControls(viewer),
      edit.bar,
      el('h2', { text: 'Slices by disagreement', style: 'font-size: .95rem; margin: 0' }),
      this.sliceList,
      this.status,
      el('div', { class: 'row' }, this.finaliseButton, button('Shortcuts', { key: '?', onclick: on.help })),
      this.progress,
      models, // below the decisions: the adjudication comes first
    ].filter(Boolean);
  }

  toggleOverlay(index) {
    const input = this.switches[index].querySelector('input');
    input.checked = !input.checked;
    this.viewer.setLayerVisible(OVERLAYS[index][0], input.checked);
  }

  addConsensusSwitch() {
    this.legend.before(overlaySwitch(this.viewer, 'consensus', 'Consensus'));
  }

  sliceRow(row, decided, undecided) {
    const decision = decided[row.z_index];
    const note = decision ? decision.replace('_', ' ') : undecided.has(row.z_index) ? 'to decide' : '';
    return el('li', {}, el('button', {
      type: 'button', 'aria-current': String(row.z_index === this.viewer.z), 'data-z': String(row.z_index),
      onclick: () => this.viewer.goTo(row.z_index),
    }, el('span', { text: `Slice ${row.z_index + 1} · ${row.differing_pixels} px` }), el('span', { class: decision ? 'decided' : '', text: note })));
  }

  render(consensus) {
    const decided = consensus.decisions();
    const undecided = new Set(consensus.undecided);
    this.sliceList.replaceChildren(...this.ranked.map((row) => this.sliceRow(row, decided, undecided)));
    const current = decided[this.viewer.z];
    this.decisionButtons.forEach((node, i) => node.setAttribute('aria-pressed', String(DECISIONS[i][0] === current)));
    this.editButton.setAttribute('aria-pressed', String(current === 'edited'));
    for (const node of [...this.decisionButtons, this.editButton]) node.disabled = consensus.finalised;
    this.finaliseButton.disabled = consensus.finalised || undecided.size > 0;
    this.status.textContent = statusText(consensus);
  }

  showJob(update) {
    this.progress.hidden = false;
    this.progress.value = update.progress;
    this.status.textContent = update.state === 'failed'
      ? `Involvement job failed: ${update.error}`
      : `Computing consensus involvement: ${update.state} ${Math.round(update.progress * 100)}%`;
  }
}
