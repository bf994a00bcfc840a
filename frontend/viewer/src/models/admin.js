// What admins do on the models page: activate or deactivate a version, with a reason that goes into its
// audit trail, and start a training run (a job on the GPU queue, followed on the jobs page).
import { el, postJson } from '../lib/api.js';

export function activationControl(version, onChanged) {
  // A button that opens a small form asking why; the change is posted once the reason is given.
  const activate = !version.is_active;
  const verb = activate ? 'Activate' : 'Deactivate';
  const status = el('span', { role: 'status', class: 'form-status' });
  const reason = el('input', { type: 'text', name: 'reason', required: true, maxlength: '500', size: '40',
    id: `reason-${version.id}`, 'data-testid': 'activation-reason' });
  const form = el('form', { class: 'inline-form activation-form', hidden: true, 'data-testid': 'activation-form' },
    el('label', { for: reason.id }, `Why ${verb.toLowerCase()} model ${version.id}?`, reason),
    el('button', { type: 'submit', class: 'primary', 'data-testid': 'activation-submit', text: `${verb} model ${version.id}` }),
    el('button', { type: 'button', text: 'Cancel', onclick: () => close() }));
  const open = el('button', { type: 'button', 'data-testid': activate ? 'activate' : 'deactivate', 'aria-expanded': 'false',
    text: `${verb}…`, onclick: () => {
      form.hidden = false;
      open.setAttribute('aria-expanded', 'true');
      reason.focus();
    } });
  function close() {
    form.hidden = true;
    open.setAttribute('aria-expanded', 'false');
    open.focus();
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    if (!text) {
      reason.setCustomValidity('Give a reason.');
      reason.reportValidity();
      return;
    }
    status.textContent = `${activate ? 'Activating' : 'Deactivating'}…`;
    try {
      await postJson(`models/${version.id}/activation/`, { active: activate, reason: text });
      await onChanged(`Model ${version.id} ${activate ? 'activated' : 'deactivated'}.`);
    } catch (error) {
      status.textContent = `Not ${activate ? 'activated' : 'deactivated'}: ${error.message}`;
    }
  });
  reason.addEventListener('input', () => reason.setCustomValidity(''));
  return el('div', { class: 'activation' }, open, form, status);
}

function field(label, control) {
  return el('label', {}, label, control);
}

export function trainingForm() {
  const status = el('p', { role: 'status', 'data-testid': 'training-status' });
  const select = (name, options) => el('select', { name }, options.map(([value, text]) => el('option', { value, text })));
  const number = (name, value, min, max) => el('input', { type: 'number', name, value: String(value), min, max, step: '1', required: true, class: 'num' });
  const task = select('task', [['merged', 'merged (abnormal)'], ['reticulation', 'reticulation'], ['ggo', 'GGO']]);
  // The paper's GGO model starts from the active reticulation model (transfer learning).
  const transfer = el('input', { type: 'checkbox', name: 'transfer', checked: true });
  const transferField = el('label', { class: 'check', hidden: true }, transfer, 'start from the active reticulation model');
  task.addEventListener('change', () => { transferField.hidden = task.value !== 'ggo'; });
  const form = el('form', { class: 'inline-form', 'data-testid': 'training-form', 'aria-labelledby': 'training-title' },
    field('Task', task), transferField,
    field('Training source', select('source', [['phantoms', 'phantoms (demo weights)'], ['consensus', 'consensus masks']])),
    field('Folds', number('folds', 5, '2', '10')), field('Epochs', number('epochs', 300, '1', '300')),
    field('Seed', number('seed', 0, '0', undefined)),
    el('button', { type: 'submit', class: 'primary', 'data-testid': 'training-submit', text: 'Start training' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const body = { task: values.task, source: values.source, variant: 'table2', transfer: values.task === 'ggo' && transfer.checked,
      folds: Number(values.folds), epochs: Number(values.epochs), seed: Number(values.seed) };
    status.textContent = 'Starting…';
    try {
      const job = await postJson('models/training/', body);
      status.replaceChildren(`Training job #${job.id} is ${job.state}; `,
        el('a', { href: '/jobs/', 'data-testid': 'training-job-link' }, 'follow it on the Jobs page'),
        '. The trained version appears here, inactive, when it is done.');
    } catch (error) {
      status.textContent = `Training not started: ${error.message}`;
    }
  });
  return el('section', { class: 'training', 'aria-labelledby': 'training-title' },
    el('h2', { id: 'training-title', text: 'Train a model' }),
    el('p', { class: 'note', text: 'A cross-validated run with the paper\'s protocol, registered as an inactive version; trained on phantoms it is demo weights, never for patients.' }),
    form, status);
}
