// Saving what the user made so that nothing is lost silently: writes that outlive the page (fetch
// keepalive), the session as the last write found it (signed out in another tab: wait, then retry once
// signed in again), and the page-leave guard (a prompt while work is unsaved, a last save as it goes).
import { ApiError, csrfToken } from './api.js';

// Browsers refuse keepalive requests past 64 KiB in flight per page; larger saves go as plain requests.
const KEEPALIVE_BYTES = 60 * 1024;
let keepaliveInFlight = 0;

export function isSignedOut(error) {
  // 401 (token authentication answers first), or a 403 for missing credentials.
  if (!(error instanceof ApiError)) return false;
  return error.status === 401 || (error.status === 403 && /credentials|authenticat/i.test(error.message));
}

export async function write(path, { method = 'PUT', body, json, headers = {} } = {}) {
  // A write to /api/v1/ that completes even if the page is left meanwhile. fetch() is called before the
  // first await, so that a call from a pagehide handler is sent before the page goes.
  const init = { method, credentials: 'same-origin', headers: { ...headers, 'X-CSRFToken': csrfToken() } };
  init.body = json === undefined ? body : JSON.stringify(json);
  if (json !== undefined) init.headers['Content-Type'] = 'application/json';
  const size = init.body instanceof Blob ? init.body.size : new Blob([init.body ?? '']).size;
  init.keepalive = keepaliveInFlight + size <= KEEPALIVE_BYTES;
  if (init.keepalive) keepaliveInFlight += size;
  try {
    const response = await fetch(`/api/v1/${path}`, init);
    if (response.ok) return response;
    throw new ApiError(response.status, await response.json().catch(() => null));
  } finally {
    if (init.keepalive) keepaliveInFlight -= size;
  }
}

export class Session {
  // Whether the sign-in holds, as the last request found it. Once a write finds it gone (lost()), probe()
  // is tried every few seconds and whenever the page is looked at again; listeners hear of both changes.
  constructor({ probe, everyMs = 2000 }) {
    Object.assign(this, { probe, everyMs, signedOut: false, checking: false, timer: null });
    this.listeners = new Set();
    const look = () => {
      if (document.visibilityState === 'visible') this.check();
    };
    window.addEventListener('focus', look);
    document.addEventListener('visibilitychange', look);
  }

  on(listener) {
    this.listeners.add(listener);
  }

  lost() {
    if (this.signedOut) return;
    this.signedOut = true;
    this.timer = setInterval(() => this.check(), this.everyMs);
    this.emit();
  }

  async check() {
    if (!this.signedOut || this.checking) return;
    this.checking = true;
    try {
      await this.probe();
    } catch {
      return; // still signed out, or the server out of reach: the next check will tell
    } finally {
      this.checking = false;
    }
    this.signedOut = false;
    clearInterval(this.timer);
    this.emit();
  }

  emit() {
    for (const listener of this.listeners) listener(this.signedOut);
  }
}

export function guardPageLeave({ unsaved, saveNow }) {
  // unsaved() -> true while something is not on the server yet; saveNow() sends it (keepalive writes).
  // Leaving asks first; hiding or leaving the page sends what is unsaved at once, not after the debounce.
  window.addEventListener('beforeunload', (event) => {
    if (!unsaved()) return;
    saveNow();
    event.preventDefault();
    event.returnValue = '';
  });
  window.addEventListener('pagehide', () => saveNow());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') saveNow();
  });
}
