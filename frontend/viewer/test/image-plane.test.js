// Orientation letters and millimetre formatting (src/lib/image-plane.js), and what the viewer accepts
// back from localStorage (src/lib/page-memory.js). Run: npm test (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brushDiameterMm, edgeLetters, formatMm, orientationLetters } from '../src/lib/image-plane.js';
import { pageMemory, storedBrush, storedSlice } from '../src/lib/page-memory.js';

test('a standard axial slice shows R on the left, L on the right, A at the top, P at the bottom', () => {
  assert.deepEqual(edgeLetters([1, 0, 0], [0, 1, 0]), { left: 'R', right: 'L', top: 'A', bottom: 'P' });
});

test('letters follow the cosines: a flipped, a coronal and a tilted plane', () => {
  assert.deepEqual(edgeLetters([-1, 0, 0], [0, 1, 0]), { left: 'L', right: 'R', top: 'A', bottom: 'P' });
  // Coronal: rows run right to left, columns head to feet.
  assert.deepEqual(edgeLetters([1, 0, 0], [0, 0, -1]), { left: 'R', right: 'L', top: 'H', bottom: 'F' });
  // Gantry tilt of 20 degrees: the column direction is mostly posterior, partly towards the feet.
  const tilt = (20 * Math.PI) / 180;
  assert.equal(orientationLetters([0, Math.cos(tilt), -Math.sin(tilt)]), 'PF');
  assert.equal(orientationLetters([0, -Math.cos(tilt), Math.sin(tilt)]), 'AH');
  assert.equal(orientationLetters([1, 1e-6, -2e-6]), 'L', 'rounding noise is no tilt');
});

test('millimetres: at most two decimals, at least one, a true minus sign', () => {
  assert.equal(formatMm(-143.5), '−143.5');
  assert.equal(formatMm(-143.504), '−143.5');
  assert.equal(formatMm(1.25), '1.25');
  assert.equal(formatMm(5), '5.0');
  assert.equal(formatMm(-0.001), '0.0', 'no minus on a value that rounds to zero');
  assert.equal(formatMm(7.96, 1), '8.0');
  assert.equal(formatMm(140, 1), '140.0');
});

test('brush diameter: twice the radius in pixels times the column spacing', () => {
  assert.equal(formatMm(brushDiameterMm(6, 2 / 3), 1), '8.0');
  assert.equal(brushDiameterMm(1, 0.5), 1);
});

test('a stored slice is clamped into the series, anything else is ignored', () => {
  assert.equal(storedSlice(3, 10), 3);
  assert.equal(storedSlice(42, 10), 9);
  assert.equal(storedSlice(-5, 10), 0);
  assert.equal(storedSlice(2.6, 10), 3);
  for (const corrupt of [null, '3', NaN, Infinity, {}, [3]]) assert.equal(storedSlice(corrupt, 10), null, String(corrupt));
});

test('a stored brush keeps only what is valid now', () => {
  const now = { tools: ['brush', 'eraser', 'length'], labels: [1, 2], maxRadius: 60 };
  assert.deepEqual(storedBrush({ tool: 'eraser', label: 2, radius: 9 }, now), { tool: 'eraser', label: 2, radius: 9 });
  assert.deepEqual(storedBrush({ tool: 'lasso', label: 7, radius: 500 }, now), { radius: 60 });
  assert.equal(storedBrush({ tool: 'lasso', label: '1', radius: 0 }, now), null);
  assert.equal(storedBrush('brush', now), null);
});

test('page memory: per page path, and corrupt or refused storage reads as nothing', () => {
  const items = new Map();
  const storage = { getItem: (key) => items.get(key) ?? null, setItem: (key, value) => items.set(key, value) };
  globalThis.location = { pathname: '/read/7/' };
  const memory = pageMemory('slice', storage);
  assert.equal(memory.load(), null);
  memory.save(12);
  assert.equal(memory.load(), 12);
  assert.deepEqual([...items.keys()], ['ild:/read/7/:slice']);
  items.set('ild:/read/7/:slice', '{not json');
  assert.equal(memory.load(), null);
  const refusing = { getItem: () => { throw new Error('denied'); }, setItem: () => { throw new Error('full'); } };
  assert.equal(pageMemory('slice', refusing).load(), null);
  assert.doesNotThrow(() => pageMemory('slice', refusing).save(1));
  delete globalThis.location;
});
