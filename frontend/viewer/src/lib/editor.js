// The painting tools on a SliceViewer: brush, eraser and HU-threshold brush on one slice's label map, with
// undo/redo of whole strokes. The editor knows nothing of the server; `onEdited(z)` tells the owner.

export const TOOLS = {
  brush: 'Brush',
  threshold: 'HU-threshold brush',
  eraser: 'Eraser',
};

const UNDO_LIMIT = 100;

export class LabelEditor {
  constructor(viewer, { labelsFor, onEdited, label, enabled = true }) {
    this.viewer = viewer;
    this.labelsFor = labelsFor;
    this.onEdited = onEdited;
    this.enabled = enabled;
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
    this.radius = Math.max(1, Math.min(60, Math.round(this.radius)));
    this.changed();
  }

  pointerDown(event) {
    if (!this.enabled || event.button !== 0 || event.shiftKey || event.ctrlKey || event.metaKey) return;
    const z = this.viewer.z;
    const labels = this.labelsFor(z);
    if (!labels) return; // this slice's mask has not arrived yet
    event.preventDefault();
    event.stopPropagation();
    this.viewer.element.setPointerCapture?.(event.pointerId);
    this.stroke = { z, before: labels.slice(), last: this.viewer.eventToPixel(event) };
    this.dab(labels, this.stroke.last);
    this.viewer.drawOverlay();
  }

  pointerMove(event) {
    const box = this.viewer.element.getBoundingClientRect();
    const cursor = this.enabled ? { x: event.clientX - box.left, y: event.clientY - box.top, radius: this.radius } : null;
    if (this.stroke) {
      const labels = this.labelsFor(this.stroke.z);
      const point = this.viewer.eventToPixel(event);
      if (labels && point && this.stroke.last) {
        // Dabs along the segment, half a radius apart, so fast strokes leave no gaps.
        const distance = Math.hypot(point.column - this.stroke.last.column, point.row - this.stroke.last.row);
        const steps = Math.max(1, Math.ceil(distance / Math.max(1, this.radius / 2)));
        for (let s = 1; s <= steps; s++) {
          const f = s / steps;
          this.dab(labels, {
            column: this.stroke.last.column + f * (point.column - this.stroke.last.column),
            row: this.stroke.last.row + f * (point.row - this.stroke.last.row),
          });
        }
      }
      this.stroke.last = point;
    }
    this.viewer.setCursor(cursor);
  }

  pointerUp(event) {
    if (!this.stroke) return;
    this.viewer.element.releasePointerCapture?.(event.pointerId);
    const { z, before } = this.stroke;
    this.stroke = null;
    const labels = this.labelsFor(z);
    if (!labels || sameBytes(before, labels)) return;
    this.undoStack.push({ z, before, after: labels.slice() });
    if (this.undoStack.length > UNDO_LIMIT) this.undoStack.shift();
    this.redoStack = [];
    this.onEdited(z);
    this.changed();
  }

  dab(labels, point) {
    if (!point) return;
    const { columns, rows } = this.viewer;
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
      }
    }
  }

  async undo() {
    const entry = this.undoStack.pop();
    if (!entry) return;
    this.redoStack.push(entry);
    await this.restore(entry.z, entry.before);
  }

  async redo() {
    const entry = this.redoStack.pop();
    if (!entry) return;
    this.undoStack.push(entry);
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

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
