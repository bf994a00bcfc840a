// The reader's state: their own masks, per slice, as loaded, edited (dirty), being saved, or in
// conflict, kept in step with the versioned mask API. Each edited slice is saved with If-Match: after a
// short pause, at once when the slice changes, and as the page is left (keepalive). A 409 keeps the
// user's labels and waits for the user's choice; any other failure keeps them too and saves again:
// once signed in again after a 401 (the session), else after a growing pause.

import { request, ApiError } from '../lib/api.js';
import { decodeLabelPng, encodeLabelPng } from '../lib/labelmaps.js';
import { isSignedOut, write } from '../lib/save-queue.js';

const SAVE_DELAY_MS = 400;
const RETRY_MS = [2000, 5000, 10000, 30000];

export class ReadingMasks {
  constructor({ readingId, rows, columns, session, onChange, onLoaded, onSaved }) {
    Object.assign(this, { readingId, rows, columns, session, onChange, onLoaded, onSaved });
    this.slices = new Map(); // z -> {labels, version, dirty, saving, conflict, error}
    this.loading = new Map();
    this.loadErrors = new Map(); // z -> why the slice's mask could not be read
    this.timers = new Map();
    this.retry = { timer: null, attempt: 0 };
    session.on((signedOut) => {
      if (!signedOut) this.retryFailed();
      this.changed(null);
    });
  }

  url(z) {
    return `readings/${this.readingId}/slices/${z}/mask`;
  }

  labelsFor(z) {
    const entry = this.slices.get(z);
    if (entry) return entry.labels;
    // A slice that failed to load is tried again by retryFailed(), not at every redraw.
    if (!this.loadErrors.has(z)) this.load(z);
    return null;
  }

  peek(z) {
    // The labels of slice z if they are here, without asking the server for them.
    return this.slices.get(z)?.labels ?? null;
  }

  async load(z, { force = false } = {}) {
    if (!force && this.slices.has(z)) return this.slices.get(z);
    if (!force && this.loading.has(z)) return this.loading.get(z);
    const promise = this.fetch(z, force);
    this.loading.set(z, promise);
    try {
      return await promise;
    } catch (error) {
      this.loadErrors.set(z, error.message);
      this.failed(error);
      this.changed(z);
      return null;
    } finally {
      if (this.loading.get(z) === promise) this.loading.delete(z);
    }
  }

  async fetch(z, force) {
    const response = await request(this.url(z));
    const version = Number((response.headers.get('ETag') || '"0"').replace(/\D/g, '') || 0);
    const labels = await decodeLabelPng(await response.blob(), this.columns, this.rows);
    const existing = this.slices.get(z);
    if (existing && !force) return existing;
    if (existing) {
      existing.labels.set(labels);
      Object.assign(existing, { version, dirty: false, conflict: null, error: null });
    } else {
      this.slices.set(z, { labels, version, dirty: false, saving: false, conflict: null, error: null });
    }
    this.loadErrors.delete(z);
    this.onLoaded?.(z);
    this.changed(z);
    return this.slices.get(z);
  }

  edited(z) {
    const entry = this.slices.get(z);
    if (!entry) return;
    entry.dirty = true;
    clearTimeout(this.timers.get(z));
    this.timers.set(z, setTimeout(() => this.save(z), SAVE_DELAY_MS));
    this.changed(z);
  }

  async save(z) {
    // Everything up to write() runs at once, so that a save asked for as the page goes is sent.
    const entry = this.slices.get(z);
    if (!entry || !entry.dirty || entry.saving || entry.conflict || this.session.signedOut) return;
    clearTimeout(this.timers.get(z));
    entry.saving = true;
    entry.dirty = false;
    this.changed(z);
    try {
      const body = encodeLabelPng(entry.labels, this.columns, this.rows);
      const response = await write(this.url(z), {
        method: 'PUT', body, headers: { 'Content-Type': 'image/png', 'If-Match': `"${entry.version}"` },
      });
      entry.version = (await response.json()).version;
      entry.error = null;
      this.retry.attempt = 0;
      this.onSaved?.(z);
    } catch (error) {
      entry.dirty = true;
      if (error instanceof ApiError && error.status === 409 && error.body.current_version !== undefined) {
        entry.conflict = { currentVersion: error.body.current_version, message: error.message };
      } else {
        entry.error = isSignedOut(error) ? null : error.message;
        this.failed(error);
      }
    } finally {
      entry.saving = false;
      this.changed(z);
    }
    if (entry.dirty && !entry.conflict && !entry.error) await this.save(z);
  }

  failed(error) {
    // Signed out: the session says when to try again. Anything else: try again after a growing pause.
    if (isSignedOut(error)) {
      this.session.lost();
      return;
    }
    if (this.retry.timer) return;
    const delay = RETRY_MS[Math.min(this.retry.attempt++, RETRY_MS.length - 1)];
    this.retry.timer = setTimeout(() => {
      this.retry.timer = null;
      this.retryFailed();
    }, delay);
  }

  retryFailed() {
    // Load the slices that could not be read, and save every slice still unsaved (conflicts wait).
    clearTimeout(this.retry.timer);
    this.retry.timer = null;
    for (const z of [...this.loadErrors.keys()]) this.load(z);
    return this.saveAll();
  }

  async keepMine(z) {
    // Overwrite the newer server version with what is on screen.
    const entry = this.slices.get(z);
    if (!entry || !entry.conflict) return;
    entry.version = entry.conflict.currentVersion;
    entry.conflict = null;
    entry.dirty = true;
    await this.save(z);
  }

  async takeTheirs(z) {
    await this.load(z, { force: true });
  }

  saveAll() {
    // Send every edited slice now (the slice changed, the page goes, submit).
    return Promise.all([...this.slices.keys()].map((z) => this.save(z)));
  }

  async flush() {
    // Save everything edited now, and wait until no save is in flight.
    await this.saveAll();
    while (this.summary().saving) await new Promise((resolve) => setTimeout(resolve, 50));
    return this.summary();
  }

  summary() {
    let dirty = 0;
    let saving = 0;
    const conflicts = [];
    const errors = [];
    for (const [z, entry] of this.slices) {
      if (entry.dirty) dirty++;
      if (entry.saving) saving++;
      if (entry.conflict) conflicts.push(z);
      if (entry.error) errors.push({ z, message: entry.error });
    }
    const unreadable = [...this.loadErrors].map(([z, message]) => ({ z, message }));
    return { dirty, saving, conflicts, errors, unreadable, signedOut: this.session.signedOut };
  }

  changed(z) {
    if (this.onChange) this.onChange(z, this.summary());
  }
}
