// Active reading time (src/lib/active-time.js) on a hand-driven clock: each expected figure is worked out
// in the comment beside it from active(t) = visible && slice on screen && t - last interaction < cut-off.
// Run: npm test (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActiveTime, IDLE_CUTOFF_MS, SHORTEST_IDLE_CUTOFF_MS, idleCutoffFrom } from '../src/lib/active-time.js';

function onClock({ idleCutoffMs = 1000, visible = true } = {}) {
  const clock = { t: 0 };
  const time = new ActiveTime({ idleCutoffMs, visible, now: () => clock.t });
  const at = (t) => {
    clock.t = t;
    return time;
  };
  return { time, at };
}

const asMap = (taken) => Object.fromEntries(taken.map((s) => [s.z_index, [s.active_ms, s.visits]]));

test('time counts on the slice on screen, up to the cut-off after the last interaction', () => {
  const { time, at } = onClock({ idleCutoffMs: 1000 });
  at(0).showSlice(3); // the page opened at 0: that counts as an interaction
  at(400).interacted(); // slice 3: 0..400, then active until 400 + 1000
  at(2000).showSlice(4); // slice 3: 400..1400; 1400..2000 idle
  // The slice change at 2000 was not an interaction of its own (no event fed): slice 4 gets nothing yet.
  at(2500).interacted(); // slice 4: active from 2500
  at(2800).showSlice(5); // slice 4: 2500..2800 = 300
  assert.deepEqual(asMap(at(5000).take()), { 3: [1400, 1], 4: [300, 1], 5: [700, 1] }); // slice 5: 2800..3500
});

test('no time before the first slice is on screen', () => {
  const { time, at } = onClock({ idleCutoffMs: 1000 });
  at(500).showSlice(0); // 0..500 had no slice: nothing; 500..1000 on slice 0
  assert.deepEqual(asMap(at(3000).take()), { 0: [500, 1] });
});

test('a hidden tab stops the clock, and showing it again is not an interaction', () => {
  const { time, at } = onClock({ idleCutoffMs: 2000 });
  at(0).showSlice(1);
  at(300).setVisible(false); // 0..300 counted
  at(1300).setVisible(true); // 300..1300 hidden: not counted; active again until 0 + 2000
  assert.deepEqual(asMap(at(5000).take()), { 1: [300 + 700, 1] });
  // Hidden past the cut-off: coming back alone counts nothing.
  at(6000).interacted();
  at(6500).setVisible(false);
  at(9000).setVisible(true);
  assert.deepEqual(asMap(at(12000).take()), { 1: [500, 0] });
});

test('a page that starts hidden counts nothing until it is shown', () => {
  const { time, at } = onClock({ idleCutoffMs: 1000, visible: false });
  at(0).showSlice(2);
  at(800).interacted();
  at(1200).setVisible(true); // active from 1200 to 800 + 1000
  assert.deepEqual(asMap(at(4000).take()), { 2: [600, 1] });
});

test('take() hands out whole milliseconds once and keeps the fractions', () => {
  const { time, at } = onClock({ idleCutoffMs: 10_000 });
  at(0).showSlice(0);
  assert.deepEqual(at(100.7).take(), [{ z_index: 0, active_ms: 100, visits: 1 }]);
  assert.deepEqual(at(200.6).take(), [{ z_index: 0, active_ms: 100, visits: 0 }]); // 0.7 + 99.9 = 100.6
  assert.deepEqual(at(200.6).take(), []); // nothing new: nothing sent
  assert.deepEqual(at(201).take(), [{ z_index: 0, active_ms: 1, visits: 0 }]); // 0.6 + 0.4
});

test('coming back to a slice is another visit; staying on it is not', () => {
  const { time, at } = onClock({ idleCutoffMs: 1000 });
  at(0).showSlice(0);
  at(100).showSlice(0);
  at(200).showSlice(1);
  at(300).showSlice(0);
  assert.deepEqual(asMap(at(400).take()), { 0: [300, 2], 1: [100, 1] });
});

test('a page may shorten the idle cut-off, never lengthen it', () => {
  assert.equal(idleCutoffFrom(null), IDLE_CUTOFF_MS);
  assert.equal(idleCutoffFrom(''), IDLE_CUTOFF_MS);
  assert.equal(idleCutoffFrom('soon'), IDLE_CUTOFF_MS);
  assert.equal(idleCutoffFrom('2000'), 2000);
  assert.equal(idleCutoffFrom('5'), SHORTEST_IDLE_CUTOFF_MS);
  assert.equal(idleCutoffFrom('86400000'), IDLE_CUTOFF_MS);
});
