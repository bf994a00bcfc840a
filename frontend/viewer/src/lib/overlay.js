// The label-map overlay: our own 2D canvas over the Cornerstone viewport, one layer per label map
// (a reading's mask, the other reader's, a disagreement map, the lung...). It paints label-map pixels
// through the image's affine transform, so what is drawn is exactly what is stored.
// The canvas says in data-z and data-layers which slice and which layers it shows.
import { rgb } from './labels.js';

export class LabelOverlay {
  constructor(canvas, { rows, columns }) {
    this.canvas = canvas;
    this.rows = rows;
    this.columns = columns;
    this.layers = [];
    this.cursor = null; // {x, y, radius} in canvas px and label-map pixels
    this.blank = true; // nothing drawn since the canvas was last cleared
  }

  addLayer(layer) {
    // layer: {name, labels: [{value, colour}] from the label table, labelsFor(z) -> Uint8Array | null,
    // visible, alpha}
    this.layers.push({ alpha: 0.45, visible: true, ...layer });
    return this.layers[this.layers.length - 1];
  }

  layer(name) {
    return this.layers.find((layer) => layer.name === name);
  }

  draw(z, transform, width, height) {
    const ratio = window.devicePixelRatio || 1;
    this.fit(width, height, ratio);
    const drawn = transform
      ? this.layers.map((layer) => [layer, layer.visible ? layer.labelsFor(z) : null]).filter(([, labels]) => labels)
      : [];
    const empty = !drawn.length && !(transform && this.cursor);
    if (empty && this.blank) {
      // A blank canvas with nothing to draw is left untouched (only data-z follows the slice): clearing it
      // would have the browser composite it anew with every slice.
      this.describe(transform ? z : null, []);
      return;
    }
    const context = this.canvas.getContext('2d');
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (transform) {
      const t = transform;
      context.setTransform(t.a * ratio, t.b * ratio, t.c * ratio, t.d * ratio, t.e * ratio, t.f * ratio);
      context.imageSmoothingEnabled = false;
      for (const [layer, labels] of drawn) context.drawImage(this.paint(layer, labels), 0, 0);
      this.drawCursor(context, ratio, Math.hypot(t.a, t.b));
    }
    this.blank = empty;
    this.describe(transform ? z : null, drawn.map(([layer]) => layer.name));
  }

  fit(width, height, ratio) {
    if (this.canvas.width === Math.round(width * ratio) && this.canvas.height === Math.round(height * ratio)) return;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
  }

  drawCursor(context, ratio, scale) {
    if (!this.cursor) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.strokeStyle = '#ffffff';
    context.lineWidth = 1;
    context.beginPath();
    context.arc(this.cursor.x, this.cursor.y, Math.max(1, this.cursor.radius * scale), 0, 2 * Math.PI);
    context.stroke();
  }

  describe(z, shown) {
    const dataset = this.canvas.dataset;
    const slice = z === null ? '' : String(z);
    if (dataset.z !== slice) dataset.z = slice;
    if (dataset.layers !== shown.join(' ')) dataset.layers = shown.join(' ');
  }

  paint(layer, labels) {
    if (!layer.canvas) {
      layer.canvas = new OffscreenCanvas(this.columns, this.rows);
      layer.context = layer.canvas.getContext('2d');
      layer.pixels = layer.context.createImageData(this.columns, this.rows);
      layer.lut = lookupTable(layer.labels, layer.alpha);
    }
    const rgba = layer.pixels.data;
    const lut = layer.lut;
    for (let i = 0, j = 0; i < labels.length; i++, j += 4) {
      const k = labels[i] * 4;
      rgba[j] = lut[k];
      rgba[j + 1] = lut[k + 1];
      rgba[j + 2] = lut[k + 2];
      rgba[j + 3] = lut[k + 3];
    }
    layer.context.putImageData(layer.pixels, 0, 0);
    return layer.canvas;
  }
}

function lookupTable(labels, alpha) {
  // RGBA per label value; values the table does not name stay transparent.
  const lut = new Uint8ClampedArray(256 * 4);
  for (const label of labels) lut.set([...rgb(label.colour), Math.round(255 * alpha)], label.value * 4);
  return lut;
}
