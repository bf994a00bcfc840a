// The AI-effect texts (src/models/effect.js), against hand-written strings. Run: npm test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { minutes, ratioText } from '../src/models/effect.js';

test('a ratio is told with its interval and both groups\' n, or why it is missing', () => {
  assert.equal(ratioText({ ratio: 0.4, ci_low: 0.3712, ci_high: 0.4391, n_numerator: 7, n_denominator: 9 }, 'Reading time ratio'),
    'Reading time ratio: 0.40 (95 % CI 0.37–0.44; 7 readings with, 9 without)');
  assert.equal(ratioText(null, 'Reading time ratio'), 'Reading time ratio: not enough readings yet (two in each group are needed)');
});

test('active time in minutes and seconds', () => {
  assert.equal(minutes(125000), '2 min 05 s');
  assert.equal(minutes(40000), '0 min 40 s');
  assert.equal(minutes(null), '–');
});
