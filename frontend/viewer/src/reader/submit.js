// Submitting the reading: everything saved first; then, if some slices are neither painted nor marked
// reviewed, a dialog lists them (numbered as the viewer shows them, from 1) with a way to each, and
// asks before submitting anyway.
import { el, request } from '../lib/api.js';
import { confirmDialog } from '../lib/ui.js';

const SUBMIT_WARNING = 'After submitting you cannot change your masks (an admin can reopen the reading). '
  + 'The other reader\'s masks stay hidden until both have submitted.';

export async function submitReading({ app, page, masks, unsaved, review, viewer, status, refresh }) {
  if (page.submitted) return;
  await Promise.all([masks.flush(), review.resend()]);
  if (unsaved()) {
    status.note('Resolve the unsaved slices before submitting.');
    return;
  }
  const progress = await review.refresh();
  const left = progress ? progress.unreviewed_slices : [];
  const ok = left.length
    ? await unreviewedDialog(left, progress.slice_count, (z) => {
      viewer.goTo(z);
      viewer.element.focus();
    })
    : await confirmDialog({ title: 'Submit this reading?', message: SUBMIT_WARNING, confirm: 'Submit' });
  if (!ok) return;
  try {
    await request(`readings/${page.readingId}/submit/`, { method: 'POST' });
    page.submitted = true;
    app.dataset.state = 'submitted';
    refresh();
  } catch (error) {
    status.note(`Submit failed: ${error.message}`);
  }
}

function unreviewedDialog(slices, sliceCount, goTo) {
  // true: submit anyway; false: cancel, or the reader went to one of the slices.
  return new Promise((resolve) => {
    const dialog = el('dialog', { class: 'confirm unreviewed', role: 'alertdialog', 'aria-labelledby': 'unreviewed-title',
      'data-testid': 'unreviewed-dialog' });
    const finish = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    const links = slices.map((z) => el('li', {}, el('button', {
      type: 'button', class: 'link', 'data-testid': 'go-to-slice', 'data-z': String(z), 'aria-label': `Go to slice ${z + 1}`,
      onclick: () => {
        finish(false);
        goTo(z);
      },
    }, `Slice ${z + 1}`)));
    const cancel = el('button', { type: 'button', text: 'Cancel', onclick: () => finish(false) });
    const submit = el('button', { type: 'button', class: 'primary', text: 'Submit anyway', 'data-testid': 'confirm',
      onclick: () => finish(true) });
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      finish(false);
    });
    dialog.append(
      el('h2', { id: 'unreviewed-title', text: `${slices.length} of ${sliceCount} slices not done` }),
      el('p', { text: 'These slices are neither painted nor marked reviewed (V). Go to one, or submit anyway.' }),
      el('ul', { class: 'unreviewed-slices' }, links),
      el('p', { text: SUBMIT_WARNING }),
      el('div', { class: 'buttons' }, cancel, submit));
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
