// Reformat geometry and label composition (src/lib/reformat-geometry.js), against values worked out by hand.
// Run: npm test (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { composePlane, reformatPlaneGeometry } from '../src/lib/reformat-geometry.js';

const layout = {
  row_spacing: 5,
  planes: { coronal: { count: 4, width: 3, column_spacing: 0.7 }, sagittal: { count: 3, width: 4, column_spacing: 0.8 } },
  axial: { orientation: [1, 0, 0, 0, 1, 0], head_is_last: true, top_position: [-100, -120, 30], pixel_spacing: [0.8, 0.7] },
};

test('a coronal plane runs right to left and head to feet, one axial row further back per index', () => {
  const plane = reformatPlaneGeometry(layout, 'coronal', 2);
  assert.deepEqual(plane.rowCosines, [1, 0, 0]);
  assert.deepEqual(plane.columnCosines.map((v) => v + 0), [0, 0, -1]);
  assert.deepEqual(plane.imagePositionPatient, [-100, -120 + 2 * 0.8, 30]);
  assert.equal(plane.rowPixelSpacing, 5);
  assert.equal(plane.columnPixelSpacing, 0.7);
});

test('a sagittal plane runs front to back, one axial column further left per index', () => {
  const plane = reformatPlaneGeometry(layout, 'sagittal', 1);
  assert.deepEqual(plane.rowCosines, [0, 1, 0]);
  assert.deepEqual(plane.imagePositionPatient, [-100 + 0.7, -120, 30]);
  assert.equal(plane.columnPixelSpacing, 0.8);
});

test('with the slice normal to the feet, the slices already run head first', () => {
  const flipped = { ...layout, axial: { ...layout.axial, orientation: [-1, 0, 0, 0, 1, 0], head_is_last: false } };
  assert.deepEqual(reformatPlaneGeometry(flipped, 'coronal', 0).columnCosines.map((v) => v + 0), [0, 0, -1]);
});

test('a plane label map takes row k from slice sliceOrder[k]; slices without labels stay empty', () => {
  const [rows, columns] = [4, 3];
  const slices = new Map([
    [0, Uint8Array.from({ length: 12 }, (_, i) => i)], // value = index: row r column c holds 3r + c
    [2, new Uint8Array(12).fill(7)],
  ]);
  const geometry = { sliceOrder: [2, 1, 0], rows, columns };
  const coronal = composePlane('coronal', 1, geometry, (z) => slices.get(z) ?? null);
  assert.deepEqual([...coronal], [7, 7, 7, 0, 0, 0, 3, 4, 5]);
  const sagittal = composePlane('sagittal', 2, geometry, (z) => slices.get(z) ?? null);
  assert.deepEqual([...sagittal], [7, 7, 7, 7, 0, 0, 0, 0, 2, 5, 8, 11]);
  assert.equal(composePlane('coronal', 0, geometry, () => null), null);
});
