// 予約受付 in the side panel (R3, R8): the choice between its two forms, 非会員 (an in-clinic
// booking) and ビデオ通話URL作成, and their submission. A booking in the past or over another
// appointment of the same doctor is asked about first (the API accepts both: a clinic may
// double-book or record a visit afterwards on purpose); an in-clinic booking the server finds
// outside the doctor's hours (SPEC §8) is asked about when it says so, and confirmed with
// `allow_outside_hours`. What was created is handed on, to be shown by the appointment panel.

import { post } from './lib/api.js';
import { fill, h, icon } from './lib/dom.js';
import { clearErrors, field, formError, radios, showProblem } from './lib/forms.js';
import { dateTime, entryName, fromLocalInput, localInput, time } from './lib/format.js';
import { confirmDialog, requestKeys } from './lib/ui.js';
import { sendDialog } from './send.js';

/** A video URL has no menu: the schedule gives it 15 minutes (`VIDEO_URL_DURATION_MIN`). */
const VIDEO_URL_MINUTES = 15;

export class BookingPanel {
  /**
   * `created(appointment, notice)` shows what a form created (after the send pop-up, if
   * offered), with what happened to the URL.
   */
  constructor(ctx, panel, created) {
    this.ctx = ctx;
    this.panel = panel;
    this.created = created;
    // The slot being booked stays marked on the grid while its form is open.
    panel.whenChanged(() => this.markChosenSlot());
  }

  /** The slot 予約受付 is open for, or null. */
  chosenSlot() {
    return this.panel.showing?.kind === 'booking' ? this.panel.showing.slot : null;
  }

  markChosenSlot() {
    const chosen = this.chosenSlot();
    for (const slot of document.querySelectorAll('li.slot[data-start]')) {
      const mine = slot.dataset.start === chosen && (!slot.dataset.doctorId || slot.dataset.doctorId === this.ctx.doctorId);
      slot.classList.toggle('chosen', mine);
      if (mine) slot.setAttribute('aria-current', 'true');
      else slot.removeAttribute('aria-current');
    }
  }

  show(slot, choice = null) {
    const { ctx } = this;
    this.panel.invalidate();
    this.panel.showing = { kind: 'booking', slot, choice };
    const choose = (c) => this.show(slot, c);
    const form = choice === 'in_clinic' ? this.bookingForm(slot) : choice === 'video_url' ? this.videoForm(slot) : null;
    this.panel.open('予約受付', [
      h('p', { class: 'panel-sub' }, `${dateTime(slot, ctx.tz)} ・ 担当医師 `, h('span', { class: 'current-doctor' }, ctx.doctorName(ctx.doctorId))),
      h('div', { class: 'choices', role: 'group', 'aria-label': '予約の種類' },
        h('button', { type: 'button', 'aria-pressed': String(choice === 'in_clinic'), onclick: () => choose('in_clinic') }, '非会員'),
        h('button', { type: 'button', 'aria-pressed': String(choice === 'video_url'), onclick: () => choose('video_url') }, icon('video'), 'ビデオ通話URL作成')),
      choice === null ? h('p', { class: 'hint' }, 'アカウントのない患者の予約は「非会員」、施設入居者などをまとめて診察する場合は「ビデオ通話URL作成」を選んでください。') : null,
      form]);
    form?.querySelector('input, select')?.focus();
  }

  /** The header's doctor is the one a new booking gets: say so, keeping what was typed. */
  doctorChanged() {
    for (const name of this.panel.element.querySelectorAll('.current-doctor')) fill(name, this.ctx.doctorName(this.ctx.doctorId));
  }

  /** 非会員: the in-clinic booking form (R3–R6). */
  bookingForm(slot) {
    const { ctx } = this;
    const menuSelect = h('select', {}, ctx.menus.map((m) => h('option', { value: m.id }, m.name + onlyMode(m))));
    const visit = radios({ legend: '初診・再診', name: 'visit_type', options: [['first', '初診'], ['revisit', '再診']], value: 'first' });
    const mode = radios({ legend: '診察方式', name: 'mode', options: [['online', 'オンライン'], ['in_person', '対面']], value: 'online' });
    const duration = h('output', { class: 'duration', 'aria-live': 'polite' });
    const fee = h('p', { class: 'hint fee-note' });

    const form = h('form', { class: 'booking-form', novalidate: true },
      field({ label: '患者名', name: 'patient_name', control: h('input', { type: 'text', maxlength: '100', autocomplete: 'off' }), required: true }),
      field({ label: 'カルテ番号', name: 'chart_number', control: h('input', { type: 'text', maxlength: '32', autocomplete: 'off' }), hint: '任意。取り違え防止のため入力をおすすめします。' }),
      field({ label: '診療メニュー', name: 'menu_id', control: menuSelect }),
      fee,
      visit,
      mode,
      h('div', { class: 'field' }, h('span', { class: 'label', id: 'duration-label' }, '診察時間'), duration),
      this.currentDoctor(),
      field({ label: '当日メモ', name: 'memo', control: h('textarea', { rows: '3', maxlength: '1000' }), hint: '院内用のメモです。' }),
      h('p', { class: 'hint' }, 'ここで入力した内容は患者には表示されません。'),
      formError(),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, '予約')));
    duration.setAttribute('aria-labelledby', 'duration-label');

    const menu = () => ctx.menus.find((m) => m.id === menuSelect.value);
    /** The mode the person chose: a menu that allows it again gets it back. */
    let chosenMode = form.mode.value;
    mode.addEventListener('change', () => { chosenMode = form.mode.value; });
    const update = () => {
      const m = menu();
      // Only the modes the menu allows can be chosen (R6).
      for (const radio of mode.querySelectorAll('input')) {
        radio.disabled = !m.modes.includes(radio.value);
        radio.checked = !radio.disabled && radio.value === chosenMode;
      }
      if (!mode.querySelector('input:checked')) mode.querySelector('input:not(:disabled)').checked = true;
      const first = form.visit_type.value === 'first';
      fill(duration, `${first ? m.duration_first_min : m.duration_revisit_min}分`);
      fill(fee, m.booking_fee_yen > 0 ? `このメニューの予約料（${m.booking_fee_yen.toLocaleString('ja-JP')}円）は院内予約では徴収されません。` : '');
    };
    menuSelect.addEventListener('change', update);
    visit.addEventListener('change', update);
    update();

    this.onCreate(form, '/api/v1/appointments', () => ({
      doctor_id: ctx.doctorId,
      start_at: slot,
      patient_name: form.patient_name.value,
      chart_number: form.chart_number.value || null,
      menu_id: menuSelect.value,
      visit_type: form.visit_type.value,
      mode: form.mode.value,
      memo: form.memo.value || null,
    }), (created) => created.mode === 'online', () => {
      const m = menu();
      return [slot, form.visit_type.value === 'first' ? m.duration_first_min : m.duration_revisit_min];
    });
    return form;
  }

  /** 担当医師 of a new booking: the doctor chosen in the header (R3, R8). */
  currentDoctor() {
    return h('div', { class: 'field' },
      h('span', { class: 'label' }, '担当医師'),
      h('span', { class: 'value current-doctor' }, this.ctx.doctorName(this.ctx.doctorId)));
  }

  /** ビデオ通話URL作成 (R8). */
  videoForm(slot) {
    const { ctx } = this;
    const start = h('input', { type: 'datetime-local', value: localInput(slot, ctx.tz) });
    const now = h('input', { type: 'checkbox', id: 'start-now', name: 'start_now' });
    const send = h('input', { type: 'checkbox', id: 'send-after', name: 'send', checked: true });

    const form = h('form', { class: 'video-form', novalidate: true },
      field({ label: '開始日時', name: 'start_at', control: start, required: true, hint: 'ビデオ通話URLは開始1時間前から翌日の同時刻まで有効です。' }),
      h('div', { class: 'checkbox' }, now, h('label', { for: 'start-now' }, '現在時刻で作成')),
      field({ label: 'タイトル', name: 'title', control: h('input', { type: 'text', maxlength: '100', autocomplete: 'off' }), hint: '任意。患者名や施設名など。患者には表示されません。' }),
      this.currentDoctor(),
      h('div', { class: 'checkbox' }, send, h('label', { for: 'send-after' }, '送信（作成後にビデオ通話URLを送信する）')),
      formError(),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, '作成')));
    now.addEventListener('change', () => { start.disabled = now.checked; });

    this.onCreate(form, '/api/v1/video-calls', () => {
      const body = { doctor_id: ctx.doctorId, title: form.title.value || null };
      if (now.checked) body.start_now = true;
      else if (start.value) body.start_at = fromLocalInput(start.value, ctx.tz).toISOString();
      return body;
    }, () => send.checked, () => (now.checked || !start.value ? null : [fromLocalInput(start.value, ctx.tz).toISOString(), VIDEO_URL_MINUTES]));
    return form;
  }

  /**
   * Submitting a creation form: when `when()` (its start and minutes, or null) is in the past
   * or over another appointment of the doctor, ask first; POST `body()` to `path` with an
   * Idempotency-Key (a double click or a retry books once; see `create`), offer the send
   * pop-up if `offerSending(created)`, then show the appointment. Errors go next to their field.
   */
  onCreate(form, path, body, offerSending, when) {
    const keys = requestKeys();
    const submit = form.querySelector('button[type="submit"]');
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      submit.disabled = true;
      const doubt = this.doubt(when());
      if (doubt && !(await confirmDialog(doubt))) {
        submit.disabled = false;
        submit.focus();
        return;
      }
      let created;
      try {
        created = await this.create(path, body(), keys);
      } catch (problem) {
        showProblem(form, problem);
        submit.disabled = false;
        return;
      }
      if (!created) {
        submit.disabled = false;
        submit.focus();
        return;
      }
      const sent = offerSending(created) ? await sendDialog(created) : null;
      // The first send is confirmed as a resend is (「URL再送」 in the appointment panel).
      this.created(sent ?? created, sent ? 'ビデオ通話URLを送信しました。' : null);
    });
  }

  /**
   * POST `request` to `path` with an Idempotency-Key from `keys`. A booking outside the
   * doctor's hours (`outside_hours`: a closed slot, a closed day, or one that runs past the
   * hours) is asked about, and sent again with `allow_outside_hours` once confirmed; null when
   * the person went back.
   */
  async create(path, request, keys) {
    const send = (body) => post(path, body, { headers: { 'Idempotency-Key': keys.for(body) } });
    try {
      return await send(request);
    } catch (problem) {
      if (problem.code !== 'outside_hours') throw problem;
    }
    const confirmed = await confirmDialog({
      title: '予約の確認',
      message: `診療時間外の予約です。担当医師（${this.ctx.doctorName(request.doctor_id)}）の診療時間外か休診日にかかっています。このまま予約しますか？`,
      confirm: '予約する',
    });
    return confirmed ? send({ ...request, allow_outside_hours: true }) : null;
  }

  /**
   * The confirmation a booking from `start` for `minutes` needs, or null: it starts in the past,
   * or it overlaps an appointment of the same doctor that the schedule on screen shows.
   */
  doubt(period) {
    if (!period) return null;
    const { ctx } = this;
    const [start, minutes] = period;
    const from = Date.parse(start);
    const to = from + minutes * 60000;
    const overlapping = (ctx.view?.appointmentsShown?.(ctx.doctorId) ?? [])
      .filter((e) => e.status === 'booked' || e.status === 'in_call')
      .filter((e) => Date.parse(e.start_at) < to && from < Date.parse(e.end_at));
    const reasons = [];
    if (from < Date.now()) reasons.push(`開始日時（${dateTime(start, ctx.tz)}）は過ぎています。`);
    if (overlapping.length) {
      const which = overlapping.map((e) => `${time(e.start_at, ctx.tz)}〜${time(e.end_at, ctx.tz)} ${entryName(e)}`).join('、');
      reasons.push(`担当医師（${ctx.doctorName(ctx.doctorId)}）には、この時間に別の予約があります（${which}）。`);
    }
    if (!reasons.length) return null;
    return {
      title: '予約の確認',
      message: `${reasons.join('')}このまま予約しますか？`,
      confirm: '予約する',
    };
  }
}

/** 「（対面のみ）」 or 「（オンラインのみ）」 after a menu that allows one mode only (R6). */
function onlyMode(menu) {
  if (menu.modes.length !== 1) return '';
  return menu.modes[0] === 'online' ? '（オンラインのみ）' : '（対面のみ）';
}
