// What a page remembers across a reload (the slice on screen, the brush), in localStorage under the
// page's path: each reading has its own. What is read back is checked: a value from an older version of
// the viewer, or one edited by hand, is ignored rather than trusted.

export function pageMemory(name, storage = globalThis.localStorage) {
  const key = `ild:${globalThis.location?.pathname ?? ''}:${name}`;
  return {
    load() {
      try {
        return JSON.parse(storage.getItem(key));
      } catch {
        return null; // corrupt, or storage refused (private mode)
      }
    },
    save(value) {
      try {
        storage.setItem(key, JSON.stringify(value));
      } catch {
        // full or refused: remembering is a convenience, never an error
      }
    },
  };
}

export function storedSlice(value, sliceCount) {
  // A remembered slice index, clamped into 0..sliceCount-1; null unless it is a finite number.
  if (typeof value !== 'number' || !Number.isFinite(value) || sliceCount < 1) return null;
  return Math.max(0, Math.min(sliceCount - 1, Math.round(value)));
}

export function storedBrush(value, { tools, labels, maxRadius }) {
  // The remembered {tool, label, radius}, each kept only when valid now (a pattern may have left the
  // label table); null when nothing is usable.
  if (!value || typeof value !== 'object') return null;
  const brush = {};
  if (tools.includes(value.tool)) brush.tool = value.tool;
  if (labels.includes(value.label)) brush.label = value.label;
  if (Number.isFinite(value.radius) && value.radius >= 1) brush.radius = Math.min(maxRadius, Math.round(value.radius));
  return Object.keys(brush).length ? brush : null;
}
