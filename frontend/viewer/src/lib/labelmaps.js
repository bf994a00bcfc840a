// The label-map codec of the browser side, as the server's ildplatform.labelmaps: 8-bit grayscale PNG,
// grey level N is label N. fast-png reads and writes the bytes themselves, with no canvas in between,
// so no colour management or premultiplication can change a value.
import { decode, encode } from 'fast-png';

export class LabelMapError extends Error {
  name = 'LabelMapError';
}

export function encodeLabelPng(labels, width, height) {
  if (labels.length !== width * height) {
    throw new LabelMapError(`a ${width}x${height} label map has ${width * height} pixels, got ${labels.length}`);
  }
  const png = encode({ width, height, data: labels, depth: 8, channels: 1 });
  return new Blob([png], { type: 'image/png' });
}

export function decodeLabelBytes(bytes, width, height) {
  let png;
  try {
    png = decode(bytes);
  } catch (error) {
    throw new LabelMapError(`not a readable PNG (${error.message})`);
  }
  if (png.palette) {
    throw new LabelMapError('label maps are 8-bit grayscale PNGs, got an indexed-colour PNG');
  }
  if (png.depth !== 8 || png.channels !== 1) {
    throw new LabelMapError(`label maps are 8-bit single-channel PNGs, got ${png.depth}-bit with ${png.channels} channels`);
  }
  if (png.width !== width || png.height !== height) {
    throw new LabelMapError(`label map is ${png.width}x${png.height} pixels, the slice is ${width}x${height}`);
  }
  return new Uint8Array(png.data);
}

export async function decodeLabelPng(blob, width, height) {
  return decodeLabelBytes(new Uint8Array(await blob.arrayBuffer()), width, height);
}
