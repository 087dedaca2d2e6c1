// スケジュール > 予約一覧 (R2, R4, R9) in three views, kept in the address like the day
// (`?view=`): one doctor's day on the slot grid (the default), that doctor's week, and every
// doctor's day side by side. On the grid every slot, closed ones too, has the person button
// that opens 予約受付 in the side panel (for those who may book), an appointment covers the
// slots its time covers, and on today a line marks the current time.

import { fill, h, icon } from './lib/dom.js';
import { radios } from './lib/forms.js';
import { BY_DAY, arrivalNote, dayFrame, getEveryPage, listLoader, saveToAddress } from './lib/lists.js';
import { entryName, longDate, shortDate, time, today, weekOf } from './lib/format.js';
import { STATUS_LABELS } from './lib/labels.js';

const VIEWS = [['day', '日'], ['week', '週'], ['doctors', '全医師']];

/** The week view shows Monday to Sunday of the chosen date's week and moves by a week. */
const BY_WEEK = {
  days: 7,
  back: '‹ 前週',
  backName: '前の週',
  forward: '翌週 ›',
  forwardName: '次の週',
  heading: (date) => {
    const week = weekOf(date);
    return `${longDate(week[0])}〜${shortDate(week[6])}`;
  },
};

export function scheduleView(ctx, main) {
  const address = new URLSearchParams(location.search);
  let view = VIEWS.some(([name]) => name === address.get('view')) ? address.get('view') : 'day';
  let allTimes = address.get('all_times') === 'true';
  // Bring the current time into view once the next answer is drawn: set by the person's own
  // changes (and the first load), never by a live refresh, which must leave the page be.
  let scrollToNow = allTimes;

  const doctorNote = h('span', { class: 'view-doctor' });
  const showDoctor = () => fill(doctorNote, view === 'doctors' ? ' 全医師' : ` 担当医師: ${ctx.doctorName(ctx.doctorId)}`);
  const switcher = radios({ legend: '表示', name: 'view', options: VIEWS, value: view });
  switcher.classList.add('view-switch');
  const allTimesBox = h('label', { class: 'checkbox all-times' },
    h('input', {
      type: 'checkbox',
      checked: allTimes,
      onchange: (e) => {
        allTimes = e.target.checked;
        scrollToNow = allTimes;
        refresh();
      },
    }),
    'すべての時間を表示する');
  const weekNote = h('p', { class: 'hint week-note' }, '月曜日から日曜日までの1週間を表示しています。日付を押すとその日の予約一覧を開きます。');
  const day = dayFrame({
    title: ['スケジュール > 予約一覧', doctorNote],
    tz: ctx.tz,
    onChange: () => {
      scrollToNow = allTimes;
      refresh();
    },
    extras: h('div', { class: 'view-controls' }, switcher, allTimesBox, weekNote),
  });
  fill(main, day.frame);

  const showView = () => {
    switcher.querySelector(`input[value="${view}"]`).checked = true;
    day.setStep(view === 'week' ? BY_WEEK : BY_DAY);
    allTimesBox.hidden = view === 'week';
    weekNote.hidden = view !== 'week';
    showDoctor();
  };
  showView();
  switcher.addEventListener('change', () => {
    view = switcher.querySelector('input:checked').value;
    showView();
    scrollToNow = allTimes;
    refresh();
  });
  /** A week's day heading: that day in the day view. */
  const openDay = (date) => {
    view = 'day';
    showView();
    switcher.querySelector('input:checked').focus();
    day.go(date);
  };

  // The now lines of the grids on the page, kept at the current time every minute.
  let nowLines = [];
  const placeNowLines = () => {
    const now = Date.now();
    const shown = day.date() === today(ctx.tz);
    for (const { line, slots } of nowLines) {
      line.hidden = !shown;
      line.style.setProperty('--at', rowAt(slots, now));
      fill(line.querySelector('.now-label'), `現在 ${time(now, ctx.tz)}`);
    }
  };
  everyMinute(placeNowLines);

  const schedulePath = (date, doctorId, all) => `/api/v1/schedule?date=${date}&doctor_id=${doctorId}${all ? '&all_times=true' : ''}`;
  const requests = () => {
    saveToAddress({ date: day.date(), all_times: allTimes ? 'true' : null, view: view === 'day' ? null : view });
    if (view === 'week') return { shown: 'week', paths: weekOf(day.date()).map((d) => schedulePath(d, ctx.doctorId, false)) };
    if (view === 'doctors') return { shown: 'doctors', paths: ctx.doctors.map((d) => schedulePath(day.date(), d.id, allTimes)) };
    return { shown: 'day', paths: [schedulePath(day.date(), ctx.doctorId, allTimes)] };
  };
  const load = async ({ shown, paths }) => ({ shown, answers: await Promise.all(paths.map(getEveryPage)) });

  /** The schedules on screen, for 予約受付's question about a double booking. */
  let onScreen = [];

  const show = ({ shown, answers }) => {
    onScreen = answers;
    nowLines = [];
    const grid = (schedule, doctor) => {
      const drawn = slotGrid(ctx, schedule, doctor);
      if (drawn.nowLine) nowLines.push({ line: drawn.nowLine, slots: schedule.slots });
      return drawn;
    };
    if (shown === 'week') {
      fill(day.list, weekColumns(ctx, answers, openDay));
    } else if (shown === 'doctors') {
      const columns = ctx.doctors.map((doctor, i) => ({ doctor, drawn: grid(answers[i], doctor) }));
      fill(day.list,
        outsideHours(ctx, columns.flatMap(({ doctor, drawn }) => drawn.elsewhere.map((entry) => ({ entry, doctor })))),
        columns.length === 0
          ? h('p', { class: 'empty' }, '医師が登録されていません。')
          : h('div', { class: 'doctor-columns' }, columns.map(({ doctor, drawn }) => h('section', { class: 'doctor-column' },
            h('h3', { class: 'doctor-name' }, doctor.name),
            drawn.element))));
    } else {
      const drawn = grid(answers[0], null);
      fill(day.list, outsideHours(ctx, drawn.elsewhere.map((entry) => ({ entry, doctor: null }))), drawn.element);
    }
    placeNowLines();
    if (scrollToNow) {
      scrollToNow = false;
      nowLines.find(({ line }) => !line.hidden)?.line.scrollIntoView({ block: 'center' });
    }
    ctx.booking.markChosenSlot();
  };

  const refresh = listLoader(day.list, requests, show, load);

  return {
    // `directory`: the doctor's hours and closed days draw the slot grid.
    readModels: ['schedule', 'presence', 'directory'],
    refresh,
    appointmentsShown: (doctorId) => onScreen.filter((s) => s.doctor_id === doctorId).flatMap((s) => s.entries),
    doctorChanged() {
      showDoctor();
      // Every doctor is on the page already; the others show the chosen doctor's days.
      if (view !== 'doctors') refresh();
    },
  };
}

/** Run `action` at the start of every minute. */
function everyMinute(action) {
  const next = () => setTimeout(() => {
    action();
    next();
  }, 60000 - (Date.now() % 60000));
  next();
}

/**
 * Where `instant` is on the grid, in rows from its top: inside a slot, that slot's row and the
 * part of it gone by; between slots (hidden times), where the next slot starts; after the last,
 * the grid's end.
 */
function rowAt(slots, instant) {
  for (const [row, slot] of slots.entries()) {
    const start = Date.parse(slot.start_at);
    const end = Date.parse(slot.end_at);
    if (instant < start) return row;
    if (instant < end) return row + (instant - start) / (end - start);
  }
  return slots.length;
}

/**
 * Each entry's place on the grid, in rows: from where it starts to where it ends (at least one
 * row, to stay readable), in a lane beside the entries it overlaps. An entry that starts in no
 * shown slot has no place (`row` -1): it is listed outside the grid.
 */
function placeEntries(slots, entries) {
  const placed = entries.map((entry) => {
    const start = Date.parse(entry.start_at);
    const row = slots.findIndex((s) => Date.parse(s.start_at) <= start && start < Date.parse(s.end_at));
    const top = rowAt(slots, start);
    return { entry, row, top, bottom: Math.max(rowAt(slots, Date.parse(entry.end_at)), top + 1), lane: 0, lanes: 1 };
  });
  // Entries that overlap, directly or through others, share the width in lanes.
  let group = [];
  let laneEnds = [];
  let groupEnd = -Infinity;
  const closeGroup = () => {
    for (const p of group) p.lanes = laneEnds.length;
    group = [];
    laneEnds = [];
  };
  for (const p of placed.filter((q) => q.row >= 0).sort((a, b) => a.top - b.top || b.bottom - a.bottom)) {
    if (p.top >= groupEnd) closeGroup();
    const free = laneEnds.findIndex((end) => end <= p.top);
    p.lane = free >= 0 ? free : laneEnds.length;
    laneEnds[p.lane] = p.bottom;
    group.push(p);
    groupEnd = Math.max(groupEnd, p.bottom);
  }
  closeGroup();
  return placed;
}

/**
 * One doctor's day on the slot grid: a row per slot with its time, the entries that start in
 * it and its person button, and the now line. `doctor` is the column's doctor in the
 * all-doctors view (booking there makes them the doctor in charge), null for the current
 * doctor. Also the entries that start in no shown slot (`elsewhere`).
 */
function slotGrid(ctx, schedule, doctor) {
  const { slots } = schedule;
  const placed = placeEntries(slots, schedule.entries);
  const onRow = slots.map(() => []);
  for (const p of placed) if (p.row >= 0) onRow[p.row].push(p);
  const elsewhere = placed.filter((p) => p.row < 0).map((p) => p.entry);
  if (slots.length === 0) {
    return { element: h('p', { class: 'empty' }, 'この日は診療時間がありません。「すべての時間を表示する」で全時間帯を表示できます。'), elsewhere, nowLine: null };
  }
  const nowLine = h('div', { class: 'now-line', hidden: true }, h('span', { class: 'now-label' }));
  const element = h('div', { class: 'slot-grid' },
    h('ol', { class: 'slots', 'aria-label': doctor ? `${doctor.name}の予約枠` : '予約枠' },
      slots.map((slot, row) => slotRow(ctx, slot, onRow[row].map((p) => placedEntry(ctx, p, row)), doctor))),
    nowLine);
  return { element, elsewhere, nowLine };
}

function slotRow(ctx, slot, entries, doctor) {
  const label = time(slot.start_at, ctx.tz);
  return h('li', { class: `slot${slot.closed ? ' closed' : ''}`, dataset: doctor ? { start: slot.start_at, doctorId: doctor.id } : { start: slot.start_at } },
    h('span', { class: 'slot-head' },
      h('span', { class: 'slot-time' }, label),
      slot.closed ? h('span', { class: 'closed-mark' }, '休診') : null),
    h('ul', { class: 'entries' }, entries),
    ctx.readOnly ? null : h('button', {
      type: 'button',
      class: 'book',
      // Closed slots can be booked too (R2); the name says which it is, and for whom.
      'aria-label': `${label}${slot.closed ? '（休診枠）' : ''} の予約受付${doctor ? `（${doctor.name}）` : ''}`,
      title: '予約受付',
      dataset: { focusKey: doctor ? `slot-${doctor.id}-${slot.start_at}` : `slot-${slot.start_at}` },
      onclick: () => {
        if (doctor) ctx.chooseDoctor(doctor.id);
        ctx.booking.show(slot.start_at);
      },
    }, icon('person')));
}

/** An entry drawn over the rows its time covers, from its slot's `row`, in its lane. */
function placedEntry(ctx, { entry, top, bottom, lane, lanes }, row) {
  const item = h('li', { class: 'placed' }, entryButton(ctx, entry));
  item.style.setProperty('--top', top - row);
  item.style.setProperty('--rows', bottom - top);
  item.style.setProperty('--lane', lane);
  item.style.setProperty('--lanes', lanes);
  return item;
}

/** The entries at times the grid does not show, with their doctor in the all-doctors view. */
function outsideHours(ctx, items) {
  if (items.length === 0) return null;
  return h('div', { class: 'outside-hours' },
    h('p', {}, '表示中の時間外の予約があります。「すべての時間を表示する」で枠に表示されます。'),
    h('ul', { class: 'entries' }, items.map(({ entry, doctor }) => h('li', {},
      doctor ? h('span', { class: 'entry-doctor' }, doctor.name) : null,
      entryButton(ctx, entry)))));
}

/** The current doctor's week: a column per day, its heading opening that day. */
function weekColumns(ctx, answers, openDay) {
  const current = today(ctx.tz);
  return h('div', { class: 'week' }, answers.map((answer) => h('section', { class: 'week-day' },
    h('h3', { class: 'week-day-title' },
      h('button', {
        type: 'button',
        class: 'link',
        'aria-current': answer.date === current ? 'date' : null,
        title: 'この日の予約一覧を開く',
        dataset: { focusKey: `day-${answer.date}` },
        onclick: () => openDay(answer.date),
      }, shortDate(answer.date))),
    answer.entries.length
      ? h('ul', { class: 'entries' }, answer.entries.map((e) => h('li', {}, entryButton(ctx, e))))
      : h('p', { class: 'empty' }, '予約なし'))));
}

/** An appointment: its video mark (R9), name or title, times and status. */
function entryButton(ctx, entry) {
  const name = entryName(entry);
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
