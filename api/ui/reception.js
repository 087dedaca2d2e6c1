// 受付一覧 (R4, R17): the day's in-clinic bookings for every doctor. A video booking's name
// carries the camera icon whose tooltip reads 「ビデオ通話での診察です」; the name opens the
// details, from which 「診察をはじめる」 opens the call screen.

import { fill, h, icon } from './lib/dom.js';
import { arrivalNote, dayFrame, getEveryPage, listLoader, saveToAddress } from './lib/lists.js';
import { time } from './lib/format.js';
import { MODE_LABELS, STATUS_LABELS } from './lib/labels.js';

const VIDEO_TOOLTIP = 'ビデオ通話での診察です';

export function receptionView(ctx, main) {
  const day = dayFrame({ title: '受付一覧', tz: ctx.tz, onChange: () => refresh() });
  fill(main, day.frame);

  const show = (list) => fill(day.list,
    list.entries.length === 0
      ? h('p', { class: 'empty' }, 'この日の受付はありません。')
      : h('table', { class: 'reception-table' },
        h('thead', {}, h('tr', {}, ['時間', '患者名', 'カルテ番号', '診療メニュー', '診察方式', '担当医師', '状態'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, list.entries.map((e) => row(ctx, e)))));

  const refresh = listLoader(day.list, () => {
    saveToAddress({ date: day.date() });
    return `/api/v1/reception?date=${day.date()}`;
  }, show, getEveryPage);
  return { readModels: ['reception', 'presence'], refresh };
}

function row(ctx, entry) {
  const tooltipId = `video-tip-${entry.appointment_id}`;
  return h('tr', { class: `status-${entry.status}`, dataset: { appointmentId: entry.appointment_id } },
    h('td', {}, `${time(entry.start_at, ctx.tz)}〜${time(entry.end_at, ctx.tz)}`),
    h('td', { class: 'patient' },
      entry.video
        // Focusable so that keyboard users can read the tooltip too; named by it.
        ? h('span', { class: 'has-tooltip video-mark', tabindex: '0', role: 'img', 'aria-labelledby': tooltipId },
          icon('video'),
          h('span', { class: 'tooltip', role: 'tooltip', id: tooltipId }, VIDEO_TOOLTIP))
        : null,
      h('button', {
        type: 'button',
        class: 'link patient-name',
        dataset: { focusKey: `patient-${entry.appointment_id}` },
        onclick: () => ctx.appointment.show(entry.appointment_id),
      }, entry.display_name)),
    h('td', {}, entry.chart_number ?? ''),
    h('td', {}, entry.menu_name ?? ''),
    h('td', {}, MODE_LABELS[entry.mode] ?? entry.mode ?? ''),
    h('td', {}, ctx.doctorName(entry.doctor_id)),
    h('td', {}, STATUS_LABELS[entry.status] ?? entry.status, arrivalNote(entry, ctx.tz)));
}
