// Reader tools: the brush / eraser / HU-threshold editor on the reading's masks, the length tool, and
// the keyboard. The brush (tool, pattern, size) is remembered across reloads of the page.
import { LabelEditor, MAX_RADIUS, TOOLS } from '../lib/editor.js';
import { pageMemory, storedBrush } from '../lib/page-memory.js';
import { bindPageKeys } from '../lib/shortcuts.js';

export function readerShortcuts(patterns) {
  return [
    ['Wheel, ↑ ↓, PgUp PgDn, Home End', 'Previous / next slice (10 with PgUp/PgDn)'],
    ['B', 'Brush'],
    ['T', 'HU-threshold brush (paints only pixels inside the HU range)'],
    ['E', 'Eraser'],
    ['D', 'Measure a distance in mm: drag from one point to the other (not saved)'],
    [patterns.map((label) => label.value).join(' / '), `Paint ${patterns.map((label) => label.name.toLowerCase()).join(' / ')}`],
    ['[ / ]', 'Smaller / larger brush'],
    ['Ctrl+Z', 'Undo the last stroke'],
    ['Ctrl+Y, Ctrl+Shift+Z', 'Redo'],
    ['L / M', 'Lung window (W1500 L-600) / mediastinal window (W350 L40)'],
    ['C', 'Type a custom window (width, level; Enter applies)'],
    ['Shift+drag', 'Custom window; right drag or Ctrl+wheel zooms, middle drag pans, R resets the view'],
    ['O', 'Show / hide the mask overlay'],
    ['V', 'Mark / unmark this slice reviewed (looked at, nothing to paint): it counts as done'],
    ['Ctrl+Enter', 'Submit the reading'],
    ['?', 'This help'],
  ];
}

export function createEditor(viewer, masks, { patterns, submitted }) {
  const editor = new LabelEditor(viewer, {
    labelsFor: (z) => masks.slices.get(z)?.labels ?? null,
    onEdited: (z) => masks.edited(z),
    label: patterns[0].value,
    enabled: !submitted,
    queueWhileLoading: true, // a stroke while the slice's mask loads is painted in once it is here
  });
  const memory = pageMemory('brush');
  const stored = storedBrush(memory.load(), { tools: Object.keys(TOOLS), labels: patterns.map((label) => label.value), maxRadius: MAX_RADIUS });
  if (stored) editor.set(stored);
  editor.on(() => memory.save({ tool: editor.tool, label: editor.label, radius: editor.radius }));
  return editor;
}

export function bindReaderKeys({ viewer, editor, patterns, toggleOverlay, showHelp, submit, toggleReviewed, isSubmitted }) {
  const painting = {
    b: () => editor.set({ tool: 'brush' }),
    t: () => editor.set({ tool: 'threshold' }),
    e: () => editor.set({ tool: 'eraser' }),
    d: () => editor.set({ tool: 'length' }),
    '[': () => editor.set({ radius: editor.radius - 1 }),
    ']': () => editor.set({ radius: editor.radius + 1 }),
    v: toggleReviewed,
  };
  for (const label of patterns) painting[String(label.value)] = () => editor.set({ label: label.value });
  const viewing = { o: toggleOverlay, '?': showHelp };
  bindPageKeys(viewer, {
    plain: (event) => {
      const key = event.key.toLowerCase();
      return viewing[key] ?? (isSubmitted() ? null : painting[key]) ?? null;
    },
    withCtrl: (event) => {
      const key = event.key.toLowerCase();
      if (event.key === 'Enter') return submit;
      if (isSubmitted()) return null;
      if (key === 'z' && !event.shiftKey) return () => editor.undo();
      if (key === 'y' || key === 'z') return () => editor.redo();
      return null;
    },
  });
}
