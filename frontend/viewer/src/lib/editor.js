// The painting tools on a SliceViewer: brush, eraser and HU-threshold brush on one slice's label map, with
// undo/redo of whole strokes; and the length tool, which measures on the viewer and never paints. The
// editor knows nothing of the server; `onEdited(z)` tells the owner.
// With `queueWhileLoading`, a stroke on a slice whose labels have not arrived yet is not dropped: it is
// painted into a stroke of its own (the pixels it set, and to what), shown by queuedLabels(z), and
// painted into the slice's labels when the owner says they are here (arrived(z)).

export const TOOLS = {
  brush: 'Brush',
  threshold: 'HU-threshold brush',
  eraser: 'Eraser',
  length: 'Measure',
};

export const MAX_RADIUS = 60; // brush radius in label-map pixels

const UNDO_LIMIT = 100;

export class LabelEditor {
  constructor(viewer, { labelsFor, onEdited, label, enabled = true, queueWhileLoading = false }) {
    this.viewer = viewer;
    this.labelsFor = labelsFor;
    this.onEdited = onEdited;
    this.enabled = enabled;
    this.queueWhileLoading = queueWhileLoading;
    this.queued = new Map(); // z -> strokes painted before the slice's labels arrived: [{labels, touched}]
    this.tool = 'brush';
    this.label = label; // the value painted: one of the label table's patterns
    this.radius = 6;
    this.huRange = { low: -800, high: -200 };
    this.undoStack = [];
    this.redoStack = [];
    this.stroke = null;
    this.listeners = new Set();
    const element = viewer.element;
    element.addEventListener('pointerdown', (event) => this.pointerDown(event));
    element.addEventListener('pointermove', (event) => this.pointerMove(event));
    element.addEventListener('pointerup', (event) => this.pointerUp(event));
    element.addEventListener('pointercancel', (event) => this.pointerUp(event));
    element.addEventListener('pointerleave', () => viewer.setCursor(null));
  }

  on(listener) {
    this.listeners.add(listener);
  }

  changed() {
    for (const listener of this.listeners) listener(this);
  }

  set(options) {
    Object.assign(this, options);
    this.radius = Math.max(1, Math.min(MAX_RADIUS, Math.round(this.radius)));
    this.viewer.setMeasuring(this.tool === 'length');
    this.changed();
  }

  get painting() {
    return this.enabled && this.tool !== 'length';
  }

  pointerDown(event) {
    if (!this.painting || event.button !== 0 || event.shiftKey || event.ctrlKey || event.metaKey) return;
    const z = this.viewer.z;
    let labels = this.labelsFor(z);
    let queued = null;
    if (!labels) {
      if (!this.queueWhileLoading) return; // this slice's mask has not arrived yet
      const size = this.viewer.rows * this.viewer.columns;
      queued = { labels: new Uint8Array(size), touched: new Uint8Array(size) };
      this.queued.set(z, [...(this.queued.get(z) ?? []), queued]);
      labels = queued.labels;
    }
    event.preventDefault();
    event.stopPropagation();
    this.viewer.element.setPointerCapture?.(event.pointerId);
    this.stroke = { z, labels, queued, before: queued ? null : labels.slice(), last: this.viewer.eventToPixel(event) };
    this.dab(this.stroke, this.stroke.last);
    this.viewer.drawOverlay();
  }

  pointerMove(event) {
    const box = this.viewer.element.getBoundingClientRect();
    const cursor = this.painting ? { x: event.clientX - box.left, y: event.clientY - box.top, radius: this.radius } : null;
    const stroke = this.stroke;
    if (stroke) {
      const point = this.viewer.eventToPixel(event);
      if (point && stroke.last) {
        // Dabs along the segment, half a radius apart, so fast strokes leave no gaps.
        const distance = Math.hypot(point.column - stroke.last.column, point.row - stroke.last.row);
        const steps = Math.max(1, Math.ceil(distance / Math.max(1, this.radius / 2)));
        for (let s = 1; s <= steps; s++) {
          const f = s / steps;
          this.dab(stroke, {
            column: stroke.last.column + f * (point.column - stroke.last.column),
            row: stroke.last.row + f * (point.row - stroke.last.row),
          });
        }
      }
      stroke.last = point;
    }
    this.viewer.setCursor(cursor);
  }

  pointerUp(event) {
    if (!this.stroke) return;
    this.viewer.element.releasePointerCapture?.(event.pointerId);
    const { z, labels, before, queued } = this.stroke;
    this.stroke = null;
    if (queued) {
      if (queued.touched.includes(1)) {
        this.record({ z, queued });
        this.arrived(z); // the labels may have come during the stroke
      } else {
        this.unqueue(z, queued);
      }
      this.changed();
      return;
    }
    if (sameBytes(before, labels)) return;
    this.record({ z, before, after: labels.slice() });
    this.onEdited(z);
    this.changed();
  }

  record(entry) {
    // entry: {z, before, after} (whole label maps), or {z, queued} for a stroke waiting for its slice.
    this.undoStack.push(entry);
    if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
    this.redoStack = [];
  }

  dab(stroke, point) {
    if (!point) return;
    const { columns, rows } = this.viewer;
    const { labels, queued } = stroke;
    const value = this.tool === 'eraser' ? 0 : this.label;
    const r = this.radius;
    const cx = Math.floor(point.column);
    const cy = Math.floor(point.row);
    const threshold = this.tool === 'threshold';
    for (let y = Math.max(0, cy - r); y <= Math.min(rows - 1, cy + r); y++) {
      for (let x = Math.max(0, cx - r); x <= Math.min(columns - 1, cx + r); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 > r * r) continue;
        const index = y * columns + x;
        if (threshold) {
          const hu = this.viewer.huAt(index);
          if (hu < this.huRange.low || hu > this.huRange.high) continue;
        }
        labels[index] = value;
        if (queued) queued.touched[index] = 1;
      }
    }
  }

  // --- strokes waiting for their slice --------------------------------------------------------------

  queuedSlices() {
    return [...this.queued.keys()];
  }

  queuedLabels(z) {
    // What the strokes waiting for slice z paint, to show them meanwhile; null when none wait.
    const strokes = this.queued.get(z);
    if (!strokes) return null;
    if (strokes.length === 1) return strokes[0].labels;
    const shown = new Uint8Array(strokes[0].labels.length);
    for (const stroke of strokes) paintInto(shown, stroke);
    return shown;
  }

  arrived(z) {
    // Slice z's labels are here: its waiting strokes are painted in, in order, each one undo step.
    const strokes = this.queued.get(z);
    const labels = this.labelsFor(z);
    if (!strokes || !labels || this.stroke?.z === z) return;
    this.queued.delete(z);
    for (const stroke of strokes) {
      const before = labels.slice();
      paintInto(labels, stroke);
      const entry = this.undoStack.find((candidate) => candidate.queued === stroke);
      if (entry) Object.assign(entry, { queued: null, before, after: labels.slice() });
    }
    this.viewer.drawOverlay();
    this.onEdited(z);
    this.changed();
  }

  unqueue(z, stroke) {
    const left = (this.queued.get(z) ?? []).filter((candidate) => candidate !== stroke);
    if (left.length) this.queued.set(z, left);
    else this.queued.delete(z);
  }

  async undo() {
    const entry = this.undoStack.pop();
    if (!entry) return;
    this.redoStack.push(entry);
    if (entry.queued) {
      this.unqueue(entry.z, entry.queued);
      this.viewer.drawOverlay();
      this.changed();
      return;
    }
    await this.restore(entry.z, entry.before);
  }

  async redo() {
    const entry = this.redoStack.pop();
    if (!entry) return;
    this.undoStack.push(entry);
    if (entry.queued) {
      // A stroke undone while it waited: it waits again, or is painted in if the labels came meanwhile.
      this.queued.set(entry.z, [...(this.queued.get(entry.z) ?? []), entry.queued]);
      this.arrived(entry.z);
      this.viewer.drawOverlay();
      this.changed();
      return;
    }
    await this.restore(entry.z, entry.after);
  }

  async restore(z, bytes) {
    if (this.viewer.z !== z) await this.viewer.goTo(z);
    const labels = this.labelsFor(z);
    if (!labels) return;
    labels.set(bytes);
    this.viewer.drawOverlay();
    this.onEdited(z);
    this.changed();
  }
}

function paintInto(labels, stroke) {
  // A waiting stroke's pixels, onto labels.
  const { labels: values, touched } = stroke;
  for (let i = 0; i < touched.length; i++) if (touched[i]) labels[i] = values[i];
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
