// The reader's state: their own masks, per slice, as loaded, edited (dirty), being saved, or in
// conflict, kept in step with the versioned mask API. Each edited slice is saved (debounced) with
// If-Match; a 409 keeps the user's labels and waits for the user's choice.

import { request, ApiError } from '../lib/api.js';
import { decodeLabelPng, encodeLabelPng } from '../lib/labelmaps.js';

const SAVE_DELAY_MS = 400;

export class ReadingMasks {
  constructor({ readingId, rows, columns, onChange }) {
    this.readingId = readingId;
    this.rows = rows;
    this.columns = columns;
    this.onChange = onChange;
    this.slices = new Map(); // z -> {labels, version, dirty, saving, conflict, error}
    this.loading = new Map();
    this.loadErrors = new Map(); // z -> why the slice's mask could not be read
    this.timers = new Map();
  }

  url(z) {
    return `readings/${this.readingId}/slices/${z}/mask`;
  }

  labelsFor(z) {
    const entry = this.slices.get(z);
    if (entry) return entry.labels;
    this.load(z);
    return null;
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
    const entry = this.slices.get(z);
    if (!entry || !entry.dirty || entry.saving || entry.conflict) return;
    entry.saving = true;
    entry.dirty = false;
    this.changed(z);
    try {
      const body = encodeLabelPng(entry.labels, this.columns, this.rows);
      const response = await request(this.url(z), {
        method: 'PUT', body, headers: { 'Content-Type': 'image/png', 'If-Match': `"${entry.version}"` },
      });
      entry.version = (await response.json()).version;
      entry.error = null;
    } catch (error) {
      entry.dirty = true;
      if (error instanceof ApiError && error.status === 409 && error.body.current_version !== undefined) {
        entry.conflict = { currentVersion: error.body.current_version, message: error.message };
      } else {
        entry.error = error.message;
      }
    } finally {
      entry.saving = false;
      this.changed(z);
    }
    if (entry.dirty && !entry.conflict && !entry.error) await this.save(z);
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

  async flush() {
    // Save everything edited now, and wait until no save is in flight.
    for (const timer of this.timers.values()) clearTimeout(timer);
    await Promise.all([...this.slices.keys()].map((z) => this.save(z)));
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
    return { dirty, saving, conflicts, errors, unreadable };
  }

  changed(z) {
    if (this.onChange) this.onChange(z, this.summary());
  }
}
