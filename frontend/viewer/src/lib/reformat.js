// Read-only coronal and sagittal reformats beside the axial viewer. Each is a Cornerstone stack viewport
// (a SliceViewer) whose images are the series' planes as the server cuts them from the stored HU volume
// (GET series/{id}/reformat/{plane}/{index}, head on top), loaded through an image loader of our own
// ("reformat:"), so windowing, zoom, pan, the HU probe and the orientation letters work as on the axial.
// The server answers one plane in milliseconds, so a reformat is ready long before the browser could have
// loaded and decoded every slice of the series to build a volume itself.
// Label maps are composed per plane from the axial ones the page already holds (a reader's mask including
// strokes not yet saved); a line marks the axial slice on screen, and a click on a reformat shows that
// slice in the axial viewer.
import { Enums, imageLoader, metaData } from '@cornerstonejs/core';
import { el, getJson } from './api.js';
import './reformat.css';
import { composePlane, reformatPlaneGeometry } from './reformat-geometry.js';
import { SliceViewer } from './viewport.js';

export const PLANE_NAMES = { coronal: 'Coronal', sagittal: 'Sagittal' };
const SCHEME = 'reformat';
const planeInfo = new Map(); // imageId -> imagePlaneModule of a reformat image
let loaderRegistered = false;

// --- Cornerstone image loader ----------------------------------------------------------------------

function registerLoader() {
  if (loaderRegistered) return;
  loaderRegistered = true;
  metaData.addProvider((type, imageId) => {
    const plane = planeInfo.get(imageId);
    if (!plane) return undefined;
    if (type === 'imagePlaneModule') return plane;
    if (type === 'imagePixelModule') {
      return { samplesPerPixel: 1, photometricInterpretation: 'MONOCHROME2', rows: plane.rows, columns: plane.columns,
        bitsAllocated: 16, bitsStored: 16, highBit: 15, pixelRepresentation: 1 };
    }
    if (type === 'generalSeriesModule') return { modality: 'CT' };
    return undefined;
  }, 10000);
  imageLoader.registerImageLoader(SCHEME, (imageId) => ({ promise: loadPlane(imageId) }));
}

async function loadPlane(imageId) {
  const url = imageId.slice(SCHEME.length + 1);
  const response = await fetch(url, { credentials: 'same-origin' });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  const rows = Number(response.headers.get('X-Rows'));
  const columns = Number(response.headers.get('X-Columns'));
  const pixels = new Int16Array(await response.arrayBuffer());
  if (pixels.length !== rows * columns) throw new Error(`${url}: ${pixels.length} values for ${rows}x${columns}`);
  let [min, max] = [pixels[0], pixels[0]];
  for (const value of pixels) {
    if (value < min) min = value;
    else if (value > max) max = value;
  }
  const plane = planeInfo.get(imageId);
  Object.assign(plane, { rows, columns });
  return {
    imageId, rows, columns, height: rows, width: columns, color: false, rgba: false, numberOfComponents: 1,
    slope: 1, intercept: 0, windowCenter: -600, windowWidth: 1500, minPixelValue: min, maxPixelValue: max,
    rowPixelSpacing: plane.rowPixelSpacing, columnPixelSpacing: plane.columnPixelSpacing, invert: false,
    dataType: 'Int16Array', getPixelData: () => pixels, sizeInBytes: pixels.byteLength, getCanvas: undefined,
  };
}

// --- the viewers -------------------------------------------------------------------------------------

class ReformatViewer extends SliceViewer {
  constructor(container, { seriesId, plane, layout, startIndex }) {
    const spec = layout.planes[plane];
    const imageIds = Array.from({ length: spec.count }, (_, index) => {
      const imageId = `${SCHEME}:${location.origin}/api/v1/series/${seriesId}/reformat/${plane}/${index}`;
      planeInfo.set(imageId, { ...reformatPlaneGeometry(layout, plane, index), rows: layout.slice_order.length, columns: spec.width,
        sliceThickness: null, frameOfReferenceUID: layout.axial.frame_of_reference_uid });
      return imageId;
    });
    super(container, { seriesId, rows: layout.slice_order.length, columns: spec.width, sliceCount: spec.count, startSlice: startIndex,
      imageIds });
    this.plane = plane;
    this.element.dataset.testid = `reformat-${plane}`;
    this.element.setAttribute('aria-label', `${PLANE_NAMES[plane]} reformat (read-only); scroll with the wheel`);
    this.slider.setAttribute('aria-label', `${PLANE_NAMES[plane]} plane`);
    this.axialLine = el('div', { class: 'axial-line', 'data-testid': `axial-line-${plane}`, hidden: true });
    this.frame.append(this.axialLine);
  }

  prefetch() {
    // One plane at a time, when asked for: 512 planes of a series are more than anyone scrolls through.
    this.element.dataset.prefetched = '1';
  }

  updateInfo() {
    const plane = this.geometry();
    const axis = this.plane === 'coronal' ? 1 : 0;
    const where = plane ? ` · ${'xy'[axis]} ${plane.position[axis].toFixed(1)} mm` : '';
    this.info.textContent = `${PLANE_NAMES[this.plane]} ${this.z + 1} / ${this.sliceCount}${where} · ${this.window.label}`;
  }

  showAxialRow(row) {
    // The line across the reformat at display row `row` (the axial slice on screen).
    const t = this.imageTransform();
    this.axialLine.hidden = !t || row === null;
    if (this.axialLine.hidden) return;
    this.axialLine.style.top = `${t.f + t.d * (row + 0.5)}px`;
    this.axialLine.style.left = `${t.e}px`;
    this.axialLine.style.width = `${t.a * this.columns}px`;
  }
}

export async function reformatPanel(container, { axial, seriesId, layers }) {
  // Coronal over sagittal, appended to `container` beside the axial viewer `axial`. layers: [{name,
  // labels, alpha, peek(z)}]: axial label maps to compose (peek: the labels of slice z if the page holds
  // them, without fetching); each is shown while the axial layer of the same name is. Returns {element,
  // viewers, redraw(), redrawSoon()}.
  registerLoader();
  const layout = await getJson(`series/${seriesId}/reformat/`);
  const geometry = { sliceOrder: layout.slice_order, rows: axial.rows, columns: axial.columns };
  const rowOfSlice = new Map(layout.slice_order.map((z, row) => [z, row]));
  const element = el('div', { class: 'reformats', 'data-testid': 'reformats' });
  container.append(element);
  const starts = { coronal: Math.floor(layout.planes.coronal.count / 2), sagittal: Math.floor(layout.planes.sagittal.count * 0.3) };
  const viewers = Object.keys(PLANE_NAMES).map((plane) => {
    const pane = el('div', { class: 'stage reformat-stage' });
    element.append(pane);
    const viewer = new ReformatViewer(pane, { seriesId, plane, layout, startIndex: starts[plane] });
    for (const layer of layers) {
      const { peek, ...shown } = layer; // name, labels and alpha as on the axial
      viewer.addLayer({ ...shown,
        labelsFor: (index) => (axial.layer(layer.name)?.visible === false ? null : composePlane(plane, index, geometry, peek)) });
    }
    viewer.element.addEventListener('pointerdown', (event) => {
      // A click (left button, no modifier) shows the axial slice of the row clicked.
      if (event.button !== 0 || event.shiftKey || event.ctrlKey || event.metaKey || viewer.measuring) return;
      const point = viewer.eventToPixel(event);
      const row = point ? Math.floor(point.row) : -1;
      if (row >= 0 && row < layout.slice_order.length) axial.goTo(layout.slice_order[row]);
    });
    viewer.element.addEventListener(Enums.Events.IMAGE_RENDERED, () => viewer.showAxialRow(rowOfSlice.get(axial.z) ?? null));
    return viewer;
  });
  const showAxialRow = () => viewers.forEach((viewer) => viewer.showAxialRow(rowOfSlice.get(axial.z) ?? null));
  const redraw = () => {
    viewers.forEach((viewer) => viewer.drawOverlay());
    showAxialRow();
  };
  let frame = null;
  const redrawSoon = () => {
    // Many slices' labels arrive at once: one redraw per animation frame.
    frame ??= requestAnimationFrame(() => {
      frame = null;
      redraw();
    });
  };
  axial.on((what, value) => {
    if (what === 'slice') showAxialRow(); // the planes' labels do not change with the axial slice
    if (what === 'layers') redrawSoon(); // an overlay switched on or off on the axial, here too
    if (what === 'window') viewers.forEach((viewer) => viewer.setWindow(value)); // one window for all three
  });
  await Promise.all(viewers.map((viewer) => viewer.start()));
  viewers.forEach((viewer) => viewer.setWindow(axial.window));
  return { element, viewers, redraw, redrawSoon };
}

export function reformatSwitch(layoutElement, build) {
  // "Coronal and sagittal": shows or hides the reformats column, remembered in this browser. build() makes
  // the reformats the first time they are shown after start() (never, while they stay hidden).
  const key = 'ild:reformats-shown';
  const input = el('input', { type: 'checkbox', id: 'show-reformats', 'data-testid': 'show-reformats',
    checked: localStorage.getItem(key) !== 'no' });
  let started = false;
  let built = null;
  const apply = () => {
    layoutElement.classList.toggle('no-reformats', !input.checked);
    if (started && input.checked) built ??= build();
    return built;
  };
  input.addEventListener('change', () => {
    localStorage.setItem(key, input.checked ? 'yes' : 'no');
    apply();
  });
  layoutElement.classList.toggle('no-reformats', !input.checked);
  const element = el('label', { class: 'check', for: input.id }, input, ' Coronal and sagittal');
  return { element, start: () => {
    started = true;
    return apply();
  } };
}
