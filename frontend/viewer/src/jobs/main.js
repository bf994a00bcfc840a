// Jobs: progress bars of recent jobs, refreshed every second or two while any is queued or running; a
// training job's fold, epoch and losses and, once registered, its model version; admins cancel jobs.
import { appData, el, getJson, postJson } from '../lib/api.js';
import { isFinished, jobLabel, trainingProgress } from '../lib/jobs.js';
import { confirmDialog } from '../lib/ui.js';

function stateText(job) {
  if (job.state === 'cancelled') return 'cancelled';
  const percent = `${Math.round((job.state === 'done' ? 1 : job.progress) * 100)}%`;
  return job.cancel_requested && !isFinished(job) ? `${job.state} ${percent}, cancel requested` : `${job.state} ${percent}`;
}

function trainingDetail(job) {
  const detail = job.detail || {};
  const text = trainingProgress(detail);
  const versionId = detail.model_version_id ?? job.model_version_id;
  return el('span', { class: 'job-detail', 'data-testid': 'job-detail' }, text,
    versionId ? [text ? ' · ' : '', el('a', { href: `/models/#model-${versionId}`, 'data-testid': 'job-model-version' }, `model version ${versionId}`)] : null);
}

function cancelButton(job, options) {
  return el('button', { type: 'button', 'data-testid': 'cancel-job', 'aria-label': `Cancel ${jobLabel(job.kind).toLowerCase()} job ${job.id}`,
    onclick: async (event) => {
      const button = event.currentTarget;
      const sure = await confirmDialog({ title: `Cancel job #${job.id}?`, confirm: 'Cancel the job',
        message: job.state === 'running' ? 'A running job stops at the end of its current step (a training run: its current epoch).' : 'The queued job will not run.' });
      if (!sure) return;
      button.disabled = true;
      try {
        await postJson(`jobs/${job.id}/cancel/`);
      } catch (error) {
        options.message.textContent = `Job #${job.id} not cancelled: ${error.message}`;
      }
      await options.refreshNow();
    } }, 'Cancel');
}

function jobItem(job, options) {
  const fraction = job.state === 'done' ? 1 : job.progress;
  const bar = el('progress', { max: '1', value: String(fraction), 'aria-label': `${jobLabel(job.kind)} job ${job.id} progress` });
  const cancellable = options.admin && (job.state === 'queued' || job.state === 'running') && !job.cancel_requested;
  const stateClass = { failed: 'job-failed', cancelled: 'job-cancelled' }[job.state] || '';
  return el('li', { class: stateClass, 'data-job': String(job.id), 'data-state': job.state, 'data-cancel-requested': job.cancel_requested ? '1' : '0' },
    el('span', {}, el('strong', { text: `${jobLabel(job.kind)} #${job.id}` }), job.series_id ? ` · series ${job.series_id}` : '',
      job.error ? el('span', { class: 'error', text: ` · ${job.error}` }) : null,
      job.kind === 'training' ? [el('br'), trainingDetail(job)] : null),
    bar, el('span', { 'data-testid': 'job-state', text: stateText(job) }),
    el('span', { class: 'job-actions' }, cancellable ? cancelButton(job, options) : null));
}

async function refresh(list, status, options) {
  const jobs = await getJson('jobs/');
  // Redrawn only when something changed, so that a button is not swapped under the pointer.
  const drawn = JSON.stringify(jobs);
  if (options.drawn !== drawn) {
    list.replaceChildren(...jobs.map((job) => jobItem(job, options)));
    options.drawn = drawn;
  }
  const active = jobs.filter((job) => !isFinished(job)).length;
  status.textContent = jobs.length ? `${jobs.length} recent job(s), ${active} queued or running.` : 'No jobs yet.';
  return active;
}

async function main() {
  const { app, data } = appData();
  const list = document.getElementById('jobs');
  const status = document.getElementById('jobs-status');
  const message = el('p', { role: 'alert', class: 'error jobs-message', 'data-testid': 'jobs-message' });
  list.before(message);
  let wake = () => {};
  const options = { admin: data.admin === '1', refreshNow: async () => wake(), drawn: '', message };
  for (;;) {
    let active = 0;
    try {
      active = await refresh(list, status, options);
      app.dataset.ready = '1';
    } catch (error) {
      status.textContent = `Could not load jobs: ${error.message}`;
    }
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, active ? 1000 : 4000);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

main();
