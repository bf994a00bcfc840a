// The Bland–Altman plot of a model version's involvement against the consensus: one point per patient
// (x = mean of model and consensus, y = model − consensus, in percentage points of lung), the test set
// and the out-of-fold validation set told apart by colour and fill, each with its bias and limits of
// agreement drawn and labelled with their values.
import { el } from '../lib/api.js';
import { svg } from '../patient/charts.js';
import { signed } from './format.js';

const WIDTH = 560;
const HEIGHT = 300;
const MARGIN = { left: 50, right: 150, top: 12, bottom: 44 };
const LABEL_GAP = 11;
export const SIGN_TEXT = 'model − consensus';
// Okabe–Ito colours, as the patient charts; the validation points are hollow as well.
export const SETS = {
  test: { colour: '#0072B2', fill: '#0072B2', name: 'Test set', short: 'test' },
  validation: { colour: '#D55E00', fill: '#ffffff', name: 'Validation set (out of fold)', short: 'val.' },
};
const LINES = [['upper', 'upper LoA', '6 3'], ['bias', 'bias', ''], ['lower', 'lower LoA', '6 3']];

function niceStep(span) {
  const raw = span / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((factor) => factor * power).find((step) => step >= raw);
}

function scale(values, { low, high }, pad) {
  // The value range around the values with a margin, its ticks, and value -> page coordinate.
  const margin = Math.max((Math.max(...values) - Math.min(...values)) * pad, 0.5);
  const [lo, hi] = [Math.min(...values) - margin, Math.max(...values) + margin];
  const step = niceStep(hi - lo);
  const digits = [0, 1, 2, 3, 4, 5, 6].find((d) => Math.abs(step * 10 ** d - Math.round(step * 10 ** d)) < 1e-6) ?? 6;
  const ticks = [];
  for (let i = Math.ceil(lo / step); i <= Math.floor(hi / step); i += 1) ticks.push(i * step);
  const at = (value) => low + ((value - lo) / (hi - lo)) * (high - low);
  return { at, ticks, format: (value) => value.toFixed(digits) };
}

function limitLines(set, agreement) {
  // [{kind, value, label}] of one set: the bias, and both limits when there are at least two patients.
  const values = { bias: agreement.bias_pct, lower: agreement.lower_limit_pct, upper: agreement.upper_limit_pct };
  return LINES.filter(([kind]) => typeof values[kind] === 'number')
    .map(([kind, name, dash]) => ({ set, kind, dash, value: values[kind], label: `${SETS[set].short} ${name} ${signed(values[kind])}` }));
}

function spread(labels, top, bottom) {
  // Label heights in their lines' order, at least LABEL_GAP apart, pushed up from the bottom edge if need be.
  const sorted = [...labels].sort((a, b) => a.y - b.y);
  sorted.forEach((label, i) => { label.textY = i ? Math.max(label.y, sorted[i - 1].textY + LABEL_GAP) : Math.max(label.y, top); });
  for (let i = sorted.length - 1; i >= 0; i -= 1) {
    const limit = i === sorted.length - 1 ? bottom : sorted[i + 1].textY - LABEL_GAP;
    sorted[i].textY = Math.min(sorted[i].textY, limit);
  }
  return sorted;
}

function axisTicks(plot, { x, y }) {
  const [left, right, top, bottom] = [MARGIN.left, WIDTH - MARGIN.right, MARGIN.top, HEIGHT - MARGIN.bottom];
  for (const value of y.ticks) {
    plot.append(svg('line', { x1: left, x2: right, y1: y.at(value), y2: y.at(value), stroke: value === 0 ? '#8c959f' : '#e1e4e8' }),
      svg('text', { x: left - 4, y: y.at(value), 'text-anchor': 'end', 'dominant-baseline': 'middle', 'font-size': 10, 'data-testid': 'ba-y-tick' }, y.format(value)));
  }
  for (const value of x.ticks) {
    plot.append(svg('line', { x1: x.at(value), x2: x.at(value), y1: bottom, y2: bottom + 4, stroke: '#57606a' }),
      svg('text', { x: x.at(value), y: bottom + 14, 'text-anchor': 'middle', 'font-size': 10, 'data-testid': 'ba-x-tick' }, x.format(value)));
  }
  plot.append(svg('rect', { x: left, y: top, width: right - left, height: bottom - top, fill: 'none', stroke: '#8c959f' }),
    svg('text', { x: (left + right) / 2, y: HEIGHT - 6, 'text-anchor': 'middle', 'font-size': 11 }, 'mean of model and consensus (% of lung)'),
    svg('text', { x: 12, y: (top + bottom) / 2, 'text-anchor': 'middle', 'font-size': 11, transform: `rotate(-90 12 ${(top + bottom) / 2})`, 'data-testid': 'ba-y-axis' },
      `${SIGN_TEXT} (percentage points)`));
}

export function blandAltmanPlot(version, involvement) {
  // involvement: {test: BA, validation: BA}; either may be missing or have no patients.
  const sets = Object.keys(SETS).filter((set) => involvement[set]?.patients?.length);
  const points = sets.flatMap((set) => involvement[set].patients.map((patient) => ({ set, patient })));
  const lines = sets.flatMap((set) => limitLines(set, involvement[set]));
  const x = scale(points.map(({ patient }) => (patient.model_pct + patient.reference_pct) / 2), { low: MARGIN.left, high: WIDTH - MARGIN.right }, 0.06);
  const y = scale([0, ...points.map(({ patient }) => patient.difference_pct), ...lines.map((line) => line.value)],
    { low: HEIGHT - MARGIN.bottom, high: MARGIN.top }, 0.08);
  const plot = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'data-testid': 'bland-altman',
    'aria-label': `Bland–Altman plot of model ${version.id}: ${SIGN_TEXT} against their mean, in percentage points of lung, one point per patient` });
  axisTicks(plot, { x, y });
  const right = WIDTH - MARGIN.right;
  for (const line of lines) {
    line.y = y.at(line.value);
    plot.append(svg('line', { x1: MARGIN.left, x2: right, y1: line.y, y2: line.y, stroke: SETS[line.set].colour, 'stroke-width': line.kind === 'bias' ? 2 : 1.3,
      'stroke-dasharray': line.dash, 'data-testid': 'ba-line', 'data-set': line.set, 'data-kind': line.kind }));
  }
  for (const label of spread(lines, MARGIN.top + 4, HEIGHT - MARGIN.bottom)) {
    plot.append(svg('text', { x: right + 4, y: label.textY, 'dominant-baseline': 'middle', 'font-size': 10, fill: SETS[label.set].colour,
      'data-testid': 'ba-label', 'data-set': label.set, 'data-kind': label.kind }, label.label));
  }
  for (const { set, patient } of points) {
    const mean = (patient.model_pct + patient.reference_pct) / 2;
    plot.append(svg('circle', { cx: x.at(mean), cy: y.at(patient.difference_pct), r: 3.5, fill: SETS[set].fill, stroke: SETS[set].colour, 'stroke-width': 1.5,
      'data-testid': 'ba-point', 'data-set': set, 'data-patient': patient.patient },
    svg('title', {}, `${patient.patient} (${SETS[set].name}): model ${patient.model_pct.toFixed(2)} %, consensus ${patient.reference_pct.toFixed(2)} %, `
      + `${SIGN_TEXT} ${signed(patient.difference_pct)} pp`)));
  }
  return el('figure', { class: 'chart ba-chart' }, plot, legend(sets));
}

function legend(sets) {
  const marker = (set) => svg('svg', { width: 12, height: 12, 'aria-hidden': 'true' },
    svg('circle', { cx: 6, cy: 6, r: 4, fill: SETS[set].fill, stroke: SETS[set].colour, 'stroke-width': 1.5 }));
  const line = (dash) => svg('svg', { width: 26, height: 10, 'aria-hidden': 'true' },
    svg('line', { x1: 0, x2: 26, y1: 5, y2: 5, stroke: '#57606a', 'stroke-width': 1.5, 'stroke-dasharray': dash }));
  return el('figcaption', { class: 'chart-legend' }, sets.map((set) => el('span', {}, marker(set), SETS[set].name)),
    el('span', {}, line(''), 'bias (mean difference)'), el('span', {}, line('6 3'), 'limits of agreement (bias ± 1.96 SD)'));
}
