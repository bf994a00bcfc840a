// CT windows: the lung and mediastinal presets, a custom window typed in, and the name of the window
// a VOI range (e.g. from Shift+drag) amounts to.
import { el } from './api.js';

export const WINDOWS = {
  lung: { width: 1500, level: -600, label: 'Lung' },
  mediastinal: { width: 350, level: 40, label: 'Mediastinal' },
};

export function windowOfRange(range) {
  const preset = Object.values(WINDOWS).find((w) =>
    Math.abs(w.level - w.width / 2 - range.lower) < 1 && Math.abs(w.level + w.width / 2 - range.upper) < 1);
  if (preset) return { ...preset };
  return { width: Math.round(range.upper - range.lower), level: Math.round((range.upper + range.lower) / 2), label: 'Custom' };
}

export function windowControls(viewer) {
  // Lung and mediastinal presets, and a custom window typed in (C focuses it; Enter applies).
  const width = el('input', { type: 'number', min: '1', step: '10', class: 'num', id: `${viewer.id}-ww`, 'data-testid': 'window-width', value: String(viewer.window.width) });
  const level = el('input', { type: 'number', step: '10', class: 'num', id: `${viewer.id}-wl`, 'data-testid': 'window-level', value: String(viewer.window.level) });
  const apply = () => {
    if (Number(width.value) > 0) viewer.setWindow({ width: Number(width.value), level: Number(level.value), label: 'Custom' });
  };
  for (const input of [width, level]) {
    input.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      apply();
      viewer.element.focus();
    });
  }
  viewer.on(() => {
    if (document.activeElement === width || document.activeElement === level) return;
    width.value = String(viewer.window.width);
    level.value = String(viewer.window.level);
  });
  viewer.focusCustomWindow = () => width.focus();
  const preset = (name, key) => el('button', { type: 'button', title: `${WINDOWS[name].label} window (${key})`, onclick: () => viewer.setWindow(WINDOWS[name]) },
    WINDOWS[name].label, el('kbd', { text: key }));
  return el('fieldset', {}, el('legend', { text: 'Window' }), preset('lung', 'L'), preset('mediastinal', 'M'),
    el('div', { class: 'hu' }, el('label', { for: width.id }, 'W ', el('kbd', { text: 'C' })), width, el('label', { for: level.id, text: 'L' }), level,
      el('button', { type: 'button', onclick: apply }, 'Set')));
}
