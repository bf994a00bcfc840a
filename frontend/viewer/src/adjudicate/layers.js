// What the adjudication viewport overlays: reader 1, reader 2 and their disagreement (coloured by the
// label table), the slice being edited, and the consensus once finalised. Each model's predictions are
// switchable layers too, added by lib/run-model.js (modelPanel), also after a run on this page.
import { RemoteLabels } from '../lib/remote-labels.js';

export const OVERLAYS = [
  ['reader_1', 'Reader 1', 'Q'],
  ['reader_2', 'Reader 2', 'W'],
  ['disagreement', 'Disagreement', 'D'],
];

export function addReviewLayers(viewer, { seriesId, readingOf, table }) {
  const geometry = { rows: viewer.rows, columns: viewer.columns, onLoaded: (z) => z === viewer.z && viewer.drawOverlay() };
  const urls = {
    reader_1: (z) => `/api/v1/readings/${readingOf.reader_1}/slices/${z}/mask`,
    reader_2: (z) => `/api/v1/readings/${readingOf.reader_2}/slices/${z}/mask`,
    disagreement: (z) => `/api/v1/series/${seriesId}/slices/${z}/disagreement`,
  };
  for (const [name] of OVERLAYS) {
    const source = new RemoteLabels(urls[name], geometry);
    const disagreement = name === 'disagreement';
    viewer.addLayer({ name, visible: disagreement, labelsFor: (z) => source.labelsFor(z),
      labels: disagreement ? table.disagreement : table.patterns, alpha: disagreement ? 0.6 : 0.45 });
  }
}

export function addConsensusLayer(viewer, { seriesId, table }) {
  const source = new RemoteLabels((z) => `/api/v1/series/${seriesId}/consensus/slices/${z}/mask`,
    { rows: viewer.rows, columns: viewer.columns, onLoaded: (z) => z === viewer.z && viewer.drawOverlay() });
  viewer.addLayer({ name: 'consensus', visible: false, labelsFor: (z) => source.labelsFor(z), labels: table.patterns });
}
