// Shared page pieces: the keyboard help dialog, a confirmation dialog, buttons, starting a page.
import { el } from './api.js';

export function isTyping(event) {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') return true;
  return target.tagName === 'INPUT' && !['range', 'checkbox', 'radio', 'button'].includes(target.type);
}

export function helpDialog(shortcuts) {
  const rows = shortcuts.map(([keys, what]) => el('tr', {}, el('th', { scope: 'row' }, el('kbd', { text: keys })), el('td', { text: what })));
  const dialog = el('dialog', { class: 'help', 'aria-labelledby': 'help-title', 'data-testid': 'help' },
    el('h2', { id: 'help-title', text: 'Keyboard shortcuts' }),
    el('table', {}, el('tbody', {}, rows)),
    el('form', { method: 'dialog' }, el('button', { type: 'submit', text: 'Close (Esc)' })));
  document.body.append(dialog);
  return dialog;
}

export function confirmDialog({ title, message, confirm }) {
  return new Promise((resolve) => {
    const ok = el('button', { type: 'button', class: 'primary', text: confirm, 'data-testid': 'confirm' });
    const cancel = el('button', { type: 'button', text: 'Cancel' });
    const dialog = el('dialog', { class: 'confirm', role: 'alertdialog', 'aria-labelledby': 'confirm-title' },
      el('h2', { id: 'confirm-title', text: title }), el('p', { text: message }), el('div', { class: 'buttons' }, cancel, ok));
    const close = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    ok.addEventListener('click', () => close(true));
    cancel.addEventListener('click', () => close(false));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

export function button(text, { key, onclick, testid, pressed, title } = {}) {
  const node = el('button', { type: 'button', 'data-testid': testid, title: title || (key ? `${text} (${key})` : text), onclick },
    text, key ? el('kbd', { text: key }) : null);
  if (pressed !== undefined) node.setAttribute('aria-pressed', String(pressed));
  return node;
}

export function runPage(main) {
  // A page that cannot start (the label table or its data not reachable) says why instead of staying blank.
  // body[data-page-ready] says the page has drawn what it loads (the tests and screenshots wait for it).
  main().then(() => {
    document.body.dataset.pageReady = '1';
  }).catch((error) => {
    console.error(error);
    const app = document.getElementById('app');
    app?.append(el('p', { class: 'error', role: 'alert' }, `This page could not start: ${error.message}`));
  });
}
