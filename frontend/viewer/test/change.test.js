// Visit-to-visit change of involvement (src/patient/change.js), against hand-computed values.
// Run: npm test (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatChange, visitChange } from '../src/patient/change.js';

const visits = [{ id: 1, date: '2020-01-10' }, { id: 2, date: '2020-07-01' }, { id: 3, date: '2021-02-03' }];
const row = (visit, source, total, method = 'lung3d') => ({ visit_id: visit, source, total_pct: total, lung_method: method });

test('change against the latest earlier visit of the same source, absolute and relative', () => {
  const rows = [row(1, 'consensus', 8), row(2, 'consensus', 10), row(3, 'consensus', 9), row(2, 'model:4', 12)];
  assert.equal(visitChange(rows, visits, visits[0], 'consensus'), null, 'the first visit has no change');
  const second = visitChange(rows, visits, visits[1], 'consensus');
  assert.equal(second.absolute, 2);
  assert.equal(second.relative, 25);
  assert.equal(formatChange(second), '+2.0 pp (+25 %)');
  const third = visitChange(rows, visits, visits[2], 'consensus');
  assert.equal(formatChange(third), '−1.0 pp (−10 %)');
  assert.equal(visitChange(rows, visits, visits[1], 'model:4'), null, 'no earlier row of that source');
});

test('a visit without the source in between is skipped; a zero baseline has no relative change', () => {
  const rows = [row(1, 'reader_1', 0), row(3, 'reader_1', 3, 'mader2d')];
  const change = visitChange(rows, visits, visits[2], 'reader_1');
  assert.equal(change.previous.visit_id, 1);
  assert.equal(change.relative, null);
  assert.equal(change.methodsDiffer, true);
  assert.equal(formatChange(change), '+3.0 pp');
  assert.equal(formatChange(null), '–');
});

test('a change is told beyond or within reader noise with its band and n, or not yet estimable', async () => {
  const { noiseText, noiseSummary } = await import('../src/patient/change.js');
  const base = { from_date: '2020-01-10', to_date: '2021-02-03', noise_n: 14 };
  assert.equal(noiseText({ ...base, change_pct_points: 3.26, estimable: true, beyond_noise: true, mdc95: 2.04 }),
    '2020-01-10 → 2021-02-03: +3.3 pp, beyond reader noise (MDC95 2.0 pp from 14 series read by both readers)');
  assert.equal(noiseText({ ...base, change_pct_points: -1.0, estimable: true, beyond_noise: false, mdc95: 2.04 }),
    '2020-01-10 → 2021-02-03: −1.0 pp, within reader noise (MDC95 2.0 pp from 14 series read by both readers)');
  assert.equal(noiseText({ ...base, change_pct_points: 5, estimable: false, beyond_noise: null, mdc95: null, noise_n: 3 }),
    '2020-01-10 → 2021-02-03: +5.0 pp; reader noise not yet estimable (3 series read by both readers so far)');
  assert.equal(noiseSummary({ total: { n: 3, estimable: false } }, 10), 'Reader noise not yet estimable: 3 of 10 series read by both readers needed');
  assert.match(noiseSummary({ total: { n: 12, estimable: true, mdc95: 2.04, mdc95_ci_low: 1.5, mdc95_ci_high: 3.1 } }, 10), /MDC95 of the total 2\.0 pp, 95 % CI 1\.5–3\.1, from 12 series/);
});
