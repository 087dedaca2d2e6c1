// 送信ボックス: what the embedded default's outbox "sent" by SMS and e-mail, newest first,
// with the patient link clickable so a person trying the demo can play the patient.

import { fill, h } from './lib/dom.js';
import { dateTime } from './lib/format.js';
import { CHANNEL_LABELS } from './lib/labels.js';
import { listLoader } from './lib/lists.js';

export function outboxView(ctx, main) {
  const list = h('div', { class: 'outbox-list' });
  fill(main, h('section', { class: 'outbox' },
    h('h1', { class: 'view-title' }, '送信ボックス'),
    h('p', { class: 'hint' }, 'SMS・メールの送信先が設定されていないため、送信したメッセージはここに保管されます。リンクを開くと患者側の画面を確認できます。'),
    list));
  const refresh = listLoader(list, () => '/api/v1/outbox', (outbox) => fill(list,
    outbox.items.length === 0
      ? h('p', { class: 'empty' }, 'まだ送信したメッセージはありません。')
      : h('ol', { class: 'messages' }, outbox.items.map((m) => message(ctx, m)))));
  // A message is stored when its delivery is handled, which then records the outcome as an
  // event: refetch on any change.
  return { readModels: '*', refresh };
}

function message(ctx, m) {
  return h('li', { class: 'message', dataset: { channel: m.channel } },
    h('p', { class: 'message-head' },
      h('span', { class: 'channel' }, CHANNEL_LABELS[m.channel] ?? m.channel),
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
