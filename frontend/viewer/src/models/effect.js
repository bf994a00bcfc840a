// The AI pre-annotation's effect (admins): readings that started from the model's labels against those
// drawn from scratch, reading time and Dice with the consensus as ratios of medians with their CIs.
import { el } from '../lib/api.js';

export function ratioText(ratio, what) {
  // "0.40 (95 % CI 0.37–0.44; 7 readings with, 7 without)", or why there is no ratio yet.
  if (!ratio) return `${what}: not enough readings yet (two in each group are needed)`;
  const figure = (value) => value.toFixed(2);
  return `${what}: ${figure(ratio.ratio)} (95 % CI ${figure(ratio.ci_low)}–${figure(ratio.ci_high)}; `
    + `${ratio.n_numerator} readings with, ${ratio.n_denominator} without)`;
}

export function minutes(ms) {
  // 125000 -> "2 min 05 s"; null -> "–".
  if (ms === null || ms === undefined) return '–';
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}

export function aiEffectSection(effect) {
  const row = (name, group) => el('tr', {}, el('th', { scope: 'row', text: name }), el('td', { text: String(group.readings) }),
    el('td', { text: `${minutes(group.median_active_ms)} (${group.timed} timed)` }),
    el('td', { text: group.median_dice_with_consensus === null ? '–' : `${group.median_dice_with_consensus.toFixed(3)} (${group.with_consensus})` }));
  return el('section', { class: 'ai-effect', 'data-testid': 'ai-effect', 'aria-labelledby': 'ai-effect-title' },
    el('h2', { id: 'ai-effect-title', text: 'AI pre-annotation: what it changes' }),
    el('p', { class: 'note', text: 'Submitted reader readings whose slices started from the model\'s labels, against readings drawn from scratch. Ratios are median with / median without; below 1, reading with the model is faster (time) or agrees less with the final consensus (Dice).' }),
    el('table', {}, el('thead', {}, el('tr', {}, ['', 'Readings', 'Median active time', 'Median Dice with consensus'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, row('With pre-annotation', effect.with_preannotation), row('From scratch', effect.without_preannotation))),
    el('p', { 'data-testid': 'ai-time-ratio', text: ratioText(effect.time_ratio, 'Reading time ratio') }),
    el('p', { 'data-testid': 'ai-dice-ratio', text: ratioText(effect.dice_ratio, 'Dice with consensus ratio') }),
    el('p', { class: 'note', text: effect.anchor }),
    el('p', {}, el('a', { href: '/api/v1/exports/readings.csv', download: 'readings.csv', 'data-testid': 'readings-csv' }, 'Download every reading as CSV (times, involvement, Dice with consensus)')));
}
