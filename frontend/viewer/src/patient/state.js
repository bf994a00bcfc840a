// Patient state: the visits in date order, their involvement rows and sources, the lung summary of each
// visit's series, and where the lung method of the figures changes from one visit to the next.
import { getJson } from '../lib/api.js';
import { loadLabelTable } from '../lib/labels.js';
import { loadLungSummary } from '../lib/lungs.js';
import { sourceVersionId, versionName } from '../models/names.js';

function rank(source) {
  return { consensus: 0, reader_1: 2, reader_2: 3 }[source] ?? 1;
}

export function primarySeries(visit) {
  // The series the server computes a visit's involvement on: the most slices, then the lowest id.
  return [...visit.series].sort((a, b) => b.slice_count - a.slice_count || a.id - b.id)[0] || null;
}

export function pointOverlay(source, visit, rows, models) {
  // The overlay that shows a source's figures of a visit in the series viewer: the consensus or the
  // model itself; for a reader (not an overlay there) or no source, the visit's consensus, else a model.
  if (source === 'consensus' || source?.startsWith('model:')) return source;
  const has = (candidate) => rows.some((row) => row.visit_id === visit.id && row.source === candidate);
  return ['consensus', ...models].find(has) || '';
}

export function seriesHref(visit, overlay) {
  // The series viewer on the visit's primary series with that overlay on; null without a series.
  const series = primarySeries(visit);
  if (!series) return null;
  return `/series/${series.id}/${overlay ? `?overlay=${encodeURIComponent(overlay)}` : ''}`;
}

async function lungSummaries(visits) {
  // visit id -> the lung summary of its series (null without a series, or when it cannot be read).
  const entries = await Promise.all(visits.map(async (visit) => {
    const series = primarySeries(visit);
    const summary = series ? await loadLungSummary(series.id).catch(() => null) : null;
    return [visit.id, summary];
  }));
  return new Map(entries);
}

async function modelNames(models) {
  // source "model:<id>" -> its version's name (task, demo weights); empty when there are no model rows
  // or the versions cannot be read, and the lines keep their plain "Model <id>".
  if (!models.length) return new Map();
  const versions = await getJson('models/').catch(() => []);
  const byId = new Map(versions.map((version) => [version.id, version]));
  return new Map(models.filter((source) => byId.has(sourceVersionId(source)))
    .map((source) => [source, versionName(byId.get(sourceVersionId(source)))]));
}

export async function loadPatient(patientId) {
  const [patient, rows, { patterns }] = await Promise.all([
    getJson(`patients/${patientId}/`), getJson(`patients/${patientId}/involvement/`), loadLabelTable()]);
  const visits = [...patient.visits].sort((a, b) => a.date.localeCompare(b.date));
  const sources = [...new Set(rows.map((row) => row.source))].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const models = sources.filter((source) => source.startsWith('model:'));
  // What a change means: reader noise and Goh-Wells stages (the page still shows the trend without them).
  const [lungs, names, noise, staging] = await Promise.all([lungSummaries(visits), modelNames(models),
    getJson(`patients/${patientId}/changes/`).catch(() => null), getJson(`patients/${patientId}/staging/`).catch(() => [])]);
  return { visits, rows, patterns, sources, models, names, lungs, noise, staging };
}

export function rowsMethod(visit, rows) {
  // The lung method of a visit's involvement figures: one name, 'a + b' where its rows differ, null without rows.
  const methods = [...new Set(rows.filter((row) => row.visit_id === visit.id).map((row) => row.lung_method))].sort();
  return methods.length ? methods.join(' + ') : null;
}

export function methodChanges(visits, rows) {
  // [{before, after, from, to}]: consecutive visits with figures whose lung methods differ.
  const withFigures = visits.map((visit) => [visit, rowsMethod(visit, rows)]).filter(([, method]) => method);
  const changes = [];
  for (let i = 1; i < withFigures.length; i += 1) {
    const [[before, from], [after, to]] = [withFigures[i - 1], withFigures[i]];
    if (from !== to) changes.push({ before, after, from, to });
  }
  return changes;
}
