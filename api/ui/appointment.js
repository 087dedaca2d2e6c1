// The appointment panel (R16): one appointment in the side panel, with its URLs, delivery and
// resend, for a video URL edit and cancel (R10, R11), for an in-clinic booking cancel, and
// the patient URL's reissue; for an auditor only what it shows. Live updates reload it.

import { call, get, ifMatch, post } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { clearErrors, field, formError, showProblem } from './lib/forms.js';
import { ERASED, dateTime, destinationForPeople, patientArrival } from './lib/format.js';
import { CHANNEL_LABELS, MODE_LABELS, STATUS_LABELS, VISIT_LABELS } from './lib/labels.js';
import { deliveryState, describe, errorParagraph } from './lib/messages.js';
import { confirmDialog, copyButton } from './lib/ui.js';
import { sendDialog } from './send.js';

/** When to look again at a pending delivery whose outcome may have come before the panel. */
const PENDING_RECHECKS_MS = [1000, 3000, 10000];

export class AppointmentPanel {
  constructor(ctx, panel) {
    this.ctx = ctx;
    this.panel = panel;
  }

  /** A live update: reload the appointment shown if it changed, or whatever is shown if `ids` is null. */
  appointmentsChanged(ids) {
    const s = this.panel.showing;
    if (s?.kind === 'appointment' && !s.editing && (ids === null || ids.includes(s.id))) {
      // Keep what the panel just told the person ("保存しました。") through the reload.
      const notice = this.panel.element.querySelector('.notice[role="status"]')?.textContent ?? null;
      this.show(s.id, { notice, live: true });
    }
  }

  /**
   * Load and show an appointment. `live` marks a redraw the person did not ask for: it keeps
   * the focus where it is. Only the newest load is shown.
   */
  async show(id, { notice = null, live = false, attempt = 0 } = {}) {
    const mine = this.panel.invalidate();
    if (!live) this.panel.showing = { kind: 'appointment', id, editing: false };
    let result;
    try {
      result = await get(`/api/v1/appointments/${id}`);
    } catch (problem) {
      if (mine === this.panel.loads) this.panel.open('予約内容', errorParagraph(problem), { focus: !live });
      return;
    }
    if (mine !== this.panel.loads) return;
    const action = live && this.panel.element.contains(document.activeElement) ? document.activeElement.dataset.action : null;
    this.render(result, notice, { focus: !live, attempt });
    if (action) this.panel.element.querySelector(`[data-action="${action}"]`)?.focus();
  }

  render(a, notice = null, { focus = true, attempt = 0 } = {}) {
    this.panel.invalidate();
    this.panel.showing = { kind: 'appointment', id: a.id, editing: false };
    const video = a.kind === 'video_url';
    const active = isActive(a);
    if (a.video?.delivery?.status === 'pending' && attempt < PENDING_RECHECKS_MS.length) {
      // A delivery is handled in the background. Its outcome usually arrives as a live
      // update, but it may have come before this panel showed the appointment.
      this.panel.later(
        () => this.show(a.id, { notice, live: true, attempt: attempt + 1 }),
        PENDING_RECHECKS_MS[attempt],
      );
    }
    this.panel.open(video ? 'ビデオ通話' : '予約内容', [
      notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
      h('p', { class: `status-badge status-${a.status}` }, STATUS_LABELS[a.status] ?? a.status),
      a.video && active ? this.arrival(a) : null,
      a.status === 'cancelled' ? h('p', { class: 'notice closed' }, 'この予約はキャンセルされました。医療機関用URL・患者用URLとも使えません。') : null,
      a.erased ? h('p', { class: 'notice closed' }, 'この予約の個人情報（患者名・カルテ番号・メモ・タイトル・送信先）は削除されました。元に戻すことはできません。') : null,
      video ? this.videoDetails(a) : this.bookingDetails(a),
      a.video ? this.urls(a, active) : null,
      video && active && !a.erased && !this.ctx.readOnly ? h('div', { class: 'actions' },
        h('button', { type: 'button', dataset: { action: 'edit' }, onclick: () => this.editForm(a) }, '編集'),
        h('button', { type: 'button', class: 'danger', dataset: { action: 'cancel' }, onclick: () => this.cancel(a) }, 'ビデオ通話キャンセル')) : null,
      !video && a.status === 'booked' && !this.ctx.readOnly ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', dataset: { action: 'cancel-booking' }, onclick: () => this.cancelBooking(a) }, '予約キャンセル')) : null,
      // Administrators erase personal data; not during a call, whose screens show the name.
      this.ctx.admin && !a.erased && a.status !== 'in_call' ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', dataset: { action: 'erase' }, onclick: () => this.erase(a) }, '個人情報を削除')) : null,
    ], { focus });
  }

  /** 「患者さんが入室しました（10:02〜）」 once the patient has the call open; filled in when known. */
  arrival(a) {
    const note = h('p', { class: 'arrival', role: 'status', hidden: true });
    get(`/api/v1/appointments/${a.id}/presence`).then((presence) => {
      const text = patientArrival(presence.patient_since, a.status, this.ctx.tz);
      if (text) {
        fill(note, text);
        note.hidden = false;
      }
    }, () => {}); // A panel without the note is still right about everything else.
    return note;
  }

  bookingDetails(a) {
    const { ctx } = this;
    return h('section', { class: 'details', 'aria-label': '診療内容' },
      h('h3', {}, '診療内容'),
      h('dl', {},
        row('患者名', a.erased ? ERASED : a.patient_name),
        row('カルテ番号', a.erased ? ERASED : a.chart_number || '—'),
        row('日時', `${dateTime(a.start_at, ctx.tz)}〜${dateTime(a.end_at, ctx.tz).slice(-5)}`),
        row('診療メニュー', a.menu.name),
        row('初診・再診', VISIT_LABELS[a.visit_type]),
        row('診察方式', MODE_LABELS[a.mode]),
        row('診察時間', `${a.menu.duration_min}分`),
        row('担当医師', ctx.doctorName(a.doctor_id)),
        row('当日メモ', a.erased ? ERASED : a.memo || '—'),
        a.waived_booking_fee_yen > 0 ? row('予約料', `院内予約のため徴収しません（${a.waived_booking_fee_yen.toLocaleString('ja-JP')}円）`) : null),
      a.video && isActive(a) && !a.erased && !ctx.readOnly
        ? h('a', { class: 'button primary', href: a.video.clinic_url, target: '_blank', rel: 'noopener', dataset: { action: 'start' } }, '診察をはじめる')
        : null);
  }

  videoDetails(a) {
    const { ctx } = this;
    return h('section', { class: 'details', 'aria-label': '予約内容' },
      h('dl', {},
        row('タイトル', a.erased ? ERASED : a.title || '（タイトルなし）'),
        row('開始日時', dateTime(a.start_at, ctx.tz)),
        row('担当医師', ctx.doctorName(a.doctor_id))));
  }

  urls(a, active) {
    const { ctx } = this;
    const v = a.video;
    const deliveries = h('section', { class: 'deliveries', 'aria-label': 'ビデオ通話URL送信先' },
      h('h3', {}, 'ビデオ通話URL送信先'),
      v.delivery ? this.delivery(v.delivery) : h('p', { class: 'delivery none' }, '未送信'),
      v.deliveries.length > 1 ? this.history(a.id, v.deliveries) : null,
      // 「URL送信」 until something was sent; 「URL再送」 after (R15).
      active && !a.erased && !ctx.readOnly ? h('button', { type: 'button', dataset: { action: 'resend' }, onclick: () => this.resend(a) }, v.delivery ? 'URL再送' : 'URL送信') : null);
    // A closed call's URLs open nothing: nothing to show, copy or reissue.
    if (!active) return h('section', { class: 'urls' }, deliveries);
    const patientBox = h('div', { class: 'patient-url', id: `patient-url-${a.id}`, hidden: true },
      h('label', { for: `patient-url-input-${a.id}` }, '患者用URL'),
      h('input', { id: `patient-url-input-${a.id}`, type: 'text', readonly: true, value: v.patient_url }),
      copyButton('患者用URLをコピー', 'copy-patient', v.patient_url),
      h('p', { class: 'validity' }, `有効期間: ${dateTime(v.valid_from, ctx.tz)}〜${dateTime(v.valid_until, ctx.tz)}`));
    const toggle = h('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': patientBox.id, dataset: { action: 'patient-url' } }, '患者用URLを表示');
    toggle.addEventListener('click', () => {
      patientBox.hidden = !patientBox.hidden;
      toggle.setAttribute('aria-expanded', String(!patientBox.hidden));
      fill(toggle, patientBox.hidden ? '患者用URLを表示' : '患者用URLを隠す');
    });
    return h('section', { class: 'urls' },
      h('h3', {}, '医療機関用URL'),
      h('input', { type: 'text', readonly: true, value: v.clinic_url, 'aria-label': '医療機関用URL' }),
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: v.clinic_url, target: '_blank', rel: 'noopener' }, 'ビデオ通話画面を表示'),
        copyButton('医療機関用URLをコピー', 'copy-clinic', v.clinic_url)),
      h('h3', {}, '患者用URL'),
      toggle,
      patientBox,
      // Not during the call: the patient in it is using this URL.
      a.status === 'booked' && !a.erased && !ctx.readOnly ? h('button', { type: 'button', class: 'danger', dataset: { action: 'reissue' }, onclick: () => this.reissue(a) }, '患者用URLを再発行') : null,
      deliveries);
  }

  /** The latest delivery: where to, and what came of it (R15, R16). */
  delivery(d) {
    const { ctx } = this;
    return h('dl', { class: 'delivery' },
      row('送信先', `${CHANNEL_LABELS[d.channel] ?? d.channel} ${destinationForPeople(d.channel, d.destination)}`),
      row('状態', deliveryState(d)),
      d.sent_at ? row('送信日時', dateTime(d.sent_at, ctx.tz)) : null,
      d.delivered_at ? row('配信日時', dateTime(d.delivered_at, ctx.tz)) : null);
  }

  /** Every attempt, newest first (R15: the history keeps them all). Opened, it stays open when
   * a live update redraws the panel. */
  history(id, deliveries) {
    const { ctx } = this;
    const toggled = (event) => { this.historyOpenFor = event.target.open ? id : null; };
    return h('details', { class: 'delivery-history', open: this.historyOpenFor === id, ontoggle: toggled },
      h('summary', {}, `送信履歴（${deliveries.length}件）`),
      h('ol', { reversed: true }, [...deliveries].reverse().map((d) => h('li', {},
        `${dateTime(d.requested_at, ctx.tz)} ${CHANNEL_LABELS[d.channel] ?? d.channel} `
          + `${destinationForPeople(d.channel, d.destination)} — ${deliveryState(d)}`))));
  }

  async resend(a) {
    const sent = await sendDialog(a);
    if (sent) this.render(sent, 'ビデオ通話URLを送信しました。');
  }

  /** 編集 (R10): title and doctor; the start time is shown but cannot change. */
  editForm(a) {
    const { ctx } = this;
    this.panel.invalidate();
    this.panel.showing = { kind: 'appointment', id: a.id, editing: true };
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
        h('button', { type: 'button', onclick: () => this.show(a.id) }, '戻る'),
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
        // Moved to another doctor: it leaves this doctor's schedule, so say where it went.
        const moved = edited.doctor_id !== a.doctor_id;
        const now = ctx.doctorName(edited.doctor_id);
        this.render(edited, moved ? `保存しました。担当医師を${now}に変更しました。この予約は${now}のスケジュールに表示されます。` : '保存しました。');
      } catch (problem) {
        if (problem.status === 412) return this.stale(a.id, problem);
        showProblem(form, problem);
        save.disabled = false;
      }
    });
    this.panel.open('ビデオ通話の編集', form);
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

  /** 個人情報を削除 (administrators), after a confirmation: for good, and said so. */
  erase(a) {
    return this.confirmed(a, 'erase', '個人情報を削除しました。', {
      title: '個人情報の削除',
      message: 'この予約の患者名・カルテ番号・メモ・タイトル・URLの送信先を削除しますか?削除した情報は元に戻せません。予約の日時や履歴は残ります。',
      confirm: '削除する',
      danger: true,
    });
  }

  /** Ask, then POST the appointment's `action` under If-Match and show the result. */
  async confirmed(a, action, notice, dialog) {
    if (!(await confirmDialog(dialog))) return;
    try {
      const changed = await post(`/api/v1/appointments/${a.id}/${action}`, undefined, { headers: ifMatch(a) });
      this.render(changed, notice);
    } catch (problem) {
      if (problem.status === 412) return this.stale(a.id, problem);
      if (this.panel.showing?.id !== a.id) return;
      this.panel.element.querySelector('.form-error[role="alert"]')?.remove();
      this.panel.element.querySelector('.panel-head')?.after(errorParagraph(problem));
    }
  }

  /** Someone else changed it first: show the newest state and say so. */
  stale(id, problem) {
    return this.show(id, { notice: describe(problem) });
  }
}

/** Neither cancelled nor ended: its URLs work and it can still change. */
const isActive = (a) => a.status !== 'cancelled' && a.status !== 'ended';

function row(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

