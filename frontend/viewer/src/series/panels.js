// Series panels: the Lungs panel (method, right/left volumes, apex-to-base slices, dense lung left out,
// non-lung air inside, and a QC warning naming each figure above its limit), kept up to date while the
// lung masks are being computed.
import { el, getJson } from '../lib/api.js';
import { swatch } from '../lib/labels.js';
import { denseMissed, formatMl, formatPercent, loadLungSummary, methodNote, methodTag, nonLungAir } from '../lib/lungs.js';

const POLL_MS = 1500; // while a lung-mask job is queued or running
const IDLE_POLL_MS = 5000; // masks incomplete and no job seen (yet)

async function lungState(seriesId) {
  // The summary, and whether a lung-mask job of the series is still queued or running.
  const [summary, jobs] = await Promise.all([
    loadLungSummary(seriesId),
    getJson(`jobs/?series=${seriesId}&active=1`).catch(() => []),
  ]);
  const job = jobs.find((candidate) => candidate.kind === 'lung_masks');
  return { summary, job, computing: !summary.complete || Boolean(job) };
}

function progressLine({ summary, job }) {
  const done = job ? ` (${Math.round(job.progress * 100)} %)` : ` (${summary.slices_masked} of ${summary.slice_count} slices)`;
  const what = summary.complete ? 'Lung masks are being recomputed' : 'Lung masks are still being computed';
  return el('p', { class: 'lung-computing', 'data-testid': 'lung-computing' },
    el('span', { class: 'spinner', 'aria-hidden': 'true' }), `${what}${done}; the figures below are not final.`);
}

function sliceRange(summary, viewer) {
  // 1-based, as the viewer's info line counts; each end jumps the viewer there.
  if (!summary.lung_slices) return '–';
  const jump = (z) => el('button', { type: 'button', class: 'link', title: `Show slice ${z + 1}`, onclick: () => viewer.goTo(z) }, String(z + 1));
  const [low, high] = summary.lung_slices;
  return el('span', { 'data-testid': 'lung-slices', 'data-low': String(low + 1), 'data-high': String(high + 1) },
    'slices ', jump(low), '–', jump(high), ` of ${summary.slice_count}`);
}

function figureRows(summary, lungLabels, viewer) {
  const row = (heading, value, testid, title) => el('tr', {}, el('th', { scope: 'row', title }, ...heading), el('td', { 'data-testid': testid }, value));
  const hasMask = summary.slices_masked > 0;
  return [
    ...lungLabels.map((label) => row([swatch(label), label.name], hasMask ? formatMl(summary[`${label.key}_ml`]) : '–', `lung-${label.key}`)),
    row(['Both lungs'], hasMask ? formatMl(summary.lung_volume_ml) : '–', 'lung-total'),
    row(['Apex–base'], sliceRange(summary, viewer), 'lung-extent'),
    row(['Dense lung left out'], hasMask ? denseMissed(summary, { long: true }) : '–', 'lung-dense-missed'),
    row(['Non-lung air inside'], hasMask ? nonLungAir(summary, { long: true }) : '–', 'lung-non-lung-air',
      'Pure gas (below -900 HU) inside the mask in pockets 14 mm across or wider: stomach, bowel gas, trachea, or a large bulla'),
  ];
}

function qcAlert(summary) {
  // One sentence per figure above its limit; null when none is.
  const flagged = [
    summary.dense_missed_flag && el('p', { 'data-testid': 'qc-dense-missed',
      text: `${formatPercent(summary.dense_missed_fraction)} of the dense lung (-750 to -100 HU) enclosed by the lungs is left out of the mask, above this deployment's limit.` }),
    summary.non_lung_air_flag && el('p', { 'data-testid': 'qc-non-lung-air',
      text: `${formatMl(summary.non_lung_air_ml)} (${formatPercent(summary.non_lung_air_fraction)} of the lung volume) of non-lung air (stomach, bowel gas, trachea; a large bulla also counts) is inside the mask, above this deployment's limit.` }),
  ].filter(Boolean);
  if (!flagged.length) return null;
  return el('div', { class: 'qc-alert', role: 'alert', 'data-testid': 'lung-qc-alert' },
    el('strong', {}, el('span', { class: 'qc-icon', 'aria-hidden': 'true', text: '⚠' }), ' Lung mask QC'),
    ...flagged, el('p', { text: 'Check the lung mask overlay before reading the involvement figures.' }));
}

function renderLungs(section, state, { lungLabels, viewer }) {
  const { summary, computing } = state;
  const method = summary.method
    ? el('p', { class: 'lung-method-line' }, 'Method ', methodTag(summary.method), el('span', { class: 'note', text: `: ${methodNote(summary.method)}` }))
    : el('p', { text: 'No lung mask yet.' });
  section.dataset.state = computing ? 'computing' : 'ready';
  section.dataset.method = summary.method || '';
  const parts = [el('h2', { id: 'lungs-title', text: 'Lungs' }), computing && progressLine(state), method,
    el('table', { class: 'lung-figures', 'data-legend': 'lung' }, el('tbody', {}, figureRows(summary, lungLabels, viewer))),
    !computing && qcAlert(summary)];
  section.replaceChildren(...parts.filter(Boolean));
}

export function lungPanel({ seriesId, lungLabels, viewer, onRecomputed }) {
  // The panel; it polls while masks are being computed and calls onRecomputed once they are done.
  const section = el('section', { class: 'lungs', 'aria-labelledby': 'lungs-title', 'data-testid': 'lung-panel', 'data-state': 'loading' },
    el('h2', { id: 'lungs-title', text: 'Lungs' }), el('p', { text: 'Loading the lung masks…' }));
  const follow = async () => {
    let wasComputing = false;
    for (;;) {
      const state = await lungState(seriesId);
      renderLungs(section, state, { lungLabels, viewer });
      if (!state.computing) break;
      wasComputing = true;
      await new Promise((resolve) => setTimeout(resolve, state.job ? POLL_MS : IDLE_POLL_MS));
    }
    if (wasComputing && onRecomputed) onRecomputed();
  };
  follow().catch((error) => {
    section.dataset.state = 'error';
    section.replaceChildren(el('h2', { id: 'lungs-title', text: 'Lungs' }), el('p', { class: 'error', text: `Could not load the lungs: ${error.message}` }));
  });
  return section;
}
