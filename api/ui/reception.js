// 受付一覧 (R4, R17): the day's in-clinic bookings for every doctor. A video booking's name
// carries the camera icon whose tooltip reads 「ビデオ通話での診察です」; the name opens the
// details, from which 「診察をはじめる」 opens the call screen.

import { fill, h, icon } from './lib/dom.js';
import { dateFromAddress, dayNavigation, listLoader, saveToAddress } from './lib/lists.js';
import { time } from './lib/format.js';
import { STATUS_LABELS } from './schedule.js';

const MODE_LABELS = { online: 'オンライン', in_person: '対面' };
const VIDEO_TOOLTIP = 'ビデオ通話での診察です';

export function receptionView(ctx, main) {
  let date = dateFromAddress(ctx.tz);

  const show = (list) => {
    fill(main,
      h('section', { class: 'reception', 'aria-labelledby': 'reception-heading' },
        h('h2', { id: 'reception-heading', class: 'view-title' }, '受付一覧'),
        dayNavigation({ date, tz: ctx.tz, onChange: (d) => { date = d; refresh(); } }),
        list.entries.length === 0
          ? h('p', { class: 'empty' }, 'この日の受付はありません。')
          : h('table', { class: 'reception-table' },
            h('thead', {}, h('tr', {}, ['時間', '患者名', 'カルテ番号', '診療メニュー', '診察方式', '担当医師', '状態'].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, list.entries.map((e) => row(ctx, e))))));
  };

  const refresh = listLoader(main, () => {
    saveToAddress({ date });
    return `/api/v1/reception?date=${date}`;
  }, show);
  return { readModel: 'reception', refresh };
}

let tooltips = 0;

function row(ctx, entry) {
  tooltips += 1;
  const tooltipId = `video-tip-${tooltips}`;
  return h('tr', { class: `status-${entry.status}`, dataset: { appointmentId: entry.appointment_id } },
    h('td', {}, `${time(entry.start_at, ctx.tz)}〜${time(entry.end_at, ctx.tz)}`),
    h('td', { class: 'patient' },
      entry.video
        ? h('span', { class: 'has-tooltip video-mark', tabindex: '0', 'aria-describedby': tooltipId },
          icon('video'),
          h('span', { class: 'tooltip', role: 'tooltip', id: tooltipId }, VIDEO_TOOLTIP))
        : null,
      h('button', { type: 'button', class: 'link patient-name', onclick: () => ctx.panel.showAppointment(entry.appointment_id) }, entry.display_name)),
    h('td', {}, entry.chart_number ?? ''),
    h('td', {}, entry.menu_name ?? ''),
    h('td', {}, MODE_LABELS[entry.mode] ?? entry.mode ?? ''),
    h('td', {}, ctx.doctorName(entry.doctor_id)),
    h('td', {}, STATUS_LABELS[entry.status] ?? entry.status));
}
