// A cache of read-only label maps fetched as PNG per slice (lung mask, consensus, predictions, another
// reading, disagreement maps). Missing slices (404) read as empty; a PNG that is not a label map of
// this series is logged with its address and the reason, and shows as empty.
import { decodeLabelPng } from './labelmaps.js';

export class RemoteLabels {
  constructor(urlFor, { rows, columns, onLoaded }) {
    this.urlFor = urlFor;
    this.rows = rows;
    this.columns = columns;
    this.onLoaded = onLoaded;
    this.slices = new Map();
    this.pending = new Map();
    this.listeners = new Set(); // besides onLoaded: others drawing these labels (the reformats)
  }

  on(listener) {
    this.listeners.add(listener);
  }

  peek(z) {
    // The labels of slice z if they are here (null: empty or not loaded), without fetching them.
    return this.slices.get(z) ?? null;
  }

  loadAll(sliceCount, { parallel = 4 } = {}) {
    // Every slice, a few requests at a time (the reformats show all of them at once); once until clear().
    if (this.allLoaded) return this.allLoaded;
    let next = 0;
    const worker = async () => {
      while (next < sliceCount) await this.load(next++);
    };
    this.allLoaded = Promise.all(Array.from({ length: parallel }, worker));
    return this.allLoaded;
  }

  labelsFor(z) {
    if (this.slices.has(z)) return this.slices.get(z);
    this.load(z);
    return null;
  }

  clear() {
    // Forget every slice (the server's label maps changed); they are fetched again when next drawn.
    this.slices.clear();
    this.pending.clear();
    this.allLoaded = null;
  }

  load(z) {
    if (!this.pending.has(z)) this.pending.set(z, this.fetch(z));
    return this.pending.get(z);
  }

  async fetch(z) {
    const url = this.urlFor(z);
    let labels = null;
    try {
      const response = await fetch(url, { credentials: 'same-origin' });
      if (response.ok) labels = await decodeLabelPng(await response.blob(), this.columns, this.rows);
    } catch (error) {
      console.error(`${url}: ${error.message}`);
    }
    this.slices.set(z, labels);
    if (this.onLoaded) this.onLoaded(z);
    for (const listener of this.listeners) listener(z);
    return labels;
  }
}
