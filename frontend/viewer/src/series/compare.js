// "Compare with previous visit": the previous visit's primary series in a second viewport beside this
// one, at the same relative position (z fraction), following this one's slice and window, with the
// overlays this one shows where the previous series has them too. Built on the first switch-on.
import { el, getJson } from '../lib/api.js';
import { addRemoteLayer } from '../lib/run-model.js';
import { SliceViewer } from '../lib/viewport.js';
import { primarySeries } from '../patient/state.js';
import { availableOverlays } from './overlays.js';
import './series.css';

function previousVisit(patient, visitId) {
  const visits = [...patient.visits].sort((a, b) => a.date.localeCompare(b.date));
  const index = visits.findIndex((visit) => visit.id === visitId);
  return visits.slice(0, Math.max(0, index)).reverse().find((visit) => primarySeries(visit)) || null;
}

function relativeSlice(z, from, to) {
  // The slice of a `to`-slice series at the same fraction of the way through as z of a `from`-slice one.
  return from > 1 ? Math.round((z / (from - 1)) * (to - 1)) : 0;
}

export async function compareSwitch({ viewer, stage, pane, patientId, visitId, table }) {
  // The switch (a labelled checkbox); `pane` receives the second viewport, `stage` is marked comparing.
  const patient = await getJson(`patients/${patientId}/`);
  const visit = previousVisit(patient, visitId);
  const series = visit && primarySeries(visit);
  const input = el('input', { type: 'checkbox', id: 'compare-previous', 'data-testid': 'compare-previous', disabled: !series });
  const label = el('label', { class: 'check', for: input.id }, input, 'Compare with previous visit',
    el('span', { class: 'note', text: series ? ` (${visit.date})` : ' (none earlier)' }));
  let other = null;
  const open = async () => {
    other = new SliceViewer(pane, { seriesId: series.id, rows: series.rows, columns: series.columns, sliceCount: series.slice_count,
      startSlice: relativeSlice(viewer.z, viewer.sliceCount, series.slice_count) });
    const { overlays } = await availableOverlays({ seriesId: series.id, table });
    for (const overlay of overlays) addRemoteLayer(other, overlay, { visible: Boolean(viewer.layer(overlay.name)?.visible) });
    viewer.on((what) => {
      if (what === 'slice') other.goTo(relativeSlice(viewer.z, viewer.sliceCount, series.slice_count));
      if (what === 'window') other.setWindow(viewer.window);
      if (what === 'layers') { // an overlay switched on or off here (checkbox or number key)
        for (const layer of other.overlay.layers) layer.visible = Boolean(viewer.layer(layer.name)?.visible);
        other.drawOverlay();
      }
    });
    await other.start();
    other.setWindow(viewer.window);
  };
  input.addEventListener('change', async () => {
    pane.hidden = !input.checked;
    stage.classList.toggle('comparing', input.checked);
    if (input.checked && !other) await open();
    viewer.element.focus();
  });
  if (series) {
    pane.dataset.series = String(series.id);
    pane.prepend(el('p', { class: 'compare-title', text: `Previous visit ${visit.label ? `${visit.label} ` : ''}${visit.date} · series #${series.id}` }));
  }
  return label;
}
