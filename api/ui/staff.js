// The clinic UI: header (clinic, current doctor, navigation), the view for this path, the
// side panel (予約受付 and the appointment), and live updates from the read models.

import { get, post } from './lib/api.js';
import { fill, h } from './lib/dom.js';
import { errorParagraph } from './lib/messages.js';
import { SidePanel } from './lib/panel.js';
import { AppointmentPanel } from './appointment.js';
import { BookingPanel } from './booking.js';
import { scheduleView } from './schedule.js';
import { receptionView } from './reception.js';
import { outboxView } from './outbox.js';
import { searchView } from './search.js';
import { settingsView } from './settings.js';

// The code of each view, by the `data-view` of its link. The pages themselves (paths, names,
// order) are the links of the header's <nav> in staff.html, the list the server also serves.
const VIEWS = { schedule: scheduleView, reception: receptionView, search: searchView, outbox: outboxView, settings: settingsView };

// Signing out works from the moment the page shows, before anything else has loaded (the
// button stays disabled until this runs: a click before it would be lost).
const logout = document.getElementById('logout');
logout.addEventListener('click', async () => {
  try {
    await post('/api/v1/logout');
  } finally {
    location.assign('/login');
  }
});
logout.disabled = false;

let me;
let doctors;
let menus;
try {
  me = await get('/api/v1/me');
  // The clinic requires two-factor sign-in and this person has not enrolled: their session
  // may only enrol, so that is where they go.
  if (me.two_factor.required && !me.two_factor.enrolled) {
    location.assign('/two-factor');
    await new Promise(() => {});
  }
  [doctors, menus] = await Promise.all([get('/api/v1/doctors'), get('/api/v1/menus')]);
} catch (problem) {
  fill(document.getElementById('main'), errorParagraph(problem),
    h('button', { type: 'button', onclick: () => location.reload() }, '再読み込み'));
  throw problem;
}

const doctorKey = `enkaku.doctor.${me.clinic.id}`;
const known = (id) => doctors.items.some((d) => d.id === id);

const ctx = {
  tz: me.clinic.time_zone,
  // An auditor reads everything and changes nothing (the server refuses their changes): the
  // page offers them no booking, sending, editing or cancelling.
  readOnly: me.staff.role === 'auditor',
  // Administrators change the clinic's set-up (設定); the server refuses anyone else.
  admin: me.staff.admin,
  // Administrators and auditors read the access log (設定 > アクセスログ); no one else may.
  inspector: me.staff.admin || me.staff.role === 'auditor',
  staffId: me.staff.id,
  staffName: me.staff.name,
  doctors: doctors.items,
  menus: menus.items,
  // The doctor in charge of new bookings (R3, R8): the one chosen in the header, remembered
  // per browser; a doctor who logs in starts with themselves.
  doctorId: [localStorage.getItem(doctorKey), me.staff.role === 'doctor' ? me.staff.id : null, doctors.items[0]?.id]
    .find((id) => id && known(id)),
  doctorName(id) {
    return doctors.items.find((d) => d.id === id)?.name ?? '（不明な医師）';
  },
  view: null,
  panel: null,
  chooseDoctor: null,
  showClinicName: null,
  booking: null,
  appointment: null,
};
const panel = new SidePanel(document.getElementById('panel'));
ctx.panel = panel;
ctx.appointment = new AppointmentPanel(ctx, panel);
ctx.booking = new BookingPanel(ctx, panel, (created, notice) => ctx.appointment.render(created, notice));

/** The clinic's name in the header and the window's title (設定 may change it). */
ctx.showClinicName = (name) => {
  document.title = `${name} — enkaku`;
  fill(document.getElementById('clinic-name'), name);
};
ctx.showClinicName(me.clinic.name);
fill(document.getElementById('staff-name'), `${me.staff.name} さん`,
  ctx.readOnly ? h('span', { class: 'read-only-note' }, '閲覧のみの権限です') : null);
if (ctx.readOnly) fill(document.getElementById('doctor-select-hint'), '表示する医師を選びます');

const select = document.getElementById('doctor-select');
fill(select, doctors.items.map((d) => h('option', { value: d.id }, d.name)));
select.value = ctx.doctorId ?? '';
/** Make `id` the doctor in charge of new bookings, as choosing them in the header does. */
ctx.chooseDoctor = (id) => {
  select.value = id;
  ctx.doctorId = id;
  localStorage.setItem(doctorKey, id);
  ctx.booking.doctorChanged();
  ctx.view?.doctorChanged?.();
};
select.addEventListener('change', () => ctx.chooseDoctor(select.value));

// This page is the link to this path; the first link is the home page. A link marked
// `data-admin` is shown to administrators, one marked `data-auditor` to auditors, one marked
// with both to either (設定: auditors have its アクセスログ), and to no one else.
const links = [...document.querySelectorAll('nav a')];
for (const link of links) {
  const forAdmins = 'admin' in link.dataset;
  const forAuditors = 'auditor' in link.dataset;
  if (forAdmins || forAuditors) link.hidden = !((forAdmins && ctx.admin) || (forAuditors && ctx.readOnly));
}
const current = links.find((link) => link.getAttribute('href') === location.pathname);
current?.setAttribute('aria-current', 'page');
const makeView = VIEWS[(current ?? links[0]).dataset.view];
ctx.view = makeView(ctx, document.getElementById('main'));

// Live updates (SSE): refetch what changed once the read model committed it. On every
// (re)connect refetch everything, since changes may have been missed while away. The browser
// retries a dropped stream by itself, but gives up on an HTTP error (an expired session, a
// proxy's 502): then check the session (a 401 goes to the login page) and open a new one.
const status = document.getElementById('live-status');
const refreshAll = () => {
  ctx.view.refresh();
  ctx.appointment.appointmentsChanged(null);
};
let retryMs = 1000;
function listen() {
  const live = new EventSource('/api/v1/live');
  live.addEventListener('change', (event) => {
    const change = JSON.parse(event.data);
    const { readModels } = ctx.view;
    if (change.read_models.some((model) => readModels.includes(model))) ctx.view.refresh();
    ctx.appointment.appointmentsChanged(change.appointment_ids);
  });
  live.addEventListener('resync', refreshAll);
  live.addEventListener('open', () => {
    retryMs = 1000;
    document.body.dataset.live = 'connected';
    fill(status, '');
    refreshAll();
  });
  live.addEventListener('error', () => {
    document.body.dataset.live = 'reconnecting';
    fill(status, '更新の受信が途切れました。再接続しています…');
    if (live.readyState !== EventSource.CLOSED) return;
    setTimeout(async () => {
      await get('/api/v1/me').catch(() => {});
      listen();
    }, retryMs);
    retryMs = Math.min(retryMs * 2, 30000);
  });
}
listen();

await ctx.view.refresh();
