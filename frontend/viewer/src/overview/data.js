// What the overview shows, read from the existing API: everyone's readings (GET readings/, admins),
// grouped into one entry per series with its three readings, and per series the adjudication
// (GET series/{id}/consensus/) and, once both readers have submitted, their agreement
// (GET series/{id}/agreement/; 409 while the job computes it).
import { ApiError, getJson } from '../lib/api.js';

export const ROLES = ['reader_1', 'reader_2', 'adjudicator'];
export const READER_ROLES = ['reader_1', 'reader_2'];

export function groupBySeries(readings) {
  // [{ id, patient, visit_date, visit_label, slice_count, ai_preannotation, readings: { role: reading } }],
  // by patient, visit date and series id.
  const bySeries = new Map();
  for (const reading of readings) {
    let series = bySeries.get(reading.series_id);
    if (!series) {
      series = { id: reading.series_id, patient: reading.patient, visit_date: reading.visit_date,
        visit_label: reading.visit_label, slice_count: reading.slice_count, ai_preannotation: reading.ai_preannotation,
        readings: {} };
      bySeries.set(reading.series_id, series);
    }
    series.readings[reading.role] = reading;
  }
  return [...bySeries.values()].sort((a, b) => a.patient.localeCompare(b.patient)
    || String(a.visit_date).localeCompare(String(b.visit_date)) || a.id - b.id);
}

export function bothSubmitted(series) {
  return READER_ROLES.every((role) => series.readings[role]?.state === 'submitted');
}

function adjudication(consensus) {
  // Decided: slices with a decision (the pre-decided ones the readers agreed on included); to decide: the
  // slices with reader marks and no decision yet, as the server counts them.
  const decided = consensus.decisions.length;
  return { finalizedAt: consensus.finalized_at, decided, total: decided + consensus.undecided_slices.length };
}

async function agreementOf(series) {
  if (!bothSubmitted(series)) return { state: 'waiting' };
  try {
    return { state: 'ready', figures: (await getJson(`series/${series.id}/agreement/`)).series };
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return { state: 'computing' };
    return { state: 'error', message: error.message };
  }
}

async function withReview(series) {
  const [consensus, agreement] = await Promise.allSettled([getJson(`series/${series.id}/consensus/`), agreementOf(series)]);
  return {
    ...series,
    adjudication: consensus.status === 'fulfilled' ? adjudication(consensus.value) : { error: consensus.reason.message },
    agreement: agreement.value,
  };
}

export async function loadOverview() {
  return Promise.all(groupBySeries(await getJson('readings/')).map(withReview));
}

export function seriesPhase(series) {
  // One word for where the series' review stands, for the row and the page's summary.
  if (series.adjudication.finalizedAt) return 'finalised';
  if (bothSubmitted(series)) return 'adjudicating';
  const started = READER_ROLES.some((role) => series.readings[role] && series.readings[role].state !== 'assigned');
  return started ? 'reading' : 'assigned';
}
