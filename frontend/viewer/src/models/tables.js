// The tables of a model version: how it was trained, its metrics per fold with their spread and the
// test set's, its involvement agreement with the consensus, and who (de)activated it when and why.
import { el } from '../lib/api.js';
import { SETS, SIGN_TEXT } from './charts.js';
import { MISSING, dateTime, duration, metric, signed } from './format.js';

const METRICS = [['dice', 'Dice'], ['jaccard', 'Jaccard'], ['f1', 'F1'], ['recall', 'Recall']];

export function provenance(version) {
  const seed = version.seed ?? MISSING;
  const entries = [
    ['Task', version.task], ['Variant', version.variant], ['Threshold', version.threshold.toFixed(2)],
    ['State', version.is_active ? 'active' : 'inactive'], ['Trained by', version.trained_by || MISSING],
    ['Registered', dateTime(version.registered_at)],
    ['Trainable parameters', typeof version.trainable_parameters === 'number' ? version.trainable_parameters.toLocaleString('en') : MISSING],
    ['Code version', version.code_version ? version.code_version.slice(0, 12) : MISSING, version.code_version],
    ['Lung method', version.lung_method || MISSING],
    ['Lung-masked inputs', version.lung_masked === undefined ? MISSING : (version.lung_masked ? 'yes' : 'no')],
    ['Seed', String(seed)], ['Training time', duration(version.duration_s)],
  ];
  return el('dl', { class: 'provenance', 'data-testid': 'provenance' },
    entries.flatMap(([term, value, full]) => [el('dt', { text: term }),
      el('dd', { 'data-field': term.toLowerCase().replace(/ /g, '-'), title: full, text: value })]));
}

export function settingsDetails(settings) {
  const entries = Object.entries(settings || {});
  if (!entries.length) return null;
  return el('details', { class: 'settings' }, el('summary', { text: 'Training settings' }),
    el('dl', { class: 'provenance' }, entries.flatMap(([key, value]) => [el('dt', { text: key.replace(/_/g, ' ') }),
      el('dd', { text: typeof value === 'object' ? JSON.stringify(value) : String(value) })])));
}

function metricRow({ kind, heading, threshold, values, epochsRun = MISSING, bestEpoch = MISSING }) {
  return el('tr', { 'data-row': kind },
    el('th', { scope: 'row', text: heading }), el('td', { 'data-metric': 'threshold', text: threshold }),
    METRICS.map(([key]) => el('td', { 'data-metric': key, text: values(key) })),
    el('td', { 'data-metric': 'epochs_run', text: String(epochsRun) }), el('td', { 'data-metric': 'best_epoch', text: String(bestEpoch) }));
}

export function metricsTable(version) {
  const { folds = [], over_folds: overFolds = {}, test = {} } = version.metrics || {};
  if (!folds.length && !Object.keys(test).length) {
    return el('p', { class: 'note', 'data-testid': 'no-metrics', text: 'No training metrics were recorded with this version (registered without a cross-validated run).' });
  }
  const rows = folds.map((fold) => metricRow({
    kind: `fold-${fold.fold}`, heading: `Fold ${fold.fold + 1} (validation)`, threshold: fold.threshold.toFixed(2),
    values: (key) => metric(fold.validation_metrics?.[key]), epochsRun: fold.epochs_run ?? MISSING, bestEpoch: fold.best_epoch ?? MISSING,
  }));
  if (Object.keys(overFolds).length) {
    rows.push(metricRow({ kind: 'over-folds', heading: 'Mean ± SD over folds', threshold: MISSING,
      values: (key) => (overFolds[key] ? `${metric(overFolds[key].mean)} ± ${metric(overFolds[key].sd)}` : MISSING) }));
  }
  rows.push(metricRow({ kind: 'test', heading: 'Test set', threshold: version.threshold.toFixed(2),
    values: (key) => metric(test[key]) }));
  const headings = ['', 'Threshold', ...METRICS.map(([, name]) => name), 'Epochs run', 'Best epoch'];
  return el('table', { class: 'metrics', 'data-testid': 'metrics' },
    el('caption', { text: `Segmentation metrics of model ${version.id} per slice: each fold on its validation patients at its own threshold; `
      + 'the spread is the SD of the fold figures; the test set once, with the chosen fold\'s weights and threshold.' }),
    el('thead', {}, el('tr', {}, headings.map((text) => el('th', { scope: 'col', text })))),
    el('tbody', {}, rows));
}

export function agreementTable(version, involvement) {
  const pp = (value) => (typeof value === 'number' ? `${signed(value)} pp` : MISSING);
  const rows = Object.keys(SETS).filter((set) => involvement[set]).map((set) => {
    const ba = involvement[set];
    return el('tr', { 'data-set': set },
      el('th', { scope: 'row', text: SETS[set].name }), el('td', { 'data-figure': 'n', text: String(ba.n) }),
      el('td', { 'data-figure': 'mae', text: typeof ba.mae_pct === 'number' ? `${ba.mae_pct.toFixed(2)} pp` : MISSING }),
      el('td', { 'data-figure': 'bias', text: pp(ba.bias_pct) }), el('td', { 'data-figure': 'sd', text: typeof ba.sd_pct === 'number' ? `${ba.sd_pct.toFixed(2)} pp` : MISSING }),
      el('td', { 'data-figure': 'lower', text: pp(ba.lower_limit_pct) }), el('td', { 'data-figure': 'upper', text: pp(ba.upper_limit_pct) }));
  });
  const headings = ['', 'Patients', 'MAE', 'Bias', 'SD', 'Lower limit', 'Upper limit'];
  return el('table', { class: 'agreement', 'data-testid': 'agreement' },
    el('caption', { text: `Total involvement of model ${version.id} against the consensus, per patient (${SIGN_TEXT}); limits of agreement = bias ± 1.96 SD.` }),
    el('thead', {}, el('tr', {}, headings.map((text) => el('th', { scope: 'col', text })))),
    el('tbody', {}, rows));
}

export function activationHistory(version) {
  const activations = version.activations || [];
  if (!activations.length) return el('p', { class: 'note', 'data-testid': 'activations', text: 'Never activated or deactivated.' });
  return el('table', { class: 'activations', 'data-testid': 'activations' },
    el('caption', { text: 'Activation history' }),
    el('thead', {}, el('tr', {}, ['When', 'Who', 'Change', 'Reason'].map((text) => el('th', { scope: 'col', text })))),
    el('tbody', {}, activations.map((entry) => el('tr', {},
      el('td', { text: dateTime(entry.at) }), el('td', { text: entry.by || MISSING }),
      el('td', { text: entry.active ? 'activated' : 'deactivated' }), el('td', { text: entry.reason })))));
}
