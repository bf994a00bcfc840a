// Reopening a submitted reader reading (POST readings/{id}/reopen/, admins): a button that opens a small
// inline form asking why; the reason is required and goes into the audit trail with the reopening.
import { el, postJson } from '../lib/api.js';
import { readingName, stateName } from './names.js';

export function reopenControl(reading, onReopened) {
  const what = readingName(reading);
  const reason = el('input', { type: 'text', name: 'reason', id: `reopen-reason-${reading.id}`, required: true,
    maxlength: '2000', autocomplete: 'off', 'data-testid': 'reopen-reason' });
  const status = el('p', { role: 'status', class: 'form-status' });
  const open = el('button', { type: 'button', 'data-testid': `reopen-${reading.id}`, 'aria-expanded': 'false',
    'aria-controls': `reopen-form-${reading.id}`, title: `Reopen ${what}`, text: 'Reopen…' });
  const cancel = el('button', { type: 'button', text: 'Cancel' });
  const form = el('form', { class: 'reopen-form', id: `reopen-form-${reading.id}`, hidden: true, 'data-testid': 'reopen-form' },
    el('label', { for: reason.id }, `Why reopen ${what}?`), reason,
    el('div', { class: 'buttons' },
      el('button', { type: 'submit', class: 'primary', 'data-testid': 'reopen-submit', text: 'Reopen reading' }), cancel),
    status);

  const show = (visible) => {
    form.hidden = !visible;
    open.setAttribute('aria-expanded', String(visible));
    (visible ? reason : open).focus();
  };
  open.addEventListener('click', () => show(form.hidden));
  cancel.addEventListener('click', () => show(false));
  reason.addEventListener('input', () => reason.setCustomValidity(''));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    if (!text) {
      // Spaces alone pass `required`; the server refuses them too.
      reason.setCustomValidity('Give the reason for reopening the reading.');
      reason.reportValidity();
      return;
    }
    status.textContent = 'Reopening…';
    let reopened;
    try {
      reopened = await postJson(`readings/${reading.id}/reopen/`, { reason: text });
    } catch (error) {
      status.textContent = `Not reopened: ${error.message}`;
      return;
    }
    await onReopened(reading, `${what} of series #${reading.series_id} reopened: now ${stateName(reopened.state).toLowerCase()}.`);
  });
  return el('div', { class: 'reopen' }, open, form);
}
