// The series' slices as DICOMweb images: one WADO-RS frame URL per platform slice z, paired with that
// instance's DICOM JSON from the series' metadata resource. The order is the platform's (sop_uids[z] is
// slice z, as masks and readings number them), never one read from the headers; the metadata is matched
// by SOP Instance UID, whatever order the answer lists it in. No Cornerstone import, so node's test
// runner can load it.
import { getJson } from './api.js';

const SOP_INSTANCE_UID = '00080018';

export function seriesPath({ study_uid: study, series_uid: series }) {
  return `/dicomweb/studies/${study}/series/${series}`;
}

export function frameImageIds(origin, instances) {
  // wadors: image ids of the first (only) frame of each instance, in the platform's z order.
  const base = `${origin}${seriesPath(instances)}`;
  return instances.sop_uids.map((sop) => `wadors:${base}/instances/${sop}/frames/1`);
}

export function metadataInZOrder(instances, datasets) {
  // Each slice's DICOM JSON, sop_uids order; an instance the answer lacks is an error, not a blank slice.
  const bySop = new Map(datasets.map((dataset) => [dataset[SOP_INSTANCE_UID]?.Value?.[0], dataset]));
  return instances.sop_uids.map((sop, z) => {
    const dataset = bySop.get(sop);
    if (!dataset) throw new Error(`the series metadata has no instance ${sop} (slice ${z})`);
    return dataset;
  });
}

export async function seriesImages(seriesId, origin = location.origin) {
  // [{imageId, metadata}] of every slice in z order: two requests, the instance list and the metadata.
  const instances = await getJson(`series/${seriesId}/instances/`);
  const url = `${seriesPath(instances)}/metadata`;
  const response = await fetch(url, { headers: { Accept: 'application/dicom+json' }, credentials: 'same-origin' });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  const metadata = metadataInZOrder(instances, await response.json());
  return frameImageIds(origin, instances).map((imageId, z) => ({ imageId, metadata: metadata[z] }));
}
