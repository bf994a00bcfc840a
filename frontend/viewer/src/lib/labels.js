// The label table (value, key, name and colour of every label in every kind of label map), as the
// server serves it from GET /api/v1/labels/: the viewer holds no label constants of its own.
import { el, getJson } from './api.js';

let table = null;

export function loadLabelTable() {
  // {patterns: [...], disagreement: [...], lung: [...]}, each [{value, key, name, colour: '#rrggbb'}]
  table ??= getJson('labels/');
  return table;
}

export function rgb(colour) {
  const hex = colour.replace('#', '');
  return [0, 2, 4].map((start) => parseInt(hex.slice(start, start + 2), 16));
}

export function swatch(label) {
  return el('span', { class: 'swatch', style: `background: ${label.colour}` });
}

export function legendEntries(labels) {
  return labels.map((label) => el('span', {}, swatch(label), label.name));
}
