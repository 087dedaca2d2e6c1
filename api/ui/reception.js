// 受付一覧 (R4, R17): the day's in-clinic bookings for every doctor, narrowed by doctor and by
// mode if asked, each with whether its patient URL was sent. A video booking's name carries the
// camera icon whose tooltip reads 「ビデオ通話での診察です」; the name opens the details, from
// which 「診察をはじめる」 opens the call screen. Printed, it is the whole filtered list.

import { fill, h, icon } from './lib/dom.js';
import { arrivalNote, dayFrame, getEveryPage, listLoader, saveToAddress } from './lib/lists.js';
import { entryName, time } from './lib/format.js';
import { DELIVERY_LABELS, MODE_LABELS, STATUS_LABELS } from './lib/labels.js';

const VIDEO_TOOLTIP = 'ビデオ通話での診察です';

export function receptionView(ctx, main) {
  const asked = new URLSearchParams(location.search);
  const filters = {
    doctor: ctx.doctors.some((d) => d.id === asked.get('doctor')) ? asked.get('doctor') : '',
    mode: asked.get('mode') in MODE_LABELS ? asked.get('mode') : '',
  };
  const filter = (name, label, options) => {
    const select = h('select', { name, onchange: () => { filters[name] = select.value; refresh(); } },
      h('option', { value: '' }, 'すべて'),
      options.map(([value, text]) => h('option', { value }, text)));
    select.value = filters[name];
    return h('label', { class: 'filter' }, label, select);
  };
  const day = dayFrame({
    title: '受付一覧',
    tz: ctx.tz,
    onChange: () => refresh(),
    extras: h('div', { class: 'list-tools' },
      h('div', { class: 'filters', role: 'group', 'aria-label': '絞り込み' },
        filter('doctor', '担当医師', ctx.doctors.map((d) => [d.id, d.name])),
        filter('mode', '診察方式', Object.entries(MODE_LABELS))),
      h('button', { type: 'button', onclick: () => print() }, '印刷')),
  });
  fill(main, day.frame);

  const show = (list) => {
    const shown = list.entries.filter((e) => (!filters.doctor || e.doctor_id === filters.doctor) && (!filters.mode || e.mode === filters.mode));
    const narrowed = filters.doctor || filters.mode;
    fill(day.list,
      narrowed ? h('p', { class: 'filter-note' }, `${filterWords(ctx, filters)}で絞り込み中: ${list.entries.length}件中${shown.length}件`) : null,
      shown.length === 0
        ? h('p', { class: 'empty' }, narrowed ? '条件に合う受付はありません。' : 'この日の受付はありません。')
        : h('table', { class: 'reception-table' },
          h('thead', {}, h('tr', {}, ['時間', '患者名', 'カルテ番号', '診療メニュー', '診察方式', '担当医師', '状態', 'URL送信'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, shown.map((e) => row(ctx, e)))));
  };

  const refresh = listLoader(day.list, () => {
    saveToAddress({ date: day.date(), doctor: filters.doctor || null, mode: filters.mode || null });
    return `/api/v1/reception?date=${day.date()}`;
  }, show, getEveryPage);
  return { readModels: ['reception', 'presence', 'deliveries'], refresh };
}

/** 「担当医師: 山田 太郎・診察方式: 対面」 */
function filterWords(ctx, filters) {
  return [
    filters.doctor ? `担当医師: ${ctx.doctorName(filters.doctor)}` : null,
    filters.mode ? `診察方式: ${MODE_LABELS[filters.mode]}` : null,
  ].filter(Boolean).join('・');
}

/** Whether the patient URL went out: 未送信 until a delivery was asked for; nothing without a URL. */
function urlDelivery(entry) {
  if (!entry.video) return '—';
  return entry.url_delivery ? DELIVERY_LABELS[entry.url_delivery] ?? entry.url_delivery : '未送信';
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
      }, entryName(entry))),
    h('td', {}, entry.chart_number ?? ''),
    h('td', {}, entry.menu_name ?? ''),
    h('td', {}, MODE_LABELS[entry.mode] ?? entry.mode ?? ''),
    h('td', {}, ctx.doctorName(entry.doctor_id)),
    h('td', {}, STATUS_LABELS[entry.status] ?? entry.status, arrivalNote(entry, ctx.tz)),
    h('td', { class: `url-delivery delivery-${entry.url_delivery ?? 'none'}` }, urlDelivery(entry)));
}
