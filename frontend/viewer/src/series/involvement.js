// The visit's involvement figures (GET visits/{id}/involvement/) per source, in the series page's side
// panel: what the trend showed for this visit, beside its images.
import { el, getJson } from '../lib/api.js';
import { swatch } from '../lib/labels.js';
import { sourceStyle } from '../patient/charts.js';

export function involvementPanel({ visitId, patterns }) {
  const section = el('section', { class: 'visit-involvement', 'aria-labelledby': 'involvement-title', 'data-testid': 'visit-involvement' },
    el('h2', { id: 'involvement-title', text: 'Involvement of this visit' }), el('p', { text: 'Loading…' }));
  const percent = (value) => (typeof value === 'number' ? value.toFixed(1) : '–');
  getJson(`visits/${visitId}/involvement/`).then((rows) => {
    const models = rows.map((row) => row.source).filter((source) => source.startsWith('model:'));
    // Patterns by their swatch (named in the tooltip and to screen readers): the panel is narrow.
    const headings = [el('th', { scope: 'col', text: 'Source' }), el('th', { scope: 'col', text: 'Total' }),
      ...patterns.map((label) => el('th', { scope: 'col', title: label.name, 'aria-label': label.name }, swatch(label)))];
    const line = (row) => el('tr', { 'data-source': row.source, title: `lung method ${row.lung_method}; lung ${row.lung_volume_ml.toFixed(0)} mL` },
      el('th', { scope: 'row', text: sourceStyle(row.source, models).name }), el('td', { text: percent(row.total_pct) }),
      patterns.map((label) => el('td', { text: percent(row[`${label.key}_pct`]) })));
    section.replaceChildren(section.firstChild, rows.length
      ? el('table', { class: 'lung-figures' }, el('caption', { class: 'note', text: '% of lung volume' }),
        el('thead', {}, el('tr', {}, headings)), el('tbody', {}, rows.map(line)))
      : el('p', { text: 'No figures yet (a finalised consensus or a model run gives them).' }));
  }).catch((error) => {
    section.replaceChildren(section.firstChild, el('p', { class: 'error', text: `Could not load the involvement: ${error.message}` }));
  });
  return section;
}
