// One slice viewer: a Cornerstone3D stack viewport showing the series' DICOM slices (WADO-RS frames from
// the platform's DICOMweb, see dicomweb.js, unless a subclass brings images of its own), a slider, an info
// line (slice, position and thickness in mm, window), the patient-direction letters at the edges, the HU
// under the pointer, and a LabelOverlay canvas on top for label maps. The wheel scrolls, Ctrl/Cmd+wheel
// zooms around the pointer. The viewport element says what it shows in data attributes: data-slice (the
// slice on screen), data-ready, data-prefetched, and the times of the first image and first render.
import { Enums, RenderingEngine, imageLoader, metaData } from '@cornerstonejs/core';
import dicomImageLoader from '@cornerstonejs/dicom-image-loader';
import { el } from './api.js';
import { bindMouseTools, initCornerstone } from './cornerstone.js';
import { seriesImages } from './dicomweb.js';
import { edgeLetters, formatMm } from './image-plane.js';
import { LabelOverlay } from './overlay.js';
import { pageMemory, storedSlice } from './page-memory.js';
import { WINDOWS, windowOfRange } from './windowing.js';

let viewerCount = 0;
const EDGES = ['left', 'right', 'top', 'bottom'];
const ZOOM_PER_NOTCH = 1.2; // one wheel notch (100 px of deltaY); a trackpad pinch sends smaller steps
const ZOOM_LIMITS = [0.2, 40]; // relative to the whole slice fitted to the viewport
// Slices loaded ahead at once: enough to keep the decoder busy, few enough that a slice asked for on
// screen finds one of the browser's 6 connections to the server free and little queued before it.
const PREFETCH_AT_ONCE = 4;

export class SliceViewer {
  constructor(container, { seriesId, rows, columns, sliceCount, startSlice, imageIds }) {
    // A page that does not say where to start gets the slice it showed last (the reader after a reload).
    this.memory = startSlice === undefined ? pageMemory('slice') : null;
    const z = startSlice ?? storedSlice(this.memory.load(), sliceCount) ?? 0;
    Object.assign(this, { seriesId, rows, columns, sliceCount, z });
    this.listeners = new Set();
    this.window = { ...WINDOWS.lung };
    this.image = null;
    this.pointer = null; // {clientX, clientY} while the pointer is over the image, for the HU probe
    this.measuring = false;
    this.mouseTools = null;
    this.direction = 1; // +1 or -1: the way the reader last moved through the slices
    this.imageIds = null; // set by start(), from this.stack
    this.stack = imageIds ? Promise.resolve(imageIds) : dicomwebStack(seriesId, sliceCount);
    this.id = `viewer-${++viewerCount}`;
    this.build(container);
    this.loadFirstSlice();
  }

  async loadFirstSlice() {
    // Cornerstone (its decoder worker included), the series' metadata and the first slice start loading
    // now, while the page still asks the server for the rest of what it shows; start() then finds them
    // ready.
    try {
      const [, imageIds] = await Promise.all([initCornerstone(), this.stack]);
      await imageLoader.loadAndCacheImage(imageIds[this.z]);
    } catch {
      // start() meets the same failure and reports it
    }
  }

  build(container) {
    this.element = el('div', { class: 'cs-viewport', 'data-testid': 'viewport', tabindex: '0',
      'aria-label': 'CT slice; scroll with the wheel or the arrow keys' });
    const canvas = el('canvas', { class: 'overlay', 'aria-hidden': 'true' });
    this.overlay = new LabelOverlay(canvas, { rows: this.rows, columns: this.columns });
    this.slider = el('input', { type: 'range', min: '0', max: String(this.sliceCount - 1), value: String(this.z),
      'aria-label': 'Slice', class: 'slice-slider' });
    this.info = el('div', { class: 'viewport-info', 'aria-live': 'polite' });
    this.markers = Object.fromEntries(EDGES.map((edge) =>
      [edge, el('div', { class: `orientation orientation-${edge}`, 'data-testid': `orientation-${edge}` })]));
    this.probe = el('div', { class: 'hu-probe', 'data-testid': 'hu-probe', hidden: true });
    this.frame = el('div', { class: 'viewport-frame' }, this.element, canvas, this.info, Object.values(this.markers), this.probe);
    container.append(this.frame, this.slider);
    this.element.addEventListener('contextmenu', (event) => event.preventDefault());
    this.slider.addEventListener('input', () => this.goTo(Number(this.slider.value)));
    this.element.addEventListener('wheel', (event) => {
      event.preventDefault();
      if (event.ctrlKey || event.metaKey) this.zoomAt(this.canvasPoint(event), wheelZoom(event));
      else this.scroll(Math.sign(event.deltaY) || 0);
    }, { passive: false });
    this.element.addEventListener('pointermove', (event) => {
      this.pointer = { clientX: event.clientX, clientY: event.clientY };
      this.updateProbe();
    });
    this.element.addEventListener('pointerleave', () => {
      this.pointer = null;
      this.updateProbe();
    });
    new ResizeObserver(() => this.resize()).observe(this.frame);
  }

  async start() {
    await initCornerstone();
    this.imageIds = await this.stack;
    this.engine = new RenderingEngine(`engine-${this.id}`);
    this.engine.enableElement({
      viewportId: this.id,
      type: Enums.ViewportType.STACK,
      element: this.element,
      defaultOptions: { background: [0, 0, 0] },
    });
    this.viewport = this.engine.getViewport(this.id);
    this.mouseTools = bindMouseTools(this.id, this.engine.id);
    this.mouseTools.measuring(this.measuring);
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
      this.memory?.save(this.z);
      this.updateMarkers();
      this.updateProbe();
      this.emit('slice', this.z);
    });
    this.element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      if (this.image) dataset.firstRenderMs ??= String(Math.round(performance.now()));
      this.drawOverlay();
      this.updateProbe(); // a zoom or pan moves the image under a still pointer
    });
    this.element.addEventListener(Enums.Events.VOI_MODIFIED, (event) => {
      if (!event.detail.range) return;
      this.window = windowOfRange(event.detail.range);
      this.updateInfo();
    });
  }

  async prefetch() {
    // Load every slice into Cornerstone's cache so that scrolling never waits, a few at a time: each
    // time the slice nearest to the one asked for last, those ahead of the reader first, so that a
    // reader scrolling while the series loads finds the next slices ready. Few at a time and marked as
    // prefetch, so that a slice asked for on screen is not queued behind many (the browser opens 6
    // connections to the server, and the decoder works through its tasks in order).
    const pending = new Set(this.imageIds.keys());
    const nearest = () => {
      const at = this.pendingTarget ?? this.z;
      let best = null;
      let bestCost = Infinity;
      for (const z of pending) {
        const ahead = (z - at) * this.direction;
        const cost = ahead >= 0 ? ahead : -2 * ahead;
        if (cost < bestCost) [best, bestCost] = [z, cost];
      }
      pending.delete(best);
      return best;
    };
    const options = { requestType: Enums.RequestType.Prefetch };
    const worker = async () => {
      while (pending.size) {
        const z = nearest();
        try {
          await imageLoader.loadAndCacheImage(this.imageIds[z], options);
        } catch (error) {
          console.warn(`slice ${z} did not load`, error);
        }
      }
    };
    await Promise.all(Array.from({ length: PREFETCH_AT_ONCE }, worker));
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
    this.emit('layers', name); // others drawing the same layers (the reformats) follow
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
    if (target !== this.z) this.direction = Math.sign(target - this.z);
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

  zoomAt(point, factor) {
    // Zoom by `factor`, keeping the image point under `point` (canvas px) where it is on screen.
    const viewport = this.viewport;
    if (!viewport || !this.image) return;
    const zoom = viewport.getZoom() * factor;
    if (zoom < ZOOM_LIMITS[0] || zoom > ZOOM_LIMITS[1]) return;
    const before = viewport.canvasToWorld(point);
    viewport.setCamera({ parallelScale: viewport.getCamera().parallelScale / factor });
    const after = viewport.canvasToWorld(point);
    const { focalPoint, position } = viewport.getCamera();
    const shift = (world) => world.map((value, axis) => value + before[axis] - after[axis]);
    viewport.setCamera({ focalPoint: shift(focalPoint), position: shift(position) });
    viewport.render();
  }

  setMeasuring(on) {
    // The left button measures lengths (Cornerstone's length tool) instead of going to the editor.
    this.measuring = on;
    this.mouseTools?.measuring(on);
    this.element.classList.toggle('measuring', on);
  }

  resetView() {
    this.viewport?.resetCamera();
    this.viewport?.render();
  }

  updateInfo() {
    const parts = [`Slice ${this.z + 1} / ${this.sliceCount}`];
    const plane = this.geometry();
    if (plane) parts.push(`z ${formatMm(plane.position[2])} mm`);
    if (plane?.sliceThickness) parts.push(`${formatMm(plane.sliceThickness)} mm thick`);
    parts.push(`${this.window.label} W${this.window.width} L${this.window.level}`);
    this.info.textContent = parts.join(' · ');
  }

  updateMarkers() {
    // Only a change touches the page: the letters are the same on every slice of a series.
    const plane = this.geometry();
    const letters = plane ? edgeLetters(plane.rowCosines, plane.columnCosines) : {};
    for (const edge of EDGES) {
      const text = letters[edge] ?? '';
      if (this.markers[edge].textContent !== text) this.markers[edge].textContent = text;
    }
  }

  updateProbe() {
    // The HU and (column, row) of the pixel under the pointer, on the slice on screen.
    const pixel = this.pointer && this.image ? this.eventToPixel(this.pointer) : null;
    const column = Math.floor(pixel?.column);
    const row = Math.floor(pixel?.row);
    const inside = column >= 0 && column < this.columns && row >= 0 && row < this.rows;
    this.probe.hidden = !inside;
    if (inside) this.probe.textContent = `(${column}, ${row}) ${Math.round(this.huAt(row * this.columns + column))} HU`;
  }

  resize() {
    if (this.engine) this.engine.resize(true, true);
    this.drawOverlay();
  }

  // --- image <-> canvas geometry -----------------------------------------------------------------

  geometry() {
    // The plane of the image on screen in patient space (DICOM LPS, mm), from its header; null before
    // it has loaded. pixelSpacing: [between rows, between columns].
    const plane = this.image ? metaData.get('imagePlaneModule', this.image.imageId) : null;
    if (!plane?.imagePositionPatient || !plane.rowCosines || !plane.columnCosines) return null;
    return {
      pixelSpacing: [plane.rowPixelSpacing ?? plane.pixelSpacing?.[0] ?? null, plane.columnPixelSpacing ?? plane.pixelSpacing?.[1] ?? null],
      sliceThickness: plane.sliceThickness ?? null,
      position: [...plane.imagePositionPatient],
      rowCosines: [...plane.rowCosines],
      columnCosines: [...plane.columnCosines],
    };
  }

  canvasPoint(event) {
    const box = this.element.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  }

  imageTransform() {
    // Affine map from label-map pixel space (0..columns, 0..rows; pixel centres at +0.5) to canvas px.
    // Cornerstone's image coordinates are the same space: (0, 0) is the top-left corner of the image.
    // Its CPU path's worldToCanvas reads a pixel's centre as its corner (measured against the drawn
    // image: half a pixel up and left), so there the map starts half a pixel further on.
    if (!this.viewport || !this.image) return null;
    const half = this.viewport.useCPURendering ? 0.5 : 0;
    const world = imageToWorld(metaData.get('imagePlaneModule', this.imageIds[this.z]));
    if (!world) return null;
    const at = (u, v) => this.viewport.worldToCanvas(world(u + half, v + half));
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
    const [x, y] = this.canvasPoint(event);
    const dx = x - t.e;
    const dy = y - t.f;
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

async function dicomwebStack(seriesId, sliceCount) {
  // The slices' wadors image ids in z order, their metadata handed to the loader first: its providers
  // (imagePlaneModule, modalityLutModule, ...) answer from it, and it decodes no frame without it.
  const images = await seriesImages(seriesId);
  if (images.length !== sliceCount) throw new Error(`series ${seriesId}: ${images.length} instances for ${sliceCount} slices`);
  for (const { imageId, metadata } of images) dicomImageLoader.wadors.metaDataManager.add(imageId, metadata);
  return images.map(({ imageId }) => imageId);
}

function imageToWorld(plane) {
  // Image coordinates (u along the columns, v down the rows; pixel centres at +0.5) to patient mm, with
  // DICOM's spacing: u steps the distance between columns along the row cosines. (Cornerstone's
  // imageToWorldCoords swaps the two spacings, which only shows on non-square pixels, as in a reformat.)
  if (!plane?.imagePositionPatient || !plane.rowCosines || !plane.columnCosines) return null;
  const betweenColumns = plane.columnPixelSpacing || 1;
  const betweenRows = plane.rowPixelSpacing || 1;
  return (u, v) => plane.imagePositionPatient.map((origin, axis) =>
    origin + plane.rowCosines[axis] * betweenColumns * (u - 0.5) + plane.columnCosines[axis] * betweenRows * (v - 0.5));
}

function wheelZoom(event) {
  // The zoom factor of one wheel event: up (negative deltaY) zooms in; lines count as 33 px.
  const pixels = event.deltaMode === WheelEvent.DOM_DELTA_LINE ? event.deltaY * 33 : event.deltaY;
  return ZOOM_PER_NOTCH ** (-Math.max(-300, Math.min(300, pixels)) / 100);
}
