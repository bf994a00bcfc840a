// Which label maps the read-only series viewer can overlay: the finalised consensus, each model that
// has predictions for this series, and the lung mask; coloured from the label table.
import { getJson } from '../lib/api.js';

export async function availableOverlays({ seriesId, patientId, table }) {
  // [{name, title, url(z), labels, alpha}], in the order of their shortcut keys 1..9.
  const overlays = [];
  const base = `/api/v1/series/${seriesId}`;
  try {
    // Only a finalised consensus has masks to show; asking per slice otherwise would be 404s.
    const consensus = await getJson(`series/${seriesId}/consensus/`);
    if (consensus.finalized_at) overlays.push({ name: 'consensus', title: 'Consensus', url: (z) => `${base}/consensus/slices/${z}/mask`, labels: table.patterns });
  } catch {
    // No review, or not visible to this user yet.
  }
  try {
    const rows = await getJson(`patients/${patientId}/involvement/`);
    const models = new Set(rows.filter((row) => row.series_id === seriesId && row.source.startsWith('model:')).map((row) => row.source));
    for (const source of models) {
      const modelId = source.slice(6);
      overlays.push({ name: source, title: `Model ${modelId}`, url: (z) => `${base}/slices/${z}/predictions/${modelId}`, labels: table.patterns });
    }
  } catch {
    // No involvement visible to this user: the consensus and lung overlays still work.
  }
  overlays.push({ name: 'lung', title: 'Lung mask', url: (z) => `${base}/slices/${z}/lung-mask`, labels: table.lung, alpha: 0.25 });
  return overlays;
}
