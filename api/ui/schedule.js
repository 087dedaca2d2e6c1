// スケジュール > 予約一覧 (R2, R4, R9): one doctor's day on the slot grid. Every slot, closed
// ones too, has the person button that opens 予約受付 in the side panel.

import { fill, h, icon } from './lib/dom.js';
import { dateFromAddress, dayNavigation, listLoader, saveToAddress } from './lib/lists.js';
import { time } from './lib/format.js';

export const STATUS_LABELS = { booked: '予約済', in_call: '通話中', ended: '終了', cancelled: 'キャンセル' };

export function scheduleView(ctx, main) {
  let date = dateFromAddress(ctx.tz);
  let allTimes = new URLSearchParams(location.search).get('all_times') === 'true';

  const show = (schedule) => {
    const slots = schedule.slots;
    const onSlot = new Map(slots.map((s) => [s.start_at, []]));
    const elsewhere = [];
    for (const entry of schedule.entries) {
      // An entry sits on the slot its start falls in (a call created "now" starts mid-slot).
      const slot = slots.find((s) => Date.parse(s.start_at) <= Date.parse(entry.start_at) && Date.parse(entry.start_at) < Date.parse(s.end_at));
      if (slot) onSlot.get(slot.start_at).push(entry);
      else elsewhere.push(entry);
    }
    fill(main,
      h('section', { class: 'schedule', 'aria-labelledby': 'schedule-heading' },
        h('h2', { id: 'schedule-heading', class: 'view-title' }, 'スケジュール > 予約一覧',
          h('span', { class: 'view-doctor' }, ` 担当医師: ${ctx.doctorName(ctx.doctorId)}`)),
        dayNavigation({ date, tz: ctx.tz, onChange: (d) => { date = d; refresh(); } }),
        h('label', { class: 'checkbox' },
          h('input', { type: 'checkbox', checked: allTimes, onchange: (e) => { allTimes = e.target.checked; refresh(); } }),
          'すべての時間を表示する'),
        elsewhere.length
          ? h('div', { class: 'outside-hours' },
            h('p', {}, '表示中の時間外の予約があります。「すべての時間を表示する」で枠に表示されます。'),
            h('ul', { class: 'entries' }, elsewhere.map((e) => h('li', {}, entryButton(ctx, e)))))
          : null,
        slots.length === 0
          ? h('p', { class: 'empty' }, 'この日は診療時間がありません。「すべての時間を表示する」で全時間帯を表示できます。')
          : h('ol', { class: 'slots' }, slots.map((slot) => slotRow(ctx, slot, onSlot.get(slot.start_at))))));
  };

  const refresh = listLoader(main, () => {
    saveToAddress({ date, all_times: allTimes ? 'true' : null });
    return `/api/v1/schedule?date=${date}&doctor_id=${ctx.doctorId}${allTimes ? '&all_times=true' : ''}`;
  }, show);

  return { readModel: 'schedule', refresh, doctorChanged: refresh };
}

function slotRow(ctx, slot, entries) {
  const label = time(slot.start_at, ctx.tz);
  return h('li', { class: `slot${slot.closed ? ' closed' : ''}`, dataset: { start: slot.start_at } },
    h('span', { class: 'slot-time' }, label),
    slot.closed ? h('span', { class: 'closed-mark' }, '休診') : null,
    h('ul', { class: 'entries' }, entries.map((e) => h('li', {}, entryButton(ctx, e)))),
    h('button', {
      type: 'button',
      class: 'book',
      'aria-label': `${label} の予約受付`,
      title: '予約受付',
      onclick: () => ctx.panel.showBooking(slot.start_at),
    }, icon('person')));
}

/** An appointment on the grid: its video mark (R9), name or title, times and status. */
export function entryButton(ctx, entry) {
  const name = entry.display_name || (entry.kind === 'video_url' ? '(タイトルなし)' : '');
  return h('button', {
    type: 'button',
    class: `entry status-${entry.status}${entry.video ? ' video' : ''}`,
    dataset: { appointmentId: entry.appointment_id },
    onclick: () => ctx.panel.showAppointment(entry.appointment_id),
  },
  entry.video ? [icon('video'), h('span', { class: 'visually-hidden' }, 'ビデオ通話 ')] : null,
  h('span', { class: 'entry-name' }, name),
  h('span', { class: 'entry-time' }, `${time(entry.start_at, ctx.tz)}〜${time(entry.end_at, ctx.tz)}`),
  entry.status !== 'booked' ? h('span', { class: 'entry-status' }, STATUS_LABELS[entry.status] ?? entry.status) : null);
}
