// 送信ボックス: every patient link the clinic sent, newest first, with where it stands
// (送信済み, 配信済み, 配信失敗…). Where no provider is configured for a channel the message is
// kept here instead, with the patient link clickable so a person trying the demo can play
// the patient.

import { fill, h } from './lib/dom.js';
import { dateTime, destinationForPeople } from './lib/format.js';
import { CHANNEL_LABELS } from './lib/labels.js';
import { listLoader } from './lib/lists.js';
import { deliveryState } from './lib/messages.js';

export function outboxView(ctx, main) {
  const list = h('div', { class: 'outbox-list' });
  const hint = h('p', { class: 'hint' });
  fill(main, h('section', { class: 'outbox' },
    h('h1', { class: 'view-title' }, '送信ボックス'),
    hint,
    list));
  const refresh = listLoader(list, () => '/api/v1/outbox', (outbox) => {
    fill(hint, providersHint(outbox));
    fill(list,
      outbox.items.length === 0
        ? h('p', { class: 'empty' }, 'まだ送信したメッセージはありません。')
        : h('ol', { class: 'messages' }, outbox.items.map((m) => message(ctx, m))));
  });
  return { readModels: ['deliveries'], refresh };
}

/** Where each channel's messages go now, in plain words. */
function providersHint(outbox) {
  const how = (channel, provider) => provider === 'outbox'
    ? `${CHANNEL_LABELS[channel]}は送信設定がないため、送信せずにここに保管します`
    : `${CHANNEL_LABELS[channel]}は送信しています`;
  const kept = outbox.sms_provider === 'outbox' || outbox.email_provider === 'outbox';
  return `${how('sms', outbox.sms_provider)}。${how('email', outbox.email_provider)}。`
    + (kept ? '保管したメッセージのリンクを開くと、患者側の画面を確認できます。' : '');
}

function message(ctx, m) {
  return h('li', { class: 'message', dataset: { channel: m.channel, status: m.status } },
    h('p', { class: 'message-head' },
      h('span', { class: 'channel' }, CHANNEL_LABELS[m.channel] ?? m.channel),
      h('span', { class: 'destination' }, destinationForPeople(m.channel, m.destination)),
      h('time', { datetime: m.requested_at }, dateTime(m.requested_at, ctx.tz))),
    h('p', { class: 'delivery-state' }, deliveryState(m)),
    m.subject ? h('p', { class: 'subject' }, m.subject) : null,
    m.body ? h('p', { class: 'body' }, linkify(m.body)) : null);
}

/** The body as text, with its http(s) links as anchors. */
function linkify(text) {
  return text.split(/(https?:\/\/[^\s]+)/g).map((part, i) =>
    i % 2 === 1 ? h('a', { href: part, target: '_blank', rel: 'noopener' }, part) : part);
}
