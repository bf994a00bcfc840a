// Keyboard dispatch shared by the viewer pages: keys typed into inputs and keys pressed while a dialog
// is open are left alone; the viewer takes slice navigation, windows and view reset; the rest goes to
// the page's own table of shortcuts.
import { WINDOWS } from './windowing.js';
import { isTyping } from './ui.js';

const STEPS = { ArrowUp: -1, ArrowLeft: -1, ArrowDown: 1, ArrowRight: 1, PageUp: -10, PageDown: 10 };

export function viewerKey(viewer, event) {
  // Slices (arrows, PgUp/PgDn, Home/End), windows (L, M, C) and R to reset the view; true if taken.
  const key = event.key;
  if (key in STEPS || key === 'Home' || key === 'End') {
    event.preventDefault();
    if (key in STEPS) viewer.scroll(STEPS[key]);
    else viewer.goTo(key === 'Home' ? 0 : viewer.sliceCount - 1);
    return true;
  }
  const lower = key.toLowerCase();
  if (lower === 'l' || lower === 'm') {
    viewer.setWindow(lower === 'l' ? WINDOWS.lung : WINDOWS.mediastinal);
    return true;
  }
  if (lower === 'c' && viewer.focusCustomWindow) {
    event.preventDefault();
    viewer.focusCustomWindow();
    return true;
  }
  if (key === 'r' && !event.shiftKey) {
    viewer.resetView();
    return true;
  }
  return false;
}

function leftAlone(event) {
  if (isTyping(event) || document.querySelector('dialog[open]')) return true;
  // Arrows on the slice slider move the slider itself.
  return event.target instanceof HTMLInputElement && event.target.type === 'range' && event.key.startsWith('Arrow');
}

export function bindPageKeys(viewer, { plain, withCtrl = () => null }) {
  // plain(event) and withCtrl(event) return the action of a key, or null when the page has none.
  document.addEventListener('keydown', (event) => {
    if (leftAlone(event)) return;
    let action;
    if (event.ctrlKey || event.metaKey) {
      action = event.altKey ? null : withCtrl(event);
    } else if (!event.altKey && !viewerKey(viewer, event)) {
      action = plain(event);
    }
    if (!action) return;
    event.preventDefault();
    action();
  });
}
