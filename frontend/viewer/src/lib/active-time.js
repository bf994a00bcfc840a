// Active reading time per slice, as plain arithmetic on a clock: time counts while the page is visible, a
// slice is on screen and the reader interacted (wheel, key, pointer down or drag) less than the idle
// cut-off ago; it goes to the slice on screen. The owner feeds it events and take()s what accumulated.
// The same rule, written as a predicate over time, is what the unit tests compute by hand:
//   active(t) = visible(t) && slice(t) !== null && t - lastInteraction(t) < idleCutoffMs

export const IDLE_CUTOFF_MS = 60_000;
// A page may shorten the cut-off (the browser test does), never lengthen it: a longer one would let an
// unattended screen count as reading.
export const SHORTEST_IDLE_CUTOFF_MS = 1_000;

export function idleCutoffFrom(text) {
  // The cut-off a page asks for ("2000" from a query parameter): clamped to what is allowed, else the default.
  const asked = Number(text);
  if (text === null || text === undefined || text === '' || !Number.isFinite(asked)) return IDLE_CUTOFF_MS;
  return Math.min(IDLE_CUTOFF_MS, Math.max(SHORTEST_IDLE_CUTOFF_MS, Math.round(asked)));
}

export class ActiveTime {
  constructor({ idleCutoffMs = IDLE_CUTOFF_MS, now = () => performance.now(), visible = true } = {}) {
    this.idleCutoffMs = idleCutoffMs;
    this.now = now;
    this.visible = visible;
    this.slice = null;
    // Opening the page is the reader's doing: it counts as the first interaction.
    this.lastInteraction = now();
    this.since = this.lastInteraction; // time up to which active time has been attributed
    this.perSlice = new Map(); // z -> {ms (fractional), visits}
  }

  accrue() {
    const at = this.now();
    if (this.visible && this.slice !== null) {
      const ms = Math.min(at, this.lastInteraction + this.idleCutoffMs) - this.since;
      if (ms > 0) this.entry(this.slice).ms += ms;
    }
    this.since = at;
  }

  entry(z) {
    if (!this.perSlice.has(z)) this.perSlice.set(z, { ms: 0, visits: 0 });
    return this.perSlice.get(z);
  }

  interacted() {
    this.accrue();
    this.lastInteraction = this.since;
  }

  showSlice(z) {
    this.accrue();
    if (z === this.slice) return;
    this.slice = z;
    this.entry(z).visits += 1;
  }

  setVisible(visible) {
    this.accrue();
    this.visible = visible;
  }

  take() {
    // What accumulated since the last take, as [{z_index, active_ms, visits}] in whole milliseconds; the
    // fractions stay here for the next take, so nothing is lost to rounding.
    this.accrue();
    const taken = [];
    for (const [z, entry] of this.perSlice) {
      const ms = Math.floor(entry.ms);
      if (ms > 0 || entry.visits > 0) taken.push({ z_index: z, active_ms: ms, visits: entry.visits });
      entry.ms -= ms;
      entry.visits = 0;
    }
    return taken.sort((a, b) => a.z_index - b.z_index);
  }
}
