// Adjudication panels: agreement figures, overlay switches with the legend (from the label table),
// decision buttons, the slices ranked by disagreement with their decisions, status and finalise.
import { el } from '../lib/api.js';
import { legendEntries } from '../lib/labels.js';
import { button } from '../lib/ui.js';
import { windowControls } from '../lib/windowing.js';
import { OVERLAYS } from './layers.js';
import { DECISIONS, EDIT_KEY } from './tools.js';

const EXPLAINED = 'Dice = 2|A∩B| / (|A| + |B|) of the two readers\' masks (A, B) per pattern: 1 = identical, 0 = no overlap. '
  + 'Cohen\'s kappa (inside the lung) = agreement beyond chance, pixel by pixel: 1 = perfect, 0 = no better than chance, below 0 = worse.';

function overlaySwitch(viewer, name, label, key) {
  const input = el('input', { type: 'checkbox', id: `show-${name}`, 'data-testid': `show-${name}`, checked: viewer.layer(name).visible });
  input.addEventListener('change', () => viewer.setLayerVisible(name, input.checked));
  return el('label', { class: 'check', for: `show-${name}` }, input, label, key ? el('kbd', { text: key }) : null);
}

function fmt(value) {
  return typeof value === 'number' ? value.toFixed(2) : '–';
}

export function areaCm2(pixels, spacing) {
  // Pixels of one slice as cm²; spacing: the series' pixel_spacing_row/column in mm (GET series/{id}/).
  return `${((pixels * spacing.pixel_spacing_row * spacing.pixel_spacing_column) / 100).toFixed(2)} cm²`;
}

function volumeMl(pixels, spacing) {
  return `${((pixels * spacing.pixel_spacing_row * spacing.pixel_spacing_column * spacing.slice_spacing) / 1000).toFixed(1)} mL`;
}

function agreementFigures(table, agreement, ranked, spacing) {
  // Dice per pattern and combined, kappa, and the differing volume; a click (or hover) explains them.
  const figures = agreement.series || {};
  const dice = table.patterns.map((label) => `${label.name.toLowerCase()} ${fmt(figures[`dice_${label.key}`])}`).join(', ');
  const differing = ranked.reduce((sum, row) => sum + row.differing_pixels, 0);
  return el('details', { class: 'agreement', 'data-testid': 'agreement-figures', title: EXPLAINED },
    el('summary', {}, `Dice ${dice}, combined ${fmt(figures.dice_combined)}; kappa ${fmt(figures.kappa_lung)}; `
      + `readers differ on ${volumeMl(differing, spacing)}`),
    el('p', { class: 'note', text: EXPLAINED }));
}

function legend(kind, labels) {
  // One entry per label of the table, in its order; data-value says which label an entry is.
  const entries = legendEntries(labels);
  labels.forEach((label, index) => entries[index].setAttribute('data-value', String(label.value)));
  return el('div', { class: `legend legend-${kind}`, 'data-legend': kind }, ...entries);
}

function statusText(consensus) {
  if (consensus.finalised) return 'Consensus finalised.';
  const undecided = consensus.undecided;
  if (!undecided.length) return 'Every slice with a mark is decided; the consensus can be finalised.';
  return `${undecided.length} slice(s) still to decide: ${undecided.map((z) => z + 1).join(', ')}`;
}

export class AdjudicationPanel {
  constructor({ viewer, table, agreement, ranked, spacing, edit, models, on }) {
    // models: the model overlays and Run model action (lib/run-model.js), or null; spacing: the series'
    // pixel and slice spacing (GET series/{id}/) for areas in cm² and volumes in mL.
    Object.assign(this, { viewer, ranked, spacing });
    this.switches = OVERLAYS.map(([name, label, key]) => overlaySwitch(viewer, name, label, key));
    this.legend = el('div', { class: 'legends' }, legend('patterns', table.patterns), legend('disagreement', table.disagreement));
    this.decisionButtons = DECISIONS.map(([decision, label, key]) => button(label, { key, testid: `decide-${decision}`, onclick: () => on.decide(decision) }));
    this.editButton = button('Edit…', { key: EDIT_KEY, testid: 'decide-edited', onclick: () => edit.start() });
    this.sliceList = el('ul', { class: 'slice-list', 'aria-label': 'Slices by disagreement', 'data-testid': 'slice-list' });
    this.status = el('p', { role: 'status', class: 'save-status', 'data-testid': 'adjudication-status' });
    this.finaliseButton = el('button', { type: 'button', class: 'primary', 'data-testid': 'finalise', onclick: on.finalise }, 'Finalise consensus…');
    this.progress = el('progress', { max: '1', value: '0', hidden: true, 'data-testid': 'finalise-progress' });
    this.decisions = el('fieldset', {}, el('legend', { text: 'Decision for this slice' }), this.decisionButtons, this.editButton);
    this.elements = [
      agreementFigures(table, agreement, ranked, spacing),
      el('fieldset', {}, el('legend', { text: 'Overlays' }), this.switches, this.legend),
      this.decisions,
      edit.bar, // in place of the decisions while editing
      windowControls(viewer),
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

  setEditing(editing) {
    // While a slice is edited its mask is the overlay to look at: the disagreement map (whose colours
    // would mix with it) is off and its switch disabled, the decisions give way to the edit bar; both
    // come back as they were.
    const input = this.switches[OVERLAYS.findIndex(([name]) => name === 'disagreement')].querySelector('input');
    if (editing && !input.disabled) {
      this.disagreementWasShown = input.checked;
      input.checked = false;
    } else if (!editing && input.disabled) {
      input.checked = this.disagreementWasShown;
    }
    input.disabled = editing;
    this.viewer.setLayerVisible('disagreement', input.checked);
    this.decisions.hidden = editing;
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
    }, el('span', { text: `Slice ${row.z_index + 1} · ${areaCm2(row.differing_pixels, this.spacing)}` }), el('span', { class: decision ? 'decided' : '', text: note })));
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
