// The lungs of a series as GET /api/v1/series/{id}/lung/ reports them: which method drew the mask, and
// its QC figure (dense lung enclosed by the mask but left out of it), worded the same on every page.
import { el, getJson } from './api.js';

const METHOD_NOTES = {
  lung3d: "3-D, includes dense pathology",
  mader2d: "the paper's 2-D mask",
};

export function methodNote(method) {
  return METHOD_NOTES[method] || 'unknown method';
}

export function loadLungSummary(seriesId) {
  // {series_id, method, slices_masked, slice_count, complete, lung_volume_ml, right_lung_ml, left_lung_ml,
  //  lung_slices: [lowest z, highest z] | null, dense_missed_ml, dense_missed_fraction, qc_flag}
  return getJson(`series/${seriesId}/lung/`);
}

export function formatMl(ml) {
  return `${ml.toFixed(ml < 100 ? 1 : 0)} mL`;
}

export function formatPercent(fraction) {
  return `${(fraction * 100).toFixed(1)} %`;
}

export function methodTag(method) {
  // The method's name, its one-line explanation on hover and for screen readers.
  return el('span', { class: 'lung-method', 'data-testid': 'lung-method', 'data-method': method || '', title: method ? methodNote(method) : '' },
    method || '–');
}

export function denseMissed(summary, { long = false } = {}) {
  // The dense lung left out of the mask (long: mL and %, short: % left out); a flagged figure carries an
  // icon and a border, and, short, the words "check mask".
  const percent = formatPercent(summary.dense_missed_fraction);
  const figure = long ? `${formatMl(summary.dense_missed_ml)} (${percent})` : `${percent} left out`;
  if (!summary.qc_flag) return el('span', { 'data-testid': 'dense-missed', 'data-flag': '0' }, figure);
  return el('span', { class: 'qc-warning', 'data-testid': 'dense-missed', 'data-flag': '1',
    title: 'More dense lung left out of the mask than the QC limit allows: check the lung mask before reading the figures' },
  el('span', { class: 'qc-icon', 'aria-hidden': 'true', text: '⚠ ' }), figure, long ? null : el('span', { class: 'qc-check', text: 'check mask' }),
  el('span', { class: 'visually-hidden', text: ' (QC warning: above the limit)' }));
}
