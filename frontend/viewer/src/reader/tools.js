// Reader tools: the brush / eraser / HU-threshold editor on the reading's masks, and the keyboard.
import { LabelEditor } from '../lib/editor.js';
import { bindPageKeys } from '../lib/shortcuts.js';

export function readerShortcuts(patterns) {
  return [
    ['Wheel, ↑ ↓, PgUp PgDn, Home End', 'Previous / next slice (10 with PgUp/PgDn)'],
    ['B', 'Brush'],
    ['T', 'HU-threshold brush (paints only pixels inside the HU range)'],
    ['E', 'Eraser'],
    [patterns.map((label) => label.value).join(' / '), `Paint ${patterns.map((label) => label.name.toLowerCase()).join(' / ')}`],
    ['[ / ]', 'Smaller / larger brush'],
    ['Ctrl+Z', 'Undo the last stroke'],
    ['Ctrl+Y, Ctrl+Shift+Z', 'Redo'],
    ['L / M', 'Lung window (W1500 L-600) / mediastinal window (W350 L40)'],
    ['C', 'Type a custom window (width, level; Enter applies)'],
    ['Shift+drag', 'Custom window; right drag zooms, middle drag pans, R resets the view'],
    ['O', 'Show / hide the mask overlay'],
    ['V', 'Mark / unmark this slice reviewed (looked at, nothing to paint): it counts as done'],
    ['Ctrl+Enter', 'Submit the reading'],
    ['?', 'This help'],
  ];
}

export function createEditor(viewer, masks, { patterns, submitted }) {
  return new LabelEditor(viewer, {
    labelsFor: (z) => masks.slices.get(z)?.labels ?? null,
    onEdited: (z) => masks.edited(z),
    label: patterns[0].value,
    enabled: !submitted,
    queueWhileLoading: true, // a stroke while the slice's mask loads is painted in once it is here
  });
}

export function bindReaderKeys({ viewer, editor, patterns, toggleOverlay, showHelp, submit, toggleReviewed, isSubmitted }) {
  const painting = {
    b: () => editor.set({ tool: 'brush' }),
    t: () => editor.set({ tool: 'threshold' }),
    e: () => editor.set({ tool: 'eraser' }),
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
