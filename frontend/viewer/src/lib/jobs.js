// Job progress: poll /api/v1/jobs/{id}/ until it is finished (done, failed or cancelled), calling back
// with each state; how a job's kind and a training job's progress are worded.
import { getJson } from './api.js';

export const FINISHED = ['done', 'failed', 'cancelled'];

export function isFinished(job) {
  return FINISHED.includes(job.state);
}

export async function followJob(jobId, onUpdate, { intervalMs = 700 } = {}) {
  for (;;) {
    const job = await getJson(`jobs/${jobId}/`);
    onUpdate(job);
    if (isFinished(job)) return job;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export function jobLabel(kind) {
  return {
    import: 'Import', lung_masks: 'Lung masking', inference: 'Inference', training: 'Training',
    agreement: 'Agreement', involvement: 'Involvement',
  }[kind] || kind.replace(/_/g, ' ');
}

export function trainingProgress(detail) {
  // "merged · fold 1 of 2 · epoch 3 of 10 · loss 0.410 · val_loss 0.450" from what the worker reported so far.
  if (!detail) return '';
  const loss = (name) => (typeof detail[name] === 'number' ? `${name} ${detail[name].toFixed(3)}` : null);
  return [
    detail.task || null,
    detail.fold != null && detail.folds ? `fold ${detail.fold} of ${detail.folds}` : null,
    detail.epoch != null && detail.epochs ? `epoch ${detail.epoch} of ${detail.epochs}` : null,
    loss('loss'), loss('val_loss'),
  ].filter(Boolean).join(' · ');
}
