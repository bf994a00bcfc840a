// Adjudication state: the two readings, their agreement (slices ranked by disagreement), and the
// consensus as the server holds it (decisions, undecided slices, finalised or not). Every change goes
// to the server and the consensus is read back; automatic decisions (union, intersection, a reader)
// are computed by the server only, including the proposal an edit starts from.
import { ApiError, getJson, request } from '../lib/api.js';
import { followJob } from '../lib/jobs.js';
import { decodeLabelPng } from '../lib/labelmaps.js';

export async function loadReview(seriesId, onWaiting) {
  const readings = await getJson(`series/${seriesId}/readings/`);
  // The agreement job may still be running just after the second submit: 409 until it is done.
  for (let attempt = 0; ; attempt++) {
    try {
      return { readings, agreement: await getJson(`series/${seriesId}/agreement/`) };
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 409) || attempt > 60) throw error;
      onWaiting(error.message);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

export function rankSlices(agreement) {
  return [...agreement.slices_by_disagreement].sort((a, b) => b.differing_pixels - a.differing_pixels || a.z_index - b.z_index);
}

export class Consensus {
  constructor(seriesId, { rows, columns }) {
    Object.assign(this, { seriesId, rows, columns });
    this.data = null; // GET series/{id}/consensus/
  }

  get finalised() {
    return Boolean(this.data.finalized_at);
  }

  get undecided() {
    return this.data.undecided_slices;
  }

  decisions() {
    return Object.fromEntries(this.data.decisions.map((d) => [d.z_index, d.decision]));
  }

  async refresh() {
    this.data = await getJson(`series/${this.seriesId}/consensus/`);
    return this.data;
  }

  async decide(z, decision, mask = null) {
    const path = `series/${this.seriesId}/consensus/slices/${z}/`;
    if (mask) {
      const form = new FormData();
      form.append('decision', decision);
      form.append('mask', mask, `slice-${z}.png`);
      await request(path, { method: 'POST', body: form });
    } else {
      await request(path, { method: 'POST', json: { decision } });
    }
    return this.refresh();
  }

  async proposal(z, decision) {
    // The label map the server would make of an automatic decision on this slice.
    const response = await request(`series/${this.seriesId}/consensus/slices/${z}/proposal?decision=${decision}`);
    return decodeLabelPng(await response.blob(), this.columns, this.rows);
  }

  async finalise({ onStarted, onProgress }) {
    // Finalising queues the consensus involvement job; its progress is followed until it ends.
    const job = await (await request(`series/${this.seriesId}/consensus/finalize/`, { method: 'POST' })).json();
    await this.refresh();
    onStarted();
    await followJob(job.id, onProgress);
    return this.refresh();
  }
}
