// Which label maps the read-only series viewer can overlay: the finalised consensus, each model version
// with predictions on this series (GET series/{id}/models/, whether or not involvement was computed from
// them), and the lung mask; coloured from the label table.
import { getJson } from '../lib/api.js';
import { loadSeriesModels, modelOverlay } from '../lib/run-model.js';

export async function availableOverlays({ seriesId, table }) {
  // {overlays: [{name, title, url(z), labels, alpha}] in the order of their shortcut keys 1..9,
  //  models: GET series/{id}/models/, or null when this user cannot read it}.
  const overlays = [];
  const base = `/api/v1/series/${seriesId}`;
  try {
    // Only a finalised consensus has masks to show; asking per slice otherwise would be 404s.
    const consensus = await getJson(`series/${seriesId}/consensus/`);
    if (consensus.finalized_at) overlays.push({ name: 'consensus', title: 'Consensus', url: (z) => `${base}/consensus/slices/${z}/mask`, labels: table.patterns });
  } catch {
    // No review, or not visible to this user yet.
  }
  let models = null;
  try {
    models = await loadSeriesModels(seriesId);
    overlays.push(...models.predictions.map((prediction) => modelOverlay(seriesId, prediction, table.patterns)));
  } catch {
    // No models visible to this user: the consensus and lung overlays still work.
  }
  overlays.push({ name: 'lung', title: 'Lung mask', url: (z) => `${base}/slices/${z}/lung-mask`, labels: table.lung, alpha: 0.25 });
  return { overlays, models };
}
