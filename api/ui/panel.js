// The side panel: 予約受付 (R3, R8) with its two forms, and the appointment panel (R16) with
// the URLs, delivery, resend, for video URLs edit and cancel (R10, R11), and for in-clinic
// bookings cancel.

import { call, get, ifMatch, post } from './lib/api.js';
import { fill, focusByKey, h, icon } from './lib/dom.js';
import { clearErrors, field, formError, radios, showProblem } from './lib/forms.js';
import { dateTime, fromLocalInput, localInput } from './lib/format.js';
import { CHANNEL_LABELS, DELIVERY_LABELS, MODE_LABELS, STATUS_LABELS, VISIT_LABELS } from './lib/labels.js';
import { describe, errorParagraph } from './lib/messages.js';
import { confirmDialog, copyText, requestKeys } from './lib/ui.js';
import { sendDialog } from './send.js';

/** When to look again at a pending delivery whose outcome may have come before the panel. */
const PENDING_RECHECKS_MS = [1000, 3000, 10000];

export class Panel {
  constructor(ctx, element) {
    this.ctx = ctx;
    this.element = element;
    this.showing = null; // {kind: 'booking', slot, choice} or {kind: 'appointment', id, editing}
    this.loads = 0; // bumped by every change of what the panel shows: older loads are dropped
    this.recheck = null;
    element.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !event.defaultPrevented) this.close();
    });
  }

  /** Forget loads and re-checks under way: what the panel shows is changing. */
  invalidate() {
    this.loads += 1;
    clearTimeout(this.recheck);
    return this.loads;
  }

  /**
   * Show `content` under `title`. The heading takes the focus when the person opened or
   * changed the panel (`focus`), never when a live update redraws it.
   */
  open(title, content, { focus = true } = {}) {
    if (this.element.hidden) {
      // Closing gives the focus back to what opened the panel, found again by its key if a
      // live refresh replaced it meanwhile.
      this.opener = document.activeElement;
      this.openerKey = document.activeElement?.dataset?.focusKey ?? null;
    }
    fill(this.element,
      h('div', { class: 'panel-head' },
        h('h2', { id: 'panel-title', tabindex: '-1' }, title),
        h('button', { type: 'button', class: 'close', 'aria-label': 'パネルを閉じる', onclick: () => this.close() }, '×')),
      content);
    this.element.hidden = false;
    document.body.classList.add('panel-open');
    if (focus) this.element.querySelector('#panel-title').focus();
  }

  close() {
    this.invalidate();
    this.showing = null;
    this.element.hidden = true;
    document.body.classList.remove('panel-open');
    fill(this.element);
    if (this.opener?.isConnected) this.opener.focus();
    else if (this.openerKey) focusByKey(this.openerKey);
    this.opener = null;
    this.openerKey = null;
  }

  /** The header's doctor is the one a new booking gets: say so, keeping what was typed. */
  doctorChanged() {
    for (const name of this.element.querySelectorAll('.current-doctor')) fill(name, this.ctx.doctorName(this.ctx.doctorId));
  }

  /** A live update: reload the appointment shown if it changed, or whatever is shown if `ids` is null. */
  appointmentsChanged(ids) {
    const s = this.showing;
    if (s?.kind === 'appointment' && !s.editing && (ids === null || ids.includes(s.id))) {
      // Keep what the panel just told the person ("保存しました。") through the reload.
      const notice = this.element.querySelector('.notice[role="status"]')?.textContent ?? null;
      this.showAppointment(s.id, { notice, live: true });
    }
  }

  // -------------------------------------------------------------------------------------------
  // 予約受付
  // -------------------------------------------------------------------------------------------

  showBooking(slot, choice = null) {
    const { ctx } = this;
    this.invalidate();
    this.showing = { kind: 'booking', slot, choice };
    const choose = (c) => this.showBooking(slot, c);
    const form = choice === 'in_clinic' ? this.bookingForm(slot) : choice === 'video_url' ? this.videoForm(slot) : null;
    this.open('予約受付', [
      h('p', { class: 'panel-sub' }, `${dateTime(slot, ctx.tz)} ・ 担当医師 `, h('span', { class: 'current-doctor' }, ctx.doctorName(ctx.doctorId))),
      h('div', { class: 'choices', role: 'group', 'aria-label': '予約の種類' },
        h('button', { type: 'button', 'aria-pressed': String(choice === 'in_clinic'), onclick: () => choose('in_clinic') }, '非会員'),
        h('button', { type: 'button', 'aria-pressed': String(choice === 'video_url'), onclick: () => choose('video_url') }, icon('video'), 'ビデオ通話URL作成')),
      choice === null ? h('p', { class: 'hint' }, 'アカウントのない患者の予約は「非会員」、施設入居者などをまとめて診察する場合は「ビデオ通話URL作成」を選んでください。') : null,
      form]);
    form?.querySelector('input, select')?.focus();
  }

  /** 非会員: the in-clinic booking form (R3–R6). */
  bookingForm(slot) {
    const { ctx } = this;
    const menuSelect = h('select', {}, ctx.menus.map((m) => h('option', { value: m.id }, m.name)));
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
    const update = () => {
      const m = menu();
      // Only the modes the menu allows can be chosen (R6).
      for (const radio of mode.querySelectorAll('input')) {
        radio.disabled = !m.modes.includes(radio.value);
        if (radio.disabled && radio.checked) radio.checked = false;
      }
      if (!mode.querySelector('input:checked')) mode.querySelector('input:not(:disabled)').checked = true;
      const first = form.visit_type.value === 'first';
      fill(duration, `${first ? m.duration_first_min : m.duration_revisit_min}分`);
      fill(fee, m.booking_fee_yen > 0 ? `このメニューの予約料(${m.booking_fee_yen.toLocaleString('ja-JP')}円)は院内予約では徴収されません。` : '');
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
    }), (created) => created.mode === 'online');
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
      h('div', { class: 'checkbox' }, send, h('label', { for: 'send-after' }, '送信(作成後にビデオ通話URLを送信する)')),
      formError(),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, '作成')));
    now.addEventListener('change', () => { start.disabled = now.checked; });

    this.onCreate(form, '/api/v1/video-calls', () => {
      const body = { doctor_id: ctx.doctorId, title: form.title.value || null };
      if (now.checked) body.start_now = true;
      else if (start.value) body.start_at = fromLocalInput(start.value, ctx.tz).toISOString();
      return body;
    }, () => send.checked);
    return form;
  }

  /**
   * Submitting a creation form: POST `body()` to `path` with an Idempotency-Key (a double
   * click or a retry books once), offer the send pop-up if `offerSending(created)`, then show
   * the appointment. Errors go next to their field.
   */
  onCreate(form, path, body, offerSending) {
    const keys = requestKeys();
    const submit = form.querySelector('button[type="submit"]');
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      submit.disabled = true;
      const request = body();
      let created;
      try {
        created = await post(path, request, { headers: { 'Idempotency-Key': keys.for(request) } });
      } catch (problem) {
        showProblem(form, problem);
        submit.disabled = false;
        return;
      }
      const sent = offerSending(created) ? await sendDialog(created) : null;
      this.renderAppointment(sent ?? created);
    });
  }

  // -------------------------------------------------------------------------------------------
  // The appointment panel
  // -------------------------------------------------------------------------------------------

  /**
   * Load and show an appointment. `live` marks a redraw the person did not ask for: it keeps
   * the focus where it is. Only the newest load is shown.
   */
  async showAppointment(id, { notice = null, live = false, attempt = 0 } = {}) {
    const mine = this.invalidate();
    if (!live) this.showing = { kind: 'appointment', id, editing: false };
    let result;
    try {
      result = await get(`/api/v1/appointments/${id}`);
    } catch (problem) {
      if (mine === this.loads) this.open('予約内容', errorParagraph(problem), { focus: !live });
      return;
    }
    if (mine !== this.loads) return;
    const action = live && this.element.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    this.renderAppointment(result, notice, { focus: !live, attempt });
    if (action) this.element.querySelector(`[data-action="${action}"]`)?.focus();
  }

  renderAppointment(a, notice = null, { focus = true, attempt = 0 } = {}) {
    this.invalidate();
    this.showing = { kind: 'appointment', id: a.id, editing: false };
    const video = a.kind === 'video_url';
    const active = isActive(a);
    if (a.video?.delivery?.status === 'pending' && attempt < PENDING_RECHECKS_MS.length) {
      // A delivery is handled in the background. Its outcome usually arrives as a live
      // update, but it may have come before this panel showed the appointment.
      this.recheck = setTimeout(
        () => this.showAppointment(a.id, { notice, live: true, attempt: attempt + 1 }),
        PENDING_RECHECKS_MS[attempt],
      );
    }
    this.open(video ? 'ビデオ通話' : '予約内容', [
      notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
      h('p', { class: `status-badge status-${a.status}` }, STATUS_LABELS[a.status] ?? a.status),
      a.status === 'cancelled' ? h('p', { class: 'notice' }, 'この予約はキャンセルされました。医療機関用URL・患者用URLとも使えません。') : null,
      video ? this.videoDetails(a) : this.bookingDetails(a),
      a.video ? this.urls(a, active) : null,
      video && active ? h('div', { class: 'actions' },
        h('button', { type: 'button', dataset: { action: 'edit' }, onclick: () => this.editForm(a) }, '編集'),
        h('button', { type: 'button', class: 'danger', dataset: { action: 'cancel' }, onclick: () => this.cancel(a) }, 'ビデオ通話キャンセル')) : null,
      !video && a.status === 'booked' ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', dataset: { action: 'cancel-booking' }, onclick: () => this.cancelBooking(a) }, '予約キャンセル')) : null,
    ], { focus });
  }

  bookingDetails(a) {
    const { ctx } = this;
    return h('section', { class: 'details', 'aria-label': '診療内容' },
      h('h3', {}, '診療内容'),
      h('dl', {},
        row('患者名', a.patient_name),
        row('カルテ番号', a.chart_number || '—'),
        row('日時', `${dateTime(a.start_at, ctx.tz)}〜${dateTime(a.end_at, ctx.tz).slice(-5)}`),
        row('診療メニュー', a.menu.name),
        row('初診・再診', VISIT_LABELS[a.visit_type]),
        row('診察方式', MODE_LABELS[a.mode]),
        row('診察時間', `${a.menu.duration_min}分`),
        row('担当医師', ctx.doctorName(a.doctor_id)),
        row('当日メモ', a.memo || '—'),
        a.waived_booking_fee_yen > 0 ? row('予約料', `院内予約のため徴収しません(${a.waived_booking_fee_yen.toLocaleString('ja-JP')}円)`) : null),
      a.video && isActive(a)
        ? h('a', { class: 'button primary', href: a.video.clinic_url, target: '_blank', rel: 'noopener', dataset: { action: 'start' } }, '診察をはじめる')
        : null);
  }

  videoDetails(a) {
    const { ctx } = this;
    return h('section', { class: 'details', 'aria-label': '予約内容' },
      h('dl', {},
        row('タイトル', a.title || '(タイトルなし)'),
        row('開始日時', dateTime(a.start_at, ctx.tz)),
        row('担当医師', ctx.doctorName(a.doctor_id))));
  }

  urls(a, active) {
    const { ctx } = this;
    const v = a.video;
    const copied = h('span', { class: 'copied', 'aria-live': 'polite' });
    const patientBox = h('div', { class: 'patient-url', id: `patient-url-${a.id}`, hidden: true },
      h('label', { for: `patient-url-input-${a.id}` }, '患者用URL'),
      h('input', { id: `patient-url-input-${a.id}`, type: 'text', readonly: true, value: v.patient_url }),
      h('button', { type: 'button', onclick: () => copyText(v.patient_url, copied) }, 'このURLをコピー'),
      h('p', { class: 'validity' }, `有効期間: ${dateTime(v.valid_from, ctx.tz)}〜${dateTime(v.valid_until, ctx.tz)}`));
    const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': patientBox.id, dataset: { action: 'patient-url' } }, '患者用URLを表示');
    toggle.addEventListener('click', () => {
      patientBox.hidden = !patientBox.hidden;
      toggle.setAttribute('aria-expanded', String(!patientBox.hidden));
      fill(toggle, patientBox.hidden ? '患者用URLを表示' : '患者用URLを隠す');
    });
    const d = v.delivery;
    return h('section', { class: 'urls' },
      h('h3', {}, '医療機関用URL'),
      h('input', { type: 'text', readonly: true, value: v.clinic_url, 'aria-label': '医療機関用URL' }),
      h('div', { class: 'actions' },
        active ? h('a', { class: 'button', href: v.clinic_url, target: '_blank', rel: 'noopener' }, 'ビデオ通話画面を表示') : null,
        h('button', { type: 'button', dataset: { action: 'copy-clinic' }, onclick: () => copyText(v.clinic_url, copied) }, 'このURLをコピー'),
        copied),
      h('h3', {}, '患者用URL'),
      toggle,
      patientBox,
      // Not during the call: the patient in it is using this URL.
      a.status === 'booked' ? h('button', { type: 'button', class: 'danger', dataset: { action: 'reissue' }, onclick: () => this.reissue(a) }, '患者用URLを再発行') : null,
      h('h3', {}, 'ビデオ通話URL送信先'),
      d
        ? h('dl', { class: 'delivery' },
          row('送信先', `${CHANNEL_LABELS[d.channel] ?? d.channel} ${d.destination}`),
          row('送信日時', d.sent_at ? dateTime(d.sent_at, ctx.tz) : DELIVERY_LABELS[d.status]),
          d.status === 'failed' ? row('状態', `送信できませんでした${d.failure_reason ? `(${d.failure_reason})` : ''}`) : null)
        : h('p', { class: 'delivery none' }, '未送信'),
      active ? h('button', { type: 'button', dataset: { action: 'resend' }, onclick: () => this.resend(a) }, 'URL再送') : null);
  }

  async resend(a) {
    const sent = await sendDialog(a);
    if (sent) this.renderAppointment(sent, 'ビデオ通話URLを送信しました。');
  }

  /** 編集 (R10): title and doctor; the start time is shown but cannot change. */
  editForm(a) {
    const { ctx } = this;
    this.invalidate();
    this.showing = { kind: 'appointment', id: a.id, editing: true };
    const doctor = h('select', {}, ctx.doctors.map((d) => h('option', { value: d.id }, d.name)));
    doctor.value = a.doctor_id;
    const save = h('button', { type: 'submit', class: 'primary' }, '保存');
    const form = h('form', { class: 'edit-form', novalidate: true },
      field({ label: 'タイトル', name: 'title', control: h('input', { type: 'text', maxlength: '100', value: a.title ?? '' }) }),
      field({ label: '担当医師', name: 'doctor_id', control: doctor }),
      h('div', { class: 'field', dataset: { field: 'start_at' } },
        h('span', { class: 'label' }, '開始日時'),
        h('span', { class: 'value' }, dateTime(a.start_at, ctx.tz)),
        h('p', { class: 'hint' }, '開始日時は変更できません。変更する場合は、キャンセルして作成し直してください。'),
        h('p', { class: 'field-error', 'aria-live': 'polite' })),
      formError(),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => this.showAppointment(a.id) }, '戻る'),
        save));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      save.disabled = true;
      try {
        const edited = await call('PATCH', `/api/v1/appointments/${a.id}`, {
          body: { title: form.title.value, doctor_id: doctor.value },
          headers: ifMatch(a),
        });
        this.renderAppointment(edited, '保存しました。');
      } catch (problem) {
        if (problem.status === 412) return this.stale(a.id, problem);
        showProblem(form, problem);
        save.disabled = false;
      }
    });
    this.open('ビデオ通話の編集', form);
    form.title.focus();
  }

  /** ビデオ通話キャンセル (R11), after a confirmation. */
  cancel(a) {
    return this.confirmed(a, 'cancel', 'ビデオ通話をキャンセルしました。', {
      title: 'ビデオ通話のキャンセル',
      message: 'このビデオ通話をキャンセルしますか?患者には通知されません。キャンセル後は医療機関用URL・患者用URLとも使えなくなります。',
      confirm: 'キャンセルする',
      danger: true,
    });
  }

  /** 予約キャンセル: an in-clinic booking, after a confirmation (R11 applies to it too). */
  cancelBooking(a) {
    return this.confirmed(a, 'cancel', '予約をキャンセルしました。', {
      title: '予約のキャンセル',
      message: 'この予約をキャンセルしますか?患者には通知されません。ビデオ通話の予約では、医療機関用URL・患者用URLとも使えなくなります。',
      confirm: 'キャンセルする',
      danger: true,
    });
  }

  /** 患者用URLを再発行, after a confirmation: for a URL sent to a wrong address. */
  reissue(a) {
    return this.confirmed(a, 'reissue-patient-url', '患者用URLを再発行しました。新しいURLを「URL再送」で患者に送ってください。', {
      title: '患者用URLの再発行',
      message: '患者用URLを再発行しますか?これまでの患者用URLは使えなくなります。新しいURLは「URL再送」で患者に送ってください。医療機関用URLは変わりません。',
      confirm: '再発行する',
      danger: true,
    });
  }

  /** Ask, then POST the appointment's `action` under If-Match and show the result. */
  async confirmed(a, action, notice, dialog) {
    if (!(await confirmDialog(dialog))) return;
    try {
      const changed = await post(`/api/v1/appointments/${a.id}/${action}`, undefined, { headers: ifMatch(a) });
      this.renderAppointment(changed, notice);
    } catch (problem) {
      if (problem.status === 412) return this.stale(a.id, problem);
      if (this.showing?.id !== a.id) return;
      this.element.querySelector('.form-error[role="alert"]')?.remove();
      this.element.querySelector('.panel-head')?.after(errorParagraph(problem));
    }
  }

  /** Someone else changed it first: show the newest state and say so. */
  stale(id, problem) {
    return this.showAppointment(id, { notice: describe(problem) });
  }
}

/** Neither cancelled nor ended: its URLs work and it can still change. */
const isActive = (a) => a.status !== 'cancelled' && a.status !== 'ended';

function row(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

