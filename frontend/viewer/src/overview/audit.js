// A series' audit trail (GET audit/?series={id}, admins), newest first: when, who, what in words, on which
// object, and the details that matter for each action (the reason of a reopening, the mask versions of a
// save). Autosave writes many mask saves; a switch hides them to leave the workflow's steps.
import { el, getJson } from '../lib/api.js';
import { dateTime } from '../models/format.js';
import { roleName } from './names.js';

const ACTIONS = {
  assign: 'Assigned a reader',
  ai_preannotation: 'Switched AI pre-annotation',
  blind_to_priors: 'Switched blinding to priors',
  mask_save: 'Saved a mask',
  submit: 'Submitted the reading',
  reopen: 'Reopened the reading',
  decide: 'Decided a slice',
  finalize: 'Finalised the consensus',
};

const slice = (z) => `slice ${Number(z) + 1}`;

const switched = (detail) => `switched ${detail.enabled ? 'on' : 'off'}`;

const DETAILS = {
  assign: (detail) => `${roleName(detail.role)}: ${detail.reader}`,
  ai_preannotation: switched,
  blind_to_priors: switched,
  mask_save: (detail, event) => `${slice(detail.z_index)}: version ${event.before_version} → ${event.after_version}`,
  reopen: (detail) => `Reason: ${detail.reason}`,
  decide: (detail) => `${slice(detail.z_index)}: ${String(detail.decision).replaceAll('_', ' ')}`,
};

export function actionName(action) {
  return ACTIONS[action] || action.replaceAll('_', ' ');
}

function details(event) {
  const known = DETAILS[event.action];
  if (known) return known(event.detail || {}, event);
  return Object.entries(event.detail || {}).map(([key, value]) => `${key.replaceAll('_', ' ')}: ${value}`).join('; ');
}

function objectName(event, readingsById) {
  if (event.object_type === 'reading') {
    const reading = readingsById.get(Number(event.object_id));
    return reading ? `${roleName(reading.role)}'s reading #${event.object_id}` : `Reading #${event.object_id}`;
  }
  if (event.object_type === 'review') return 'The review';
  if (event.object_type === 'consensusdecision') return `Decision #${event.object_id}`;
  return `${event.object_type} #${event.object_id}`;
}

function eventRow(event, readingsById) {
  return el('tr', { 'data-action': event.action, 'data-testid': 'audit-event' },
    el('td', {}, el('time', { datetime: event.at, text: dateTime(event.at) })),
    el('td', { text: event.user || 'system' }),
    el('th', { scope: 'row', text: actionName(event.action) }),
    el('td', { text: objectName(event, readingsById) }),
    el('td', { 'data-testid': 'audit-detail', text: details(event) }));
}

function eventsTable(series, events, readingsById) {
  const saves = events.filter((event) => event.action === 'mask_save').length;
  const hideSaves = el('input', { type: 'checkbox', id: `audit-hide-saves-${series.id}`, 'data-testid': 'audit-hide-saves' });
  const table = el('table', { class: 'audit-events', 'data-testid': 'audit-events' },
    el('caption', { text: `Audit trail of series #${series.id}: ${events.length} event(s), newest first` }),
    el('thead', {}, el('tr', {}, ['When', 'Who', 'Action', 'Object', 'Details'].map((text) => el('th', { scope: 'col', text })))),
    el('tbody', {}, [...events].reverse().map((event) => eventRow(event, readingsById))));
  hideSaves.addEventListener('change', () => table.classList.toggle('hide-saves', hideSaves.checked));
  const hide = el('label', { class: 'check', for: hideSaves.id }, hideSaves, `Hide the ${saves} mask save(s)`);
  return saves ? [hide, table] : [table];
}

export async function auditTrail(series, container) {
  // Fills `container` with the series' events (or says why it cannot).
  const readingsById = new Map(Object.values(series.readings).map((reading) => [reading.id, reading]));
  container.replaceChildren(el('p', { role: 'status', text: `Loading the audit trail of series #${series.id}…` }));
  try {
    const events = await getJson(`audit/?series=${series.id}`);
    container.replaceChildren(...(events.length ? eventsTable(series, events, readingsById)
      : [el('p', { role: 'status', text: `Nothing recorded for series #${series.id} yet.` })]));
  } catch (error) {
    container.replaceChildren(el('p', { class: 'error', role: 'alert', text: `The audit trail could not be loaded: ${error.message}` }));
  }
  container.dataset.loaded = '1';
}
