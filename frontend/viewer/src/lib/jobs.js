// Job progress: poll /api/v1/jobs/{id}/ until it is done or failed, calling back with each state.
import { getJson } from './api.js';

export async function followJob(jobId, onUpdate, { intervalMs = 700 } = {}) {
  for (;;) {
    const job = await getJson(`jobs/${jobId}/`);
    onUpdate(job);
    if (job.state === 'done' || job.state === 'failed') return job;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export function jobLabel(kind) {
  return {
    import: 'Import', lung_masks: 'Lung masking', inference: 'Inference', training: 'Training',
    agreement: 'Agreement', involvement: 'Involvement',
  }[kind] || kind.replace(/_/g, ' ');
}
