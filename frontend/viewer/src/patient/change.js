// Change of involvement from one visit to the previous one, by the same source (no DOM: unit-tested).

export function visitChange(rows, visits, visit, source) {
  // {absolute (percentage points), relative (% of the previous value, null when that was 0), previous
  // (the earlier visit's row), methodsDiffer} against the latest earlier visit that has a row from
  // `source`; null for the first such visit or without a row of its own.
  const of = (v) => rows.find((row) => row.visit_id === v.id && row.source === source);
  const current = of(visit);
  if (!current) return null;
  const earlier = visits.filter((v) => v.date < visit.date).sort((a, b) => b.date.localeCompare(a.date));
  const previousVisit = earlier.find((v) => of(v));
  if (!previousVisit) return null;
  const previous = of(previousVisit);
  const absolute = current.total_pct - previous.total_pct;
  return {
    absolute,
    relative: previous.total_pct > 0 ? (100 * absolute) / previous.total_pct : null,
    previous,
    methodsDiffer: current.lung_method !== previous.lung_method,
  };
}

export function formatChange(change) {
  // "+1.2 pp (+15 %)", "−0.4 pp (−5 %)"; "–" without an earlier visit.
  if (!change) return '–';
  const signed = (value, digits) => `${value > 0 ? '+' : value < 0 ? '−' : '±'}${Math.abs(value).toFixed(digits)}`;
  const relative = change.relative === null ? '' : ` (${signed(change.relative, 0)} %)`;
  return `${signed(change.absolute, 1)} pp${relative}`;
}

export function noiseText(change) {
  // A change of the server's /changes/ list in words: beyond or within reader noise, with the band and n.
  const amount = `${change.change_pct_points > 0 ? '+' : change.change_pct_points < 0 ? '−' : '±'}${Math.abs(change.change_pct_points).toFixed(1)} pp`;
  const span = `${change.from_date} → ${change.to_date}`;
  if (!change.estimable) {
    return `${span}: ${amount}; reader noise not yet estimable (${change.noise_n} series read by both readers so far)`;
  }
  const verdict = change.beyond_noise ? 'beyond reader noise' : 'within reader noise';
  return `${span}: ${amount}, ${verdict} (MDC95 ${change.mdc95.toFixed(1)} pp from ${change.noise_n} series read by both readers)`;
}

export function noiseSummary(noise, minN) {
  // The legend's line for the total: the band and its n, or why there is none yet.
  const band = noise?.total;
  if (!band) return null;
  if (!band.estimable) return `Reader noise not yet estimable: ${band.n} of ${minN} series read by both readers needed`;
  return `▲▼ change beyond reader noise, ○ within it (MDC95 of the total ${band.mdc95.toFixed(1)} pp, 95 % CI `
    + `${band.mdc95_ci_low.toFixed(1)}–${band.mdc95_ci_high.toFixed(1)}, from ${band.n} series read by both readers)`;
}
