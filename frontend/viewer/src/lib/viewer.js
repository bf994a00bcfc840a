// One slice viewer: a Cornerstone3D stack viewport showing the series' DICOM slices, with our own 2D
// canvas on top for label maps. The label maps are painted by us (not Cornerstone's segmentation
// state) so that what is drawn is byte for byte what is sent to and read from the mask API.

import {
  Enums,
  RenderingEngine,
  imageLoader,
  init as coreInit,
  setUseCPURendering,
  utilities as csUtils,
} from '@cornerstonejs/core';
import {
  Enums as ToolEnums,
  PanTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  addTool,
  init as toolsInit,
} from '@cornerstonejs/tools';
import dicomImageLoader from '@cornerstonejs/dicom-image-loader';
import { el } from './api.js';
import { decodeLabelPng } from './png.js';

export const WINDOWS = {
  lung: { width: 1500, level: -600, label: 'Lung' },
  mediastinal: { width: 350, level: 40, label: 'Mediastinal' },
};

// Okabe-Ito colours: told apart with the common colour-vision deficiencies.
export const LABEL_COLOURS = {
  1: [230, 159, 0], // reticulation: orange
  2: [86, 180, 233], // GGO: sky blue
};
export const DISAGREEMENT_COLOURS = {
  1: [213, 94, 0], // only reader 1: vermillion
  2: [0, 114, 178], // only reader 2: blue
  3: [240, 228, 66], // both, different class: yellow
};

let initialised = null;

export function softwareWebGL() {
  try {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (!gl) return true;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    return /swiftshader|llvmpipe|software/i.test(String(renderer));
  } catch {
    return true;
  }
}

export function initCornerstone() {
  if (!initialised) {
    initialised = (async () => {
      coreInit();
      const wanted = new URLSearchParams(location.search).get('render');
      if (wanted === 'cpu' || (wanted !== 'gpu' && softwareWebGL())) {
        // Our label maps are on our own 2D canvas, so Cornerstone's CPU path shows everything we need;
        // it is faster than a software-emulated GPU (SwiftShader, llvmpipe).
        setUseCPURendering(true);
      }
      dicomImageLoader.init({ maxWebWorkers: Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1)) });
      toolsInit();
      for (const tool of [PanTool, ZoomTool, WindowLevelTool]) addTool(tool);
    })();
  }
  return initialised;
}

let viewerCount = 0;

export class SliceViewer {
  constructor(container, { seriesId, rows, columns, sliceCount, startSlice = 0 }) {
    this.seriesId = seriesId;
    this.rows = rows;
    this.columns = columns;
    this.sliceCount = sliceCount;
    this.z = startSlice;
    this.layers = [];
    this.listeners = new Set();
    this.cursor = null;
    this.window = { ...WINDOWS.lung };
    this.image = null;
    this.firstImageAt = null;
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
    this.overlay = el('canvas', { class: 'overlay', 'aria-hidden': 'true' });
    this.slider = el('input', { type: 'range', min: '0', max: String(this.sliceCount - 1), value: String(this.z),
      'aria-label': 'Slice', class: 'slice-slider' });
    this.info = el('div', { class: 'viewport-info', 'aria-live': 'polite' });
    this.frame = el('div', { class: 'viewport-frame' }, this.element, this.overlay, this.info);
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
    const tools = ToolGroupManager.createToolGroup(`tools-${this.id}`);
    tools.addTool(PanTool.toolName);
    tools.addTool(ZoomTool.toolName);
    tools.addTool(WindowLevelTool.toolName);
    // The left button is ours (painting); the others move the image; Shift+left sets a custom window.
    tools.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Auxiliary }] });
    tools.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Secondary }] });
    tools.setToolActive(WindowLevelTool.toolName, {
      bindings: [{ mouseButton: ToolEnums.MouseBindings.Primary, modifierKey: ToolEnums.KeyboardBindings.Shift }],
    });
    tools.addViewport(this.id, this.engine.id);
    this.element.addEventListener(Enums.Events.STACK_NEW_IMAGE, (event) => {
      this.image = event.detail.image;
      this.z = event.detail.imageIdIndex;
      if (this.firstImageAt === null) {
        this.firstImageAt = performance.now();
        this.element.dataset.firstImageMs = String(Math.round(this.firstImageAt));
      }
      this.slider.value = String(this.z);
      this.element.dataset.slice = String(this.z);
      this.emit('slice', this.z);
    });
    this.element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      if (!this.element.dataset.firstRenderMs && this.image) this.element.dataset.firstRenderMs = String(Math.round(performance.now()));
      this.drawOverlay();
    });
    this.element.addEventListener(Enums.Events.VOI_MODIFIED, (event) => {
      const range = event.detail.range;
      const preset = Object.values(WINDOWS).find((w) => range && Math.abs(w.level - w.width / 2 - range.lower) < 1 && Math.abs(w.level + w.width / 2 - range.upper) < 1);
      if (preset) {
        this.window = { ...preset };
        this.updateInfo();
      } else if (range) {
        this.window = { width: Math.round(range.upper - range.lower), level: Math.round((range.upper + range.lower) / 2), label: 'Custom' };
        this.updateInfo();
      }
    });
    await this.viewport.setStack(this.imageIds, this.z);
    this.setWindow(this.window);
    this.element.dataset.ready = '1';
    this.prefetch();
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

  addLayer(layer) {
    // layer: {name, visible, labelsFor(z) -> Uint8Array | null, colours: {label: [r, g, b]}, alpha}
    this.layers.push({ alpha: 0.45, visible: true, ...layer });
    this.drawOverlay();
    return this.layers[this.layers.length - 1];
  }

  layer(name) {
    return this.layers.find((layer) => layer.name === name);
  }

  setLayerVisible(name, visible) {
    const layer = this.layer(name);
    if (layer) layer.visible = visible;
    this.drawOverlay();
  }

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

  handleKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return false;
    const steps = { ArrowUp: -1, ArrowLeft: -1, ArrowDown: 1, ArrowRight: 1, PageUp: -10, PageDown: 10 };
    if (event.key in steps) {
      event.preventDefault();
      this.scroll(steps[event.key]);
      return true;
    }
    if (event.key === 'Home' || event.key === 'End') {
      event.preventDefault();
      this.goTo(event.key === 'Home' ? 0 : this.sliceCount - 1);
      return true;
    }
    if (event.key === 'l' || event.key === 'L') {
      this.setWindow(WINDOWS.lung);
      return true;
    }
    if (event.key === 'm' || event.key === 'M') {
      this.setWindow(WINDOWS.mediastinal);
      return true;
    }
    if ((event.key === 'c' || event.key === 'C') && this.focusCustomWindow) {
      event.preventDefault();
      this.focusCustomWindow();
      return true;
    }
    if (event.key === 'r' && !event.shiftKey) {
      this.viewport?.resetCamera();
      this.viewport?.render();
      return true;
    }
    return false;
  }

  windowControls() {
    // Lung and mediastinal presets, and a custom window typed in (C focuses it; Enter applies).
    const width = el('input', { type: 'number', min: '1', step: '10', class: 'num', id: `${this.id}-ww`, 'data-testid': 'window-width', value: String(this.window.width) });
    const level = el('input', { type: 'number', step: '10', class: 'num', id: `${this.id}-wl`, 'data-testid': 'window-level', value: String(this.window.level) });
    const apply = () => {
      if (Number(width.value) > 0) this.setWindow({ width: Number(width.value), level: Number(level.value), label: 'Custom' });
    };
    for (const input of [width, level]) {
      input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') {
          apply();
          this.element.focus();
        }
      });
    }
    this.on(() => {
      if (document.activeElement !== width && document.activeElement !== level) {
        width.value = String(this.window.width);
        level.value = String(this.window.level);
      }
    });
    this.focusCustomWindow = () => width.focus();
    const preset = (name, key) => el('button', { type: 'button', title: `${WINDOWS[name].label} window (${key})`, onclick: () => this.setWindow(WINDOWS[name]) },
      WINDOWS[name].label, el('kbd', { text: key }));
    return el('fieldset', {}, el('legend', { text: 'Window' }), preset('lung', 'L'), preset('mediastinal', 'M'),
      el('div', { class: 'hu' }, el('label', { for: width.id }, 'W ', el('kbd', { text: 'C' })), width, el('label', { for: level.id, text: 'L' }), level,
        el('button', { type: 'button', onclick: apply }, 'Set')));
  }

  updateInfo() {
    this.info.textContent = `Slice ${this.z + 1} / ${this.sliceCount} · ${this.window.label} W${this.window.width} L${this.window.level}`;
  }

  resize() {
    if (this.engine) this.engine.resize(true, true);
    this.drawOverlay();
  }

  // --- image <-> canvas geometry -------------------------------------------------------------

  imageTransform() {
    // Affine map from label-map pixel space (0..columns, 0..rows; pixel centres at +0.5) to canvas px.
    if (!this.viewport || !this.image) return null;
    const imageId = this.imageIds[this.z];
    const at = (u, v) => this.viewport.worldToCanvas(csUtils.imageToWorldCoords(imageId, [u - 0.5, v - 0.5]));
    let origin;
    let alongColumns;
    let alongRows;
    try {
      origin = at(0, 0);
      alongColumns = at(this.columns, 0);
      alongRows = at(0, this.rows);
    } catch {
      return null;
    }
    const a = (alongColumns[0] - origin[0]) / this.columns;
    const b = (alongColumns[1] - origin[1]) / this.columns;
    const c = (alongRows[0] - origin[0]) / this.rows;
    const d = (alongRows[1] - origin[1]) / this.rows;
    return { a, b, c, d, e: origin[0], f: origin[1] };
  }

  canvasToPixel(x, y) {
    const t = this.imageTransform();
    if (!t) return null;
    const determinant = t.a * t.d - t.b * t.c;
    const dx = x - t.e;
    const dy = y - t.f;
    return { column: (t.d * dx - t.c * dy) / determinant, row: (-t.b * dx + t.a * dy) / determinant, scale: Math.hypot(t.a, t.b) };
  }

  eventToPixel(event) {
    const box = this.element.getBoundingClientRect();
    return this.canvasToPixel(event.clientX - box.left, event.clientY - box.top);
  }

  huAt(index) {
    // Hounsfield units of one pixel of the shown slice (the loader usually hands us rescaled values).
    const pixels = this.image.getPixelData();
    const value = pixels[index];
    if (this.image.preScale && this.image.preScale.scaled) return value;
    return value * (this.image.slope ?? 1) + (this.image.intercept ?? 0);
  }

  // --- overlay ---------------------------------------------------------------------------------

  drawOverlay() {
    const width = this.frame.clientWidth;
    const height = this.frame.clientHeight;
    const ratio = window.devicePixelRatio || 1;
    if (this.overlay.width !== Math.round(width * ratio) || this.overlay.height !== Math.round(height * ratio)) {
      this.overlay.width = Math.round(width * ratio);
      this.overlay.height = Math.round(height * ratio);
      this.overlay.style.width = `${width}px`;
      this.overlay.style.height = `${height}px`;
    }
    const context = this.overlay.getContext('2d');
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, this.overlay.width, this.overlay.height);
    const t = this.imageTransform();
    if (!t) return;
    context.setTransform(t.a * ratio, t.b * ratio, t.c * ratio, t.d * ratio, t.e * ratio, t.f * ratio);
    context.imageSmoothingEnabled = false;
    for (const layer of this.layers) {
      if (!layer.visible) continue;
      const labels = layer.labelsFor(this.z);
      if (!labels) continue;
      context.drawImage(this.paintLayer(layer, labels), 0, 0);
    }
    if (this.cursor) {
      context.setTransform(ratio, 0, 0, ratio, 0, 0);
      context.strokeStyle = '#ffffff';
      context.lineWidth = 1;
      context.beginPath();
      context.arc(this.cursor.x, this.cursor.y, Math.max(1, this.cursor.radius * Math.hypot(t.a, t.b)), 0, 2 * Math.PI);
      context.stroke();
    }
  }

  paintLayer(layer, labels) {
    if (!layer.canvas) {
      layer.canvas = new OffscreenCanvas(this.columns, this.rows);
      layer.context = layer.canvas.getContext('2d');
      layer.pixels = layer.context.createImageData(this.columns, this.rows);
      layer.lut = new Uint8ClampedArray(256 * 4);
      for (const [label, [r, g, b]] of Object.entries(layer.colours)) layer.lut.set([r, g, b, Math.round(255 * layer.alpha)], Number(label) * 4);
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

// A cache of read-only label maps fetched as PNG per slice (lung mask, consensus, predictions,
// another reading, disagreement maps). Missing slices (404) read as empty.
export class RemoteLabels {
  constructor(urlFor, { rows, columns, onLoaded }) {
    this.urlFor = urlFor;
    this.rows = rows;
    this.columns = columns;
    this.onLoaded = onLoaded;
    this.slices = new Map();
    this.pending = new Map();
  }

  labelsFor(z) {
    if (this.slices.has(z)) return this.slices.get(z);
    this.load(z);
    return null;
  }

  async load(z) {
    if (this.pending.has(z)) return this.pending.get(z);
    const promise = (async () => {
      const response = await fetch(this.urlFor(z), { credentials: 'same-origin' });
      const labels = response.ok ? await decodeLabelPng(await response.blob(), this.columns, this.rows) : null;
      this.slices.set(z, labels);
      if (this.onLoaded) this.onLoaded(z);
      return labels;
    })();
    this.pending.set(z, promise);
    return promise;
  }
}
