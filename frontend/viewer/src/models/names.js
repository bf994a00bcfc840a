// How a model version is named wherever it appears (models page, trend lines): its id, its task and,
// for demo weights, that they are demo weights.
export function versionName(version) {
  return [`Model ${version.id}`, version.task, version.is_demo ? 'demo weights' : null].filter(Boolean).join(' · ');
}

export function sourceVersionId(source) {
  // The model version id of an involvement source "model:<id>" (null for any other source).
  const match = /^model:(\d+)$/.exec(source);
  return match ? Number(match[1]) : null;
}
