// The browser's label-map codec (src/lib/labelmaps.js over fast-png): grey level N reads back as N,
// and anything that is not an 8-bit single-channel PNG of the slice's size is refused with the reason.
// Run: npm test (node --test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from 'fast-png';
import { LabelMapError, decodeLabelBytes, decodeLabelPng, encodeLabelPng } from '../src/lib/labelmaps.js';

const WIDTH = 32;
const HEIGHT = 8;

function everyValue() {
  return Uint8Array.from({ length: WIDTH * HEIGHT }, (_, i) => i % 256);
}

test('every grey level survives encode and decode', async () => {
  const labels = everyValue();
  const png = encodeLabelPng(labels, WIDTH, HEIGHT);
  assert.equal(png.type, 'image/png');
  assert.deepEqual(await decodeLabelPng(png, WIDTH, HEIGHT), labels);
});

test('the encoder writes 8-bit grayscale (PNG colour type 0)', async () => {
  const bytes = new Uint8Array(await encodeLabelPng(everyValue(), WIDTH, HEIGHT).arrayBuffer());
  // IHDR data starts at byte 16: width, height (4 bytes each), bit depth, colour type.
  assert.equal(bytes[24], 8);
  assert.equal(bytes[25], 0);
});

const refused = [
  ['16-bit', () => encode({ width: WIDTH, height: HEIGHT, data: new Uint16Array(WIDTH * HEIGHT), depth: 16, channels: 1 }), /8-bit single-channel.*16-bit with 1 channels/],
  ['RGB', () => encode({ width: WIDTH, height: HEIGHT, data: new Uint8Array(WIDTH * HEIGHT * 3), depth: 8, channels: 3 }), /8-bit single-channel.*8-bit with 3 channels/],
  ['RGBA', () => encode({ width: WIDTH, height: HEIGHT, data: new Uint8Array(WIDTH * HEIGHT * 4), depth: 8, channels: 4 }), /8-bit with 4 channels/],
  ['indexed colour', () => encode({ width: WIDTH, height: HEIGHT, data: new Uint8Array(WIDTH * HEIGHT), depth: 8, channels: 1, palette: [[0, 0, 0], [255, 0, 0]] }), /indexed-colour/],
  ['another size', () => encode({ width: WIDTH + 1, height: HEIGHT, data: new Uint8Array((WIDTH + 1) * HEIGHT), depth: 8, channels: 1 }), /label map is 33x8 pixels, the slice is 32x8/],
  ['not a PNG', () => new TextEncoder().encode('GIF89a, not a PNG at all'), /not a readable PNG/],
];

for (const [what, make, message] of refused) {
  test(`a file that is ${what} is refused with the reason`, () => {
    assert.throws(() => decodeLabelBytes(make(), WIDTH, HEIGHT), (error) => error instanceof LabelMapError && message.test(error.message));
  });
}

test('a label array of the wrong length is refused before encoding', () => {
  assert.throws(() => encodeLabelPng(new Uint8Array(10), WIDTH, HEIGHT), LabelMapError);
});
