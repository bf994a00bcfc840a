// Worklist: the user's readings with state and progress; admins assign readers below it and switch
// AI pre-annotation per series (preannotation.js).
import { appData, el, getJson, postJson } from '../lib/api.js';
import { preannotationSwitches } from './preannotation.js';

async function load() {
  const table = document.getElementById('worklist');
  const status = document.getElementById('worklist-status');
  const readings = await getJson('readings/?mine=1');
  table.tBodies[0].replaceChildren(...readings.map((reading) => {
    const isAdjudication = reading.role === 'adjudicator';
    const href = isAdjudication ? `/adjudicate/${reading.series_id}/` : `/read/${reading.id}/`;
    const progress = el('progress', { max: String(reading.slice_count), value: String(reading.slices_annotated), 'aria-label': `slices annotated of ${reading.slice_count}` });
    return el('tr', { 'data-reading': String(reading.id) },
      el('td', { text: reading.patient }), el('td', { text: `${reading.visit_label || ''} ${reading.visit_date}` }),
      el('td', { text: `#${reading.series_id}` }), el('td', { text: reading.role.replace('_', ' ') }), el('td', { text: reading.state.replace('_', ' ') }),
      el('td', {}, isAdjudication ? '' : progress, isAdjudication ? '' : ` ${reading.slices_annotated} / ${reading.slice_count}`),
      el('td', {}, el('a', { href, 'data-testid': `open-${reading.id}` }, isAdjudication ? 'Adjudicate' : reading.state === 'submitted' ? 'View' : 'Read')));
  }));
  table.hidden = readings.length === 0;
  status.textContent = readings.length ? `${readings.length} reading(s)` : 'Nothing assigned to you.';
}

function assignForm() {
  const form = document.getElementById('assign-form');
  if (!form) return;
  const status = document.getElementById('assign-status');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    try {
      await postJson(`series/${values.series}/readings/`, { reader_1: values.reader_1, reader_2: values.reader_2, adjudicator: values.adjudicator });
      status.textContent = `Series #${values.series} assigned to ${values.reader_1}, ${values.reader_2} and ${values.adjudicator}.`;
      await Promise.all([load(), preannotationSwitches()]);
    } catch (error) {
      status.textContent = `Not assigned: ${error.message}`;
    }
  });
}

appData();
assignForm();
load().catch((error) => {
  document.getElementById('worklist-status').textContent = `Could not load the worklist: ${error.message}`;
});
preannotationSwitches().catch((error) => {
  document.getElementById('preannotation-status').textContent = `Could not load the assigned series: ${error.message}`;
});
