// Reading overview (admins): who reads which series and how far they are, where each consensus stands,
// reopening a submitted reading with a reason, and each series' audit trail.
import { appData, el } from '../lib/api.js';
import { runPage } from '../lib/ui.js';
import { loadOverview, seriesPhase } from './data.js';
import { PHASES } from './names.js';
import { overviewTable } from './table.js';
import './overview.css';

function summary(seriesList) {
  // "3 series: 1 being read, 1 adjudication, 1 finalised."
  if (!seriesList.length) return 'No series is assigned yet; assign readers on the Worklist page.';
  const counts = new Map();
  for (const series of seriesList) {
    const phase = seriesPhase(series);
    counts.set(phase, (counts.get(phase) || 0) + 1);
  }
  const parts = Object.keys(PHASES).filter((phase) => counts.has(phase)).map((phase) => `${counts.get(phase)} ${PHASES[phase].toLowerCase()}`);
  return `${seriesList.length} series: ${parts.join(', ')}.`;
}

async function main() {
  const { app } = appData();
  const status = document.getElementById('overview-status');
  const holder = el('div', { class: 'overview-holder' });
  app.append(holder);
  const openAudits = new Set();

  async function refresh(message = '') {
    app.dataset.ready = '0';
    const seriesList = await loadOverview();
    const { table, loaded } = overviewTable(seriesList, { openAudits, onReopened });
    holder.replaceChildren(seriesList.length ? table : '');
    status.textContent = [message, summary(seriesList)].filter(Boolean).join(' ');
    await loaded;
    app.dataset.ready = '1';
  }

  async function onReopened(reading, message) {
    try {
      await refresh(message);
    } catch (error) {
      status.textContent = `${message} The overview could not be reloaded: ${error.message}`;
      return;
    }
    // Focus where the reading is, its state now changed (the form that had it is gone).
    holder.querySelector(`td[data-reading="${reading.id}"]`)?.focus();
  }

  await refresh();
}

runPage(main);
