// Which slices the reader is done with, as the server counts them (GET .../progress/): painted, or marked
// reviewed with V (a normal slice has nothing to paint). A mark is shown at once and sent; one the server
// has not taken yet (signed out, offline) is kept and sent again, like the strokes.
import { getJson } from '../lib/api.js';
import { isSignedOut, write } from '../lib/save-queue.js';

const RETRY_MS = 5000;

export class SliceReview {
  constructor({ readingId, session, onChange }) {
    Object.assign(this, { readingId, session, onChange });
    this.progress = null; // the server's answer: {slice_count, reviewed_slices, slices_done, unreviewed_slices, ...}
    this.pending = new Map(); // z -> reviewed, not yet taken by the server
    this.sending = new Set();
    this.loadError = null; // why the progress could not be read
    this.markError = null; // why the last mark was refused (signed out aside)
    session.on((signedOut) => {
      if (!signedOut) this.resend();
    });
  }

  async refresh() {
    try {
      this.progress = await getJson(`readings/${this.readingId}/progress/`);
      this.loadError = null;
    } catch (error) {
      this.loadError = error.message;
      if (isSignedOut(error)) this.session.lost();
    }
    this.onChange();
    return this.progress;
  }

  isReviewed(z) {
    if (this.pending.has(z)) return this.pending.get(z);
    return Boolean(this.progress?.reviewed_slices.includes(z));
  }

  isAnnotated(z) {
    return Boolean(this.progress?.annotated_slices.includes(z));
  }

  toggle(z) {
    this.pending.set(z, !this.isReviewed(z));
    this.onChange();
    return this.send(z);
  }

  async send(z) {
    // One request per slice at a time; a mark changed meanwhile is sent when it returns.
    if (!this.pending.has(z) || this.sending.has(z) || this.session.signedOut) return;
    const reviewed = this.pending.get(z);
    this.sending.add(z);
    try {
      const response = await write(`readings/${this.readingId}/slices/${z}/reviewed`, { json: { reviewed } });
      this.progress = await response.json();
      this.markError = null;
      if (this.pending.get(z) === reviewed) this.pending.delete(z);
    } catch (error) {
      if (isSignedOut(error)) {
        this.session.lost();
      } else {
        this.markError = `slice ${z + 1} could not be marked reviewed: ${error.message}`;
        setTimeout(() => this.send(z), RETRY_MS);
      }
    } finally {
      this.sending.delete(z);
      this.onChange();
    }
    if (this.pending.has(z) && this.pending.get(z) !== reviewed) await this.send(z);
  }

  resend() {
    return Promise.all([...this.pending.keys()].map((z) => this.send(z)));
  }
}
