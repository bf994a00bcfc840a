// The overview table: one body per series, its row (patient, visit, series, the three readings, the
// consensus, AI pre-annotation) and below it the series' audit trail, shown on demand.
import { el } from '../lib/api.js';
import { auditTrail } from './audit.js';
import { consensusCell, preannotationCell, readingCell } from './cells.js';
import { ROLES, seriesPhase } from './data.js';
import { roleName } from './names.js';

const COLUMNS = ['Patient', 'Visit', 'Series', ...ROLES.map(roleName), 'Consensus', 'AI pre-annotation', 'Audit trail'];

function auditToggle(series, { openAudits }) {
  const panel = el('div', { class: 'audit-panel', id: `audit-${series.id}`, 'data-testid': 'audit-trail' });
  const row = el('tr', { class: 'audit-row', hidden: true }, el('td', { colspan: String(COLUMNS.length) }, panel));
  const button = el('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': panel.id,
    'data-testid': `audit-${series.id}`, title: `Audit trail of series #${series.id}`, text: 'Audit trail' });
  const show = (visible) => {
    row.hidden = !visible;
    button.setAttribute('aria-expanded', String(visible));
    if (visible) {
      openAudits.add(series.id);
      return auditTrail(series, panel);
    }
    openAudits.delete(series.id);
    return null;
  };
  button.addEventListener('click', () => show(row.hidden));
  // Kept open across a refresh (after a reopening, its event shows at the top).
  const loaded = openAudits.has(series.id) ? show(true) : null;
  return { button, row, loaded };
}

function seriesBody(series, options) {
  const phase = seriesPhase(series);
  const audit = auditToggle(series, options);
  const body = el('tbody', { 'data-series': String(series.id), 'data-phase': phase, 'data-testid': 'overview-series' },
    el('tr', { class: 'series-row' },
      el('th', { scope: 'row', text: series.patient }),
      el('td', {}, series.visit_label ? el('span', { class: 'visit-label', text: series.visit_label }) : null,
        el('time', { datetime: series.visit_date, text: series.visit_date })),
      el('td', {}, el('a', { href: `/series/${series.id}/`, text: `#${series.id}` }),
        el('span', { class: 'slices', 'data-testid': 'slice-count', text: `${series.slice_count} slices` })),
      ROLES.map((role) => readingCell(series, role, options)),
      consensusCell(series, phase), preannotationCell(series),
      el('td', {}, audit.button)),
    audit.row);
  return { body, loaded: audit.loaded };
}

export function overviewTable(seriesList, options) {
  // -> { table, loaded }: `loaded` settles once the audit trails kept open are drawn again.
  const bodies = seriesList.map((series) => seriesBody(series, options));
  const table = el('table', { class: 'overview', id: 'overview', 'data-testid': 'overview-table' },
    el('caption', { class: 'visually-hidden', text: 'Every assigned series with its three readings, its consensus and its audit trail' }),
    el('thead', {}, el('tr', {}, COLUMNS.map((text) => el('th', { scope: 'col', text })))),
    bodies.map(({ body }) => body));
  return { table, loaded: Promise.all(bodies.map(({ loaded }) => loaded)) };
}
