// 送信ボックス: what the embedded default's outbox "sent" by SMS and e-mail, newest first,
// with the patient link clickable so a person trying the demo can play the patient.

import { get } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { dateTime } from './lib/format.js';
import { describe } from './lib/messages.js';

const CHANNELS = { sms: 'SMS', email: 'メール' };

export function outboxView(ctx, main) {
  const refresh = async () => {
    let list;
    try {
      list = await get('/api/v1/outbox');
    } catch (problem) {
      fill(main, h('p', { class: 'form-error', role: 'alert' }, describe(problem)));
      return;
    }
    fill(main,
      h('section', { class: 'outbox', 'aria-labelledby': 'outbox-heading' },
        h('h2', { id: 'outbox-heading', class: 'view-title' }, '送信ボックス'),
        h('p', { class: 'hint' }, 'SMS・メールの送信先が設定されていないため、送信したメッセージはここに保管されます。リンクを開くと患者側の画面を確認できます。'),
        list.items.length === 0
          ? h('p', { class: 'empty' }, 'まだ送信したメッセージはありません。')
          : h('ol', { class: 'messages' }, list.items.map((m) => message(ctx, m)))));
  };
  // A message is stored when its delivery is handled, which then records the outcome as an
  // event: refetch on any change.
  return { readModel: '*', refresh };
}

function message(ctx, m) {
  return h('li', { class: 'message', dataset: { channel: m.channel } },
    h('p', { class: 'message-head' },
      h('span', { class: 'channel' }, CHANNELS[m.channel] ?? m.channel),
      h('span', { class: 'destination' }, m.destination),
      h('time', { datetime: m.created_at }, dateTime(m.created_at, ctx.tz))),
    m.subject ? h('p', { class: 'subject' }, m.subject) : null,
    h('p', { class: 'body' }, linkify(m.body)));
}

/** The body as text, with its http(s) links as anchors. */
function linkify(text) {
  return text.split(/(https?:\/\/[^\s]+)/g).map((part, i) =>
    i % 2 === 1 ? h('a', { href: part, target: '_blank', rel: 'noopener' }, part) : part);
}
