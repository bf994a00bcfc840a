// Reading time: the reader's active time per slice (lib/active-time.js) sent to the server as increments,
// every FLUSH_EVERY_MS, as the tab is hidden and as the page goes (keepalive writes). Each increment is a
// batch with an id made here: a batch whose answer was lost is sent again with the same id, and the
// server counts an id once, so a retry never counts time twice and a failed send never loses it.
// #app's data-reading-time-unsent says how many batches are not on the server yet.
import { ApiError } from '../lib/api.js';
import { ActiveTime, idleCutoffFrom } from '../lib/active-time.js';
import { isSignedOut, write } from '../lib/save-queue.js';

const FLUSH_EVERY_MS = 15_000;
// Pointer events that are the reader's doing: a press, or a drag (painting, windowing, panning). A
// pointer merely passing over the image is not.
const INTERACTIONS = ['wheel', 'keydown', 'pointerdown', 'pointermove'];

function batchId() {
  if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts (https, localhost) only
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function refusedForGood(error) {
  // A 4xx other than a lapsed sign-in or a rate limit will not change on a retry: the batch is dropped.
  return error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429
    && !isSignedOut(error);
}

export function recordReadingTime({ readingId, viewer, app }) {
  const idleCutoffMs = idleCutoffFrom(new URLSearchParams(window.location.search).get('idle_cutoff_ms'));
  const clock = new ActiveTime({ idleCutoffMs, visible: document.visibilityState === 'visible' });
  const unsent = new Map(); // batch id -> [{z_index, active_ms, visits}]
  const inFlight = new Map(); // batch id -> its send
  let stopped = false;
  const show = () => {
    app.dataset.readingTimeUnsent = String(unsent.size);
  };

  const send = async (id) => {
    try {
      await write(`readings/${readingId}/time/`, { method: 'POST', json: { batch_id: id, slices: unsent.get(id) } });
      unsent.delete(id);
    } catch (error) {
      if (!refusedForGood(error)) return; // kept: the next flush sends it again, with the same id
      unsent.delete(id);
      console.warn(`reading time not recorded: ${error.message}`);
      if (error.status === 409) stopped = true; // the reading was submitted
    } finally {
      inFlight.delete(id);
      show();
    }
  };

  const flush = () => {
    // Everything up to write() runs at once, so that a flush asked for as the page goes is sent.
    if (stopped) return Promise.resolve();
    const slices = clock.take();
    if (slices.length) unsent.set(batchId(), slices);
    for (const id of unsent.keys()) if (!inFlight.has(id)) inFlight.set(id, send(id));
    show();
    return Promise.all(inFlight.values());
  };

  viewer.on((what, z) => {
    if (what === 'slice') clock.showSlice(z);
  });
  const interacted = (event) => {
    if (event.type !== 'pointermove' || event.buttons) clock.interacted();
  };
  for (const type of INTERACTIONS) window.addEventListener(type, interacted, { capture: true, passive: true });
  document.addEventListener('visibilitychange', () => {
    clock.setVisible(document.visibilityState === 'visible');
    if (document.visibilityState === 'hidden') flush();
  });
  window.addEventListener('pagehide', () => flush());
  setInterval(flush, FLUSH_EVERY_MS);
  return { flush };
}
