// Numbers as the models page writes them: metrics to three decimals, percentage points with their sign.
export const MISSING = '–';

export function metric(value) {
  return typeof value === 'number' ? value.toFixed(3) : MISSING;
}

export function signed(value, digits = 2) {
  // "+1.25" / "−0.40" (a true minus sign), "–" without a value.
  if (typeof value !== 'number') return MISSING;
  const text = Math.abs(value).toFixed(digits);
  if (Number(text) === 0) return text;
  return `${value > 0 ? '+' : '−'}${text}`;
}

export function duration(seconds) {
  if (typeof seconds !== 'number') return MISSING;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 120 ? `${minutes} min` : `${(minutes / 60).toFixed(1)} h`;
}

export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString() : MISSING;
}
