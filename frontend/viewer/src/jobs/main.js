// Jobs: progress bars of recent jobs, refreshed every second or two while any is queued or running.
import { appData, el, getJson } from '../lib/api.js';
import { jobLabel } from '../lib/jobs.js';

async function refresh(list, status) {
  const jobs = await getJson('jobs/');
  list.replaceChildren(...jobs.map((job) => {
    const bar = el('progress', { max: '1', value: String(job.state === 'done' ? 1 : job.progress), 'aria-label': `${jobLabel(job.kind)} job ${job.id} progress` });
    return el('li', { class: job.state === 'failed' ? 'job-failed' : '', 'data-job': String(job.id), 'data-state': job.state },
      el('span', {}, el('strong', { text: `${jobLabel(job.kind)} #${job.id}` }), job.series_id ? ` · series ${job.series_id}` : '', job.error ? el('span', { class: 'error', text: ` · ${job.error}` }) : null),
      bar, el('span', { text: `${job.state} ${Math.round((job.state === 'done' ? 1 : job.progress) * 100)}%` }));
  }));
  const active = jobs.filter((job) => job.state === 'queued' || job.state === 'running').length;
  status.textContent = jobs.length ? `${jobs.length} recent job(s), ${active} queued or running.` : 'No jobs yet.';
  return active;
}

async function main() {
  const { app } = appData();
  const list = document.getElementById('jobs');
  const status = document.getElementById('jobs-status');
  for (;;) {
    let active = 0;
    try {
      active = await refresh(list, status);
      app.dataset.ready = '1';
    } catch (error) {
      status.textContent = `Could not load jobs: ${error.message}`;
    }
    await new Promise((resolve) => setTimeout(resolve, active ? 1000 : 4000));
  }
}

main();
