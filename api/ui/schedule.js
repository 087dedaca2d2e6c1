// スケジュール > 予約一覧 (R2, R4, R9): one doctor's day on the slot grid. Every slot, closed
// ones too, has the person button that opens 予約受付 in the side panel.

import { fill, h, icon } from './lib/dom.js';
import { arrivalNote, dayFrame, getEveryPage, listLoader, saveToAddress } from './lib/lists.js';
import { time } from './lib/format.js';
import { STATUS_LABELS } from './lib/labels.js';

export function scheduleView(ctx, main) {
  let allTimes = new URLSearchParams(location.search).get('all_times') === 'true';
  const doctorNote = h('span', { class: 'view-doctor' });
  const showDoctor = () => fill(doctorNote, ` 担当医師: ${ctx.doctorName(ctx.doctorId)}`);
  showDoctor();
  const day = dayFrame({
    title: ['スケジュール > 予約一覧', doctorNote],
    tz: ctx.tz,
    onChange: () => refresh(),
    extras: h('label', { class: 'checkbox' },
      h('input', { type: 'checkbox', checked: allTimes, onchange: (e) => { allTimes = e.target.checked; refresh(); } }),
      'すべての時間を表示する'),
  });
  fill(main, day.frame);
  /** The appointments on screen, for 予約受付's question about a double booking. */
  let shown = { doctorId: null, entries: [] };

  const show = (schedule) => {
    shown = { doctorId: schedule.doctor_id, entries: schedule.entries };
    const slots = schedule.slots;
    const onSlot = new Map(slots.map((s) => [s.start_at, []]));
    const elsewhere = [];
    for (const entry of schedule.entries) {
      // An entry sits on the slot its start falls in (a call created "now" starts mid-slot).
      const start = Date.parse(entry.start_at);
      const slot = slots.find((s) => Date.parse(s.start_at) <= start && start < Date.parse(s.end_at));
      if (slot) onSlot.get(slot.start_at).push(entry);
      else elsewhere.push(entry);
    }
    fill(day.list,
      elsewhere.length
        ? h('div', { class: 'outside-hours' },
          h('p', {}, '表示中の時間外の予約があります。「すべての時間を表示する」で枠に表示されます。'),
          h('ul', { class: 'entries' }, elsewhere.map((e) => h('li', {}, entryButton(ctx, e)))))
        : null,
      slots.length === 0
        ? h('p', { class: 'empty' }, 'この日は診療時間がありません。「すべての時間を表示する」で全時間帯を表示できます。')
        : h('ol', { class: 'slots', 'aria-label': '予約枠' }, slots.map((slot) => slotRow(ctx, slot, onSlot.get(slot.start_at)))));
    ctx.booking.markChosenSlot();
  };

  const refresh = listLoader(day.list, () => {
    saveToAddress({ date: day.date(), all_times: allTimes ? 'true' : null });
    return `/api/v1/schedule?date=${day.date()}&doctor_id=${ctx.doctorId}${allTimes ? '&all_times=true' : ''}`;
  }, show, getEveryPage);

  return {
    readModels: ['schedule', 'presence'],
    refresh,
    appointmentsShown: (doctorId) => (doctorId === shown.doctorId ? shown.entries : []),
    doctorChanged() {
      showDoctor();
      refresh();
    },
  };
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
      // Closed slots can be booked too (R2); the name says which it is.
      'aria-label': `${label}${slot.closed ? '(休診枠)' : ''} の予約受付`,
      title: '予約受付',
      dataset: { focusKey: `slot-${slot.start_at}` },
      onclick: () => ctx.booking.show(slot.start_at),
    }, icon('person')));
}

/** An appointment on the grid: its video mark (R9), name or title, times and status. */
function entryButton(ctx, entry) {
  const name = entry.display_name || (entry.kind === 'video_url' ? '(タイトルなし)' : '');
  return h('button', {
    type: 'button',
    class: `entry status-${entry.status}${entry.video ? ' video' : ''}`,
    dataset: { appointmentId: entry.appointment_id, focusKey: `entry-${entry.appointment_id}` },
    onclick: () => ctx.appointment.show(entry.appointment_id),
  },
  entry.video ? [icon('video'), h('span', { class: 'visually-hidden' }, 'ビデオ通話 ')] : null,
  h('span', { class: 'entry-name' }, name),
  h('span', { class: 'entry-time' }, `${time(entry.start_at, ctx.tz)}〜${time(entry.end_at, ctx.tz)}`),
  entry.status !== 'booked' ? h('span', { class: 'entry-status' }, STATUS_LABELS[entry.status] ?? entry.status) : null,
  arrivalNote(entry, ctx.tz));
}
