// The send pop-up (R14, R15): SMS or e-mail, a destination checked by the server exactly as
// the send will be, 「送信する」 enabled only for a valid one, and 「キャンセル」. A wrong
// destination is pointed out once the person leaves the field (or tries to send), not while
// they are still typing it.

import { post } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { clearErrors, field, formError, radios, setFieldError, showProblem } from './lib/forms.js';
import { describe, destinationMessage } from './lib/messages.js';

const CHECK_DELAY_MS = 250;

/**
 * Ask where to send the patient URL of `appointment`, and send it. Resolves to the updated
 * appointment, or null when the person chose not to send.
 */
export function sendDialog(appointment) {
  const previous = appointment.video?.delivery;
  let resend = Boolean(previous);
  return new Promise((resolve) => {
    let channel = previous?.channel ?? 'sms';
    let checked = null; // the destination the server accepted, as typed
    let serial = 0;
    let timer = null;
    /** The field was left (or a send tried): its error may show. */
    let touched = false;
    /** What was typed for each channel: a number never lands in the e-mail field. */
    const typed = { sms: '', email: '' };
    if (previous) typed[previous.channel] = previous.destination;

    const input = h('input', { type: 'tel', autocomplete: 'off', value: typed[channel] });
    const channelField = radios({ legend: '送信方法', name: 'channel', options: [['sms', 'SMS'], ['email', 'メール']], value: channel });
    const destinationField = field({ label: '送信先電話番号', name: 'destination', control: input, required: true });
    const submit = h('button', { type: 'submit', class: 'primary', disabled: true }, '送信する');
    const form = h('form', { class: 'send-form', novalidate: true },
      h('h2', { id: 'send-title' }, resend ? 'ビデオ通話URLの再送' : 'ビデオ通話URLの送信'),
      h('p', {}, '患者用のビデオ通話URLを送信します。送信方法を選び、送信先を入力してください。'),
      channelField,
      destinationField,
      formError(),
      // Right after booking, 「キャンセル」 could read as cancelling the booking: say what it does (R14).
      resend ? null : h('p', { class: 'hint' }, '「キャンセル」を押しても予約はそのままです。URLはあとで「URL送信」から送れます。'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => dialog.close() }, 'キャンセル'),
        submit));
    const dialog = h('dialog', { class: 'send-dialog', 'aria-labelledby': 'send-title' }, form);

    const shapeInput = () => {
      const sms = channel === 'sms';
      input.type = sms ? 'tel' : 'email';
      input.inputMode = sms ? 'tel' : 'email';
      input.placeholder = sms ? '例: 090-1234-5678' : '例: hanako@example.jp';
      fill(destinationField.querySelector('label'), sms ? '送信先電話番号' : '送信先メールアドレス', h('span', { class: 'required' }, '必須'));
    };

    // Ask the server, which validates exactly as the send will; only the newest answer counts.
    const check = async () => {
      serial += 1;
      const mine = serial;
      const value = input.value.trim();
      checked = null;
      submit.disabled = true;
      if (!value) {
        setFieldError(form, 'destination', '');
        return;
      }
      try {
        await post('/api/v1/destinations/check', { channel, destination: value });
        if (mine !== serial) return;
        checked = value;
        submit.disabled = false;
        setFieldError(form, 'destination', '');
      } catch (problem) {
        if (mine !== serial) return;
        if (touched) setFieldError(form, 'destination', problem.status === 422 ? destinationMessage(channel, problem) : describe(problem));
      }
    };
    const checkSoon = () => {
      submit.disabled = true;
      clearTimeout(timer);
      timer = setTimeout(check, CHECK_DELAY_MS);
    };

    channelField.addEventListener('change', (event) => {
      typed[channel] = input.value;
      channel = event.target.value;
      input.value = typed[channel];
      touched = false;
      setFieldError(form, 'destination', '');
      shapeInput();
      check();
    });
    input.addEventListener('input', () => {
      // While typing, an error from before is out of date.
      if (!touched) setFieldError(form, 'destination', '');
      checkSoon();
    });
    input.addEventListener('blur', () => {
      touched = true;
      // Already accepted as it stands: leave 「送信する」 as it is (the blur may be its click).
      if (checked !== null && checked === input.value.trim()) return;
      clearTimeout(timer);
      check();
    });

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (checked === null || checked !== input.value.trim()) {
        touched = true;
        check();
        return;
      }
      clearErrors(form);
      submit.disabled = true;
      const send = () => post(`/api/v1/appointments/${appointment.id}/${resend ? 'resend-url' : 'send-url'}`, { channel, destination: checked });
      try {
        let updated;
        try {
          updated = await send();
        } catch (problem) {
          // Someone sent it first while this dialog was open: this is a resend then.
          if (problem.code !== 'already_sent') throw problem;
          resend = true;
          updated = await send();
        }
        dialog.returnValue = 'sent';
        dialog.sent = updated;
        dialog.close();
      } catch (problem) {
        if (problem.field === 'destination') setFieldError(form, 'destination', destinationMessage(channel, problem));
        else showProblem(form, problem);
        submit.disabled = false;
      }
    });

    dialog.addEventListener('close', () => {
      clearTimeout(timer);
      dialog.remove();
      resolve(dialog.sent ?? null);
    });
    shapeInput();
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
    if (input.value) check();
  });
}
