// The cells of one series' row: each reading (who, state, how far), the consensus and AI pre-annotation.
import { el } from '../lib/api.js';
import { dateTime, metric } from '../models/format.js';
import { bothSubmitted } from './data.js';
import { PHASES, STATES, roleName, stateName } from './names.js';
import { reopenControl } from './reopen.js';

function shortTime(iso) {
  // A short date and time in the browser's locale (the audit trail gives the seconds); the full one on hover.
  return el('time', { datetime: iso, title: dateTime(iso),
    text: new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' }) });
}

function stateBadge(reading) {
  return el('p', { class: 'reading-state', 'data-state': reading.state },
    el('span', { class: 'state-badge', 'data-testid': 'reading-state' },
      el('span', { 'aria-hidden': 'true', text: `${STATES[reading.state]?.shape || '?'} ` }), stateName(reading.state)),
    reading.submitted_at ? el('span', { class: 'when' }, ' ', shortTime(reading.submitted_at)) : null);
}

function progressLine({ done, total, unit, label, testid }) {
  return el('p', { class: 'progress-line' },
    el('progress', { max: String(Math.max(total, 1)), value: String(done), 'aria-label': label }),
    ' ', el('span', { 'data-testid': testid, text: `${done} / ${total} ${unit}` }));
}

function slicesProgress(series, reading) {
  // Done, as the server counts it: slices with a saved mask or marked reviewed (nothing to paint there).
  const done = reading.slices_done ?? reading.slices_annotated;
  const reviewedOnly = done - reading.slices_annotated;
  return [
    progressLine({ done, total: series.slice_count, unit: 'slices', testid: 'reading-progress',
      label: `${roleName(reading.role)} (${reading.user}): slices painted or marked reviewed` }),
    reviewedOnly > 0
      ? el('p', { class: 'note', 'data-testid': 'reading-progress-detail', text: `${reading.slices_annotated} painted, ${reviewedOnly} marked reviewed` })
      : null,
  ];
}

function adjudicationProgress(series) {
  const { adjudication } = series;
  if (adjudication.error) return el('p', { class: 'error', text: `Adjudication not known: ${adjudication.error}` });
  if (!adjudication.finalizedAt && !bothSubmitted(series)) {
    return el('p', { class: 'note', 'data-testid': 'adjudication-progress', text: 'Waits for both readers to submit.' });
  }
  return progressLine({ done: adjudication.decided, total: adjudication.total, unit: 'slices decided',
    testid: 'adjudication-progress', label: 'Adjudicator: slices with marks decided' });
}

function seededNote(reading) {
  const seeded = reading.preannotated_from || [];
  return seeded.length ? el('p', { class: 'note', text: `Started from model ${seeded.join(', ')} (AI pre-annotation)` }) : null;
}

export function readingCell(series, role, { onReopened }) {
  const reading = series.readings[role];
  if (!reading) return el('td', { class: 'reading', 'data-role': role, text: 'Not assigned' });
  // The server refuses to reopen readings of a finalised consensus; the page offers it only where it works.
  const reopenable = role !== 'adjudicator' && reading.state === 'submitted' && !series.adjudication.finalizedAt;
  return el('td', { class: 'reading', 'data-reading': String(reading.id), 'data-role': role, 'data-state': reading.state, tabindex: '-1' },
    el('p', { class: 'reading-user', text: reading.user }),
    stateBadge(reading),
    role === 'adjudicator' ? adjudicationProgress(series) : slicesProgress(series, reading),
    seededNote(reading),
    reopenable ? reopenControl(reading, onReopened) : null);
}

function agreementNote(agreement) {
  if (agreement.state === 'computing') return el('p', { class: 'note', text: 'Readers\' agreement: being computed.' });
  if (agreement.state === 'error') return el('p', { class: 'note', text: `Readers' agreement not known: ${agreement.message}` });
  if (agreement.state !== 'ready') return null;
  return el('p', { class: 'note', 'data-testid': 'agreement' },
    `Readers' agreement: Dice ${metric(agreement.figures.dice_combined)}, κ ${metric(agreement.figures.kappa_lung)}`);
}

export function consensusCell(series, phase) {
  const finalizedAt = series.adjudication.finalizedAt;
  return el('td', { class: 'consensus', 'data-phase': phase },
    el('p', { class: 'consensus-state', 'data-testid': 'consensus-state', 'data-finalised': finalizedAt ? '1' : '0' },
      finalizedAt ? el('span', { 'aria-hidden': 'true', text: '✔ ' }) : null,
      finalizedAt ? 'Finalised ' : 'Not finalised',
      finalizedAt ? shortTime(finalizedAt) : null),
    finalizedAt ? null : el('p', { class: 'phase', text: PHASES[phase] }),
    agreementNote(series.agreement));
}

export function preannotationCell(series) {
  const on = series.ai_preannotation;
  return el('td', { class: `ai ${on ? 'ai-on' : 'ai-off'}`, 'data-testid': 'ai-preannotation', 'data-on': on ? '1' : '0', text: on ? 'On' : 'Off' });
}
