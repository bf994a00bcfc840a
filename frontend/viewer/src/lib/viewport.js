// One slice viewer: a Cornerstone3D stack viewport showing the series' DICOM slices, a slider, an info
// line, and a LabelOverlay canvas on top for label maps. The viewport element says what it shows in
// data attributes: data-slice (the slice on screen), data-ready, data-prefetched, and the times of the
// first image and first render.
import { Enums, RenderingEngine, imageLoader, utilities as csUtils } from '@cornerstonejs/core';
import { el } from './api.js';
import { bindMouseTools, initCornerstone } from './cornerstone.js';
import { LabelOverlay } from './overlay.js';
import { WINDOWS, windowOfRange } from './windowing.js';

let viewerCount = 0;

export class SliceViewer {
  constructor(container, { seriesId, rows, columns, sliceCount, startSlice = 0 }) {
    Object.assign(this, { seriesId, rows, columns, sliceCount, z: startSlice });
    this.listeners = new Set();
    this.window = { ...WINDOWS.lung };
    this.image = null;
    this.imageIds = Array.from(
      { length: sliceCount },
      (_, z) => `wadouri:${location.origin}/api/v1/series/${seriesId}/slices/${z}/dicom`,
    );
    this.id = `viewer-${++viewerCount}`;
    this.build(container);
  }

  build(container) {
    this.element = el('div', { class: 'cs-viewport', 'data-testid': 'viewport', tabindex: '0',
      'aria-label': 'CT slice; scroll with the wheel or the arrow keys' });
    const canvas = el('canvas', { class: 'overlay', 'aria-hidden': 'true' });
    this.overlay = new LabelOverlay(canvas, { rows: this.rows, columns: this.columns });
    this.slider = el('input', { type: 'range', min: '0', max: String(this.sliceCount - 1), value: String(this.z),
      'aria-label': 'Slice', class: 'slice-slider' });
    this.info = el('div', { class: 'viewport-info', 'aria-live': 'polite' });
    this.frame = el('div', { class: 'viewport-frame' }, this.element, canvas, this.info);
    container.append(this.frame, this.slider);
    this.element.addEventListener('contextmenu', (event) => event.preventDefault());
    this.slider.addEventListener('input', () => this.goTo(Number(this.slider.value)));
    this.element.addEventListener('wheel', (event) => {
      event.preventDefault();
      this.scroll(Math.sign(event.deltaY) || 0);
    }, { passive: false });
    new ResizeObserver(() => this.resize()).observe(this.frame);
  }

  async start() {
    await initCornerstone();
    this.engine = new RenderingEngine(`engine-${this.id}`);
    this.engine.enableElement({
      viewportId: this.id,
      type: Enums.ViewportType.STACK,
      element: this.element,
      defaultOptions: { background: [0, 0, 0] },
    });
    this.viewport = this.engine.getViewport(this.id);
    bindMouseTools(this.id, this.engine.id);
    this.listen();
    await this.viewport.setStack(this.imageIds, this.z);
    this.setWindow(this.window);
    this.element.dataset.ready = '1';
    this.prefetch();
  }

  listen() {
    const dataset = this.element.dataset;
    this.element.addEventListener(Enums.Events.STACK_NEW_IMAGE, (event) => {
      this.image = event.detail.image;
      this.z = event.detail.imageIdIndex;
      dataset.firstImageMs ??= String(Math.round(performance.now()));
      this.slider.value = String(this.z);
      dataset.slice = String(this.z);
      this.emit('slice', this.z);
    });
    this.element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      if (this.image) dataset.firstRenderMs ??= String(Math.round(performance.now()));
      this.drawOverlay();
    });
    this.element.addEventListener(Enums.Events.VOI_MODIFIED, (event) => {
      if (!event.detail.range) return;
      this.window = windowOfRange(event.detail.range);
      this.updateInfo();
    });
  }

  async prefetch() {
    // Load every slice into Cornerstone's cache, nearest first, a few at a time, so scrolling never waits.
    const order = Array.from({ length: this.sliceCount }, (_, z) => z).sort((a, b) => Math.abs(a - this.z) - Math.abs(b - this.z));
    let next = 0;
    const worker = async () => {
      while (next < order.length) {
        const z = order[next++];
        try {
          await imageLoader.loadAndCacheImage(this.imageIds[z]);
        } catch (error) {
          console.warn(`slice ${z} did not load`, error);
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    this.element.dataset.prefetched = '1';
  }

  on(listener) {
    this.listeners.add(listener);
  }

  emit(what, value) {
    for (const listener of this.listeners) listener(what, value);
    this.updateInfo();
  }

  // --- layers (see overlay.js) -----------------------------------------------------------------

  addLayer(layer) {
    const added = this.overlay.addLayer(layer);
    this.drawOverlay();
    return added;
  }

  layer(name) {
    return this.overlay.layer(name);
  }

  setLayerVisible(name, visible) {
    const layer = this.layer(name);
    if (layer) layer.visible = visible;
    this.drawOverlay();
  }

  setCursor(cursor) {
    this.overlay.cursor = cursor;
    this.drawOverlay();
  }

  drawOverlay() {
    this.overlay.draw(this.z, this.imageTransform(), this.frame.clientWidth, this.frame.clientHeight);
  }

  // --- navigation and window --------------------------------------------------------------------

  async goTo(z) {
    const target = Math.max(0, Math.min(this.sliceCount - 1, Math.round(z)));
    if (!this.viewport || target === (this.pendingTarget ?? this.viewport.getCurrentImageIdIndex())) return;
    this.z = target;
    this.pendingTarget = target;
    try {
      await this.viewport.setImageIdIndex(target);
    } finally {
      if (this.pendingTarget === target) this.pendingTarget = null;
    }
  }

  scroll(delta) {
    // Relative to the slice asked for last, so that a fast wheel's notches add up rather than repeat.
    const from = this.pendingTarget ?? (this.viewport ? this.viewport.getCurrentImageIdIndex() : this.z);
    return this.goTo(from + delta);
  }

  setWindow({ width, level, label = 'Custom' }) {
    this.window = { width, level, label };
    this.emit('window', this.window);
    if (!this.viewport) return;
    this.viewport.setProperties({ voiRange: { lower: level - width / 2, upper: level + width / 2 } });
    this.viewport.render();
    this.updateInfo();
  }

  resetView() {
    this.viewport?.resetCamera();
    this.viewport?.render();
  }

  updateInfo() {
    this.info.textContent = `Slice ${this.z + 1} / ${this.sliceCount} · ${this.window.label} W${this.window.width} L${this.window.level}`;
  }

  resize() {
    if (this.engine) this.engine.resize(true, true);
    this.drawOverlay();
  }

  // --- image <-> canvas geometry -----------------------------------------------------------------

  imageTransform() {
    // Affine map from label-map pixel space (0..columns, 0..rows; pixel centres at +0.5) to canvas px.
    // Cornerstone's image coordinates are the same space: (0, 0) is the top-left corner of the image.
    // Its CPU path's worldToCanvas reads a pixel's centre as its corner (measured against the drawn
    // image: half a pixel up and left), so there the map starts half a pixel further on.
    if (!this.viewport || !this.image) return null;
    const imageId = this.imageIds[this.z];
    const half = this.viewport.useCPURendering ? 0.5 : 0;
    const at = (u, v) => this.viewport.worldToCanvas(csUtils.imageToWorldCoords(imageId, [u + half, v + half]));
    let origin, alongColumns, alongRows;
    try {
      [origin, alongColumns, alongRows] = [at(0, 0), at(this.columns, 0), at(0, this.rows)];
    } catch {
      return null;
    }
    return {
      a: (alongColumns[0] - origin[0]) / this.columns,
      b: (alongColumns[1] - origin[1]) / this.columns,
      c: (alongRows[0] - origin[0]) / this.rows,
      d: (alongRows[1] - origin[1]) / this.rows,
      e: origin[0],
      f: origin[1],
    };
  }

  eventToPixel(event) {
    // The label-map pixel under the pointer: {column, row} (fractional), or null before the first image.
    const t = this.imageTransform();
    if (!t) return null;
    const box = this.element.getBoundingClientRect();
    const dx = event.clientX - box.left - t.e;
    const dy = event.clientY - box.top - t.f;
    const determinant = t.a * t.d - t.b * t.c;
    return { column: (t.d * dx - t.c * dy) / determinant, row: (-t.b * dx + t.a * dy) / determinant };
  }

  huAt(index) {
    // Hounsfield units of one pixel of the shown slice (the loader usually hands us rescaled values).
    const value = this.image.getPixelData()[index];
    if (this.image.preScale && this.image.preScale.scaled) return value;
    return value * (this.image.slope ?? 1) + (this.image.intercept ?? 0);
  }
}
