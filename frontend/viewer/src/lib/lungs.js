// The lungs of a series as GET /api/v1/series/{id}/lung/ reports them: which method drew the mask, and
// its QC figures (dense lung enclosed by the mask but left out of it; non-lung air inside it), each
// flagged above its own limit, worded the same on every page.
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
  //  lung_slices: [lowest z, highest z] | null, dense_missed_ml | null, dense_missed_fraction | null,
  //  dense_missed_flag, non_lung_air_ml | null, non_lung_air_fraction | null (null: not computed yet, or for
  //  the air, masks stored before the figure existed), non_lung_air_flag, qc_flag (either flag),
  //  masks_computing (a lung masks job queued or running: the QC figures follow the masks)}
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

const NOT_COMPUTED = 'not computed (recompute the lung masks)';
const BEING_COMPUTED = 'being computed';

function unknownReason(summary, name) {
  // Why a QC figure is missing, long and short: still being computed after its masks, or never computed.
  const reason = summary.masks_computing ? BEING_COMPUTED : NOT_COMPUTED;
  return { long: reason, short: `${name} ${reason}` };
}

function qcFigure({ testid, figure, flagged = false, long = false, warning = '', unknown = '' }) {
  // One QC figure. Flagged above its limit, it carries an icon, a border, the figure's own warning on
  // hover and, short, the words "check mask". Unknown (the reason as text), it is never flagged: long, the
  // reason stands in for the figure; short, a dash with the reason on hover.
  if (unknown) {
    return el('span', { class: 'qc-unknown', 'data-testid': testid, 'data-flag': '0', title: long ? null : unknown }, long ? unknown : '–');
  }
  if (!flagged) return el('span', { 'data-testid': testid, 'data-flag': '0' }, figure);
  return el('span', { class: 'qc-warning', 'data-testid': testid, 'data-flag': '1', title: warning },
    el('span', { class: 'qc-icon', 'aria-hidden': 'true', text: '⚠ ' }), figure, long ? null : el('span', { class: 'qc-check', text: 'check mask' }),
    el('span', { class: 'visually-hidden', text: ' (QC warning: above the limit)' }));
}

export function denseMissed(summary, { long = false } = {}) {
  // The dense lung left out of the mask (long: mL and %, short: % left out); unknown until computed.
  if (summary.dense_missed_ml === null || summary.dense_missed_ml === undefined) {
    const reason = unknownReason(summary, 'Dense lung left out');
    return qcFigure({ testid: 'dense-missed', long, unknown: long ? reason.long : reason.short });
  }
  const percent = formatPercent(summary.dense_missed_fraction);
  return qcFigure({
    testid: 'dense-missed', long, flagged: summary.dense_missed_flag,
    figure: long ? `${formatMl(summary.dense_missed_ml)} (${percent})` : `${percent} left out`,
    warning: 'More dense lung left out of the mask than the QC limit allows: check the lung mask before reading the figures',
  });
}

export function nonLungAir(summary, { long = false } = {}) {
  // The non-lung air (pockets of pure gas: stomach, bowel gas, trachea) inside the mask (long: mL and % of
  // the lung volume, short: % non-lung air); unknown for masks stored before the figure existed.
  if (summary.non_lung_air_ml === null || summary.non_lung_air_ml === undefined) {
    const reason = unknownReason(summary, 'Non-lung air');
    return qcFigure({ testid: 'non-lung-air', long, unknown: long ? reason.long : reason.short });
  }
  const percent = formatPercent(summary.non_lung_air_fraction);
  return qcFigure({
    testid: 'non-lung-air', long, flagged: summary.non_lung_air_flag,
    figure: long ? `${formatMl(summary.non_lung_air_ml)} (${percent})` : `${percent} non-lung air`,
    warning: 'More non-lung air (stomach, bowel gas, trachea) inside the mask than the QC limit allows: check the lung mask before reading the figures',
  });
}
