// Small shared pieces of the clinic UI: copying a URL, a confirmation dialog, request keys.

import { fill, h } from './dom.js';

/** Copy `text`, telling the person in `status` (an aria-live element) that it worked. */
async function copyText(text, status) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (plain http on a LAN): fall back to a selected, hidden text area.
    const area = h('textarea', { class: 'visually-hidden', readonly: true }, text);
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  fill(status, 'コピーしました');
  setTimeout(() => fill(status, ''), 3000);
}

/** A copy button with its own 「コピーしました」 right beside it. */
export function copyButton(label, action, text) {
  const copied = h('span', { class: 'copied', 'aria-live': 'polite' });
  return h('span', { class: 'copy' },
    h('button', { type: 'button', dataset: { action }, onclick: () => copyText(text, copied) }, label),
    copied);
}

/** A modal confirmation; resolves true when the person confirms. */
export function confirmDialog({ title, message, confirm, cancel = '戻る', danger = false }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', {}, message),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => dialog.close('no') }, cancel),
        h('button', { type: 'button', class: danger ? 'danger' : 'primary', onclick: () => dialog.close('yes') }, confirm)));
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'yes');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * Idempotency-Keys for one form: the same key while the request is the same (a retry after a
 * lost answer books once), a new one when the person changed what they send.
 */
export function requestKeys() {
  let sent = null;
  let key = null;
  return {
    for(body) {
      const text = JSON.stringify(body);
      if (text !== sent) {
        sent = text;
        key = requestKey();
      }
      return key;
    },
  };
}

function requestKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; the bytes alone do not.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}
