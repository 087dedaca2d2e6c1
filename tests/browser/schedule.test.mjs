// スケジュール > 予約一覧 in a real browser (issue 13): the line at the current time, entries
// drawn over the slots their time covers, the week view, every doctor's day side by side, and
// what a print of each shows.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  SCREENSHOTS, api, collectErrors, login, screenshot, serverAndBrowser, unlabelledControls, weekdayAhead,
} from './harness.mjs';

const DESKTOP = { viewport: { width: 1280, height: 900 } };
const running = serverAndBrowser();

/** A logged-in staff page of the demo doctor 山田 (its own context), with its errors. */
async function doctorPage({ clock } = {}) {
  const context = await running.browser.newContext(DESKTOP);
  // The page's clock, when the test needs to say what time it is.
  if (clock) await context.clock.install({ time: clock });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await login(page, running.server.url, 'yamada@demo.enkaku.test');
  const me = await api(page, 'GET', '/api/v1/me');
  const doctors = (await api(page, 'GET', '/api/v1/doctors')).items;
  const menus = (await api(page, 'GET', '/api/v1/menus')).items;
  return { page, errors, context, me, doctors, general: menus.find((m) => m.name === '一般内科') };
}

async function openSchedule(page, query) {
  await page.goto(`${running.server.url}/schedule?${query}`);
  await page.locator('body[data-live="connected"]').waitFor();
  await page.locator('.slots, .week').first().waitFor();
}

/** Book through the staff API: an in-person 一般内科 visit (初診 30 minutes, 再診 15). */
function book(page, { doctorId, date, time, name, visit = 'revisit', menu }) {
  return api(page, 'POST', '/api/v1/appointments', {
    doctor_id: doctorId, start_at: `${date}T${time}:00+09:00`, patient_name: name,
    menu_id: menu.id, visit_type: visit, mode: 'in_person',
  });
}

/** The slot row of `time` in `scope` (the page, or one doctor's column). */
const slot = (scope, time) => scope.locator('.slot', {
  has: (scope.page?.() ?? scope).getByRole('button', { name: new RegExp(`^${time}(（休診枠）)? の予約受付`) }),
});

/** A `YYYY-MM-DD` date moved by `days`. */
function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** `11月30日(月)`, as the week view names a day. */
function dayName(date) {
  const d = new Date(`${date}T00:00:00Z`);
  return `${d.getUTCMonth() + 1}月${d.getUTCDate()}日(${'日月火水木金土'[d.getUTCDay()]})`;
}

/** What the window shows now (not the whole page), for the now line's place on screen. */
const viewportShot = (page, name) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });

describe('the day view', () => {
  test('a line marks the current time on today, kept current, and ticking all times scrolls to it', async () => {
    const day = weekdayAhead(30);
    const { page, errors, context } = await doctorPage({ clock: `${day}T10:41:30+09:00` });
    await openSchedule(page, `date=${day}`);
    // The minute turns: the line says so at once.
    await context.clock.pauseAt(`${day}T10:42:10+09:00`);
    const line = page.locator('.now-line');
    await assert.doesNotReject(line.filter({ hasText: '現在 10:42' }).waitFor());
    // 10:42 is 12 of the 10:30 slot's 15 minutes: four fifths down its row.
    const row = await slot(page, '10:30').boundingBox();
    let at = await line.boundingBox();
    assert.ok(Math.abs(at.y - (row.y + row.height * 0.8)) <= 3, `the line at 10:42: ${at.y} in ${JSON.stringify(row)}`);

    // All times put midnight at the top; the page scrolls so the line is in view.
    await page.getByLabel('すべての時間を表示する').check();
    await slot(page, '00:00').waitFor();
    at = await line.boundingBox();
    const viewport = page.viewportSize();
    assert.ok(at.y >= 0 && at.y + at.height <= viewport.height, `the line in view: ${JSON.stringify(at)}`);
    assert.equal(await line.textContent(), '現在 10:42');
    await viewportShot(page, '44-schedule-now-line');

    await context.clock.runFor('01:00');
    await assert.doesNotReject(line.filter({ hasText: '現在 10:43' }).waitFor());
    assert.ok((await line.boundingBox()).y > at.y, 'the line moves down with the time');

    // A reload of today with all times shown comes back to the current time as well.
    // (The list is drawn again when live updates connect: wait for the line that stays.)
    await page.reload();
    await assert.doesNotReject(page.waitForFunction(() => {
      const shown = document.querySelector('.now-line:not([hidden])');
      const box = shown?.getBoundingClientRect();
      return shown?.textContent === '現在 10:43' && box.top >= 0 && box.bottom <= window.innerHeight;
    }, null, { timeout: 10000 }), 'the line in view after a reload');

    // Not on another day.
    await page.getByRole('button', { name: '次の日' }).click();
    await page.waitForURL((url) => url.searchParams.get('date') === addDays(day, 1));
    await slot(page, '00:00').waitFor();
    await line.first().waitFor({ state: 'hidden' });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('an appointment covers the slots of its time, beside those it overlaps, and every slot stays bookable', async () => {
    const day = weekdayAhead(44);
    const { page, errors, context, me, general } = await doctorPage();
    await book(page, { doctorId: me.staff.id, date: day, time: '10:00', name: '初診 三十分', visit: 'first', menu: general });
    await book(page, { doctorId: me.staff.id, date: day, time: '10:15', name: '再診 十五分', menu: general });
    await openSchedule(page, `date=${day}`);

    const long = page.locator('.entry', { hasText: '初診 三十分' });
    const short = page.locator('.entry', { hasText: '再診 十五分' });
    await long.waitFor();
    assert.equal(await slot(page, '10:00').locator('.entry', { hasText: '初診 三十分' }).count(), 1, 'the entry is on the slot it starts in');
    const ten = await slot(page, '10:00').boundingBox();
    const quarterPast = await slot(page, '10:15').boundingBox();
    const half = await slot(page, '10:30').boundingBox();
    const box = await long.boundingBox();
    assert.ok(box.y >= ten.y && box.y < ten.y + ten.height / 4, 'it starts at the top of 10:00');
    assert.ok(box.height > ten.height + quarterPast.height * 0.8, `it spans two rows: ${box.height} vs ${ten.height} + ${quarterPast.height}`);
    assert.ok(box.y + box.height <= half.y + 1, 'and ends before 10:30');
    // The 10:15 visit overlaps it: side by side, both whole.
    const other = await short.boundingBox();
    assert.ok(other.y >= quarterPast.y && other.y + other.height <= half.y + 1, 'the 15-minute one is in its row');
    assert.ok(other.x >= box.x + box.width || other.x + other.width <= box.x, `they do not overlap: ${JSON.stringify([box, other])}`);
    await screenshot(page, '45-schedule-span');

    // Each slot's person button can be clicked and reached by the keyboard.
    for (const time of ['10:00', '10:15']) {
      await assert.doesNotReject(page.getByRole('button', { name: `${time} の予約受付` }).click({ trial: true, timeout: 2000 }), time);
    }
    await page.getByRole('button', { name: '10:15 の予約受付' }).focus();
    await page.keyboard.press('Enter');
    await assert.doesNotReject(page.locator('#panel .panel-sub', { hasText: '10:15' }).waitFor());
    // The entries still open their appointment.
    await long.click();
    await assert.doesNotReject(page.locator('#panel').getByText('初診 三十分').first().waitFor());
    assert.deepEqual(await unlabelledControls(page), []);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('the week view', () => {
  test('shows the doctor\'s Monday to Sunday, opens an entry, and a day heading opens that day', async () => {
    const monday = (() => {
      const d = weekdayAhead(58);
      return addDays(d, -((new Date(`${d}T00:00:00Z`).getUTCDay() + 6) % 7));
    })();
    const week = Array.from({ length: 7 }, (_, i) => addDays(monday, i));
    const { page, errors, context, me, doctors, general } = await doctorPage();
    const sato = doctors.find((d) => d.id !== me.staff.id);
    await book(page, { doctorId: me.staff.id, date: week[1], time: '09:30', name: '火曜の患者', menu: general });
    await book(page, { doctorId: me.staff.id, date: week[3], time: '15:00', name: '木曜の患者', visit: 'first', menu: general });
    await api(page, 'POST', '/api/v1/video-calls', { doctor_id: me.staff.id, start_at: `${week[3]}T16:00:00+09:00`, title: '木曜の施設' });
    await book(page, { doctorId: sato.id, date: week[2], time: '10:00', name: '佐藤先生の患者', menu: general });

    // Picked from the day view on a Wednesday: the week is Monday to Sunday around it.
    await openSchedule(page, `date=${week[2]}`);
    await page.getByRole('group', { name: '表示' }).getByLabel('週').check();
    await page.waitForURL((url) => url.searchParams.get('view') === 'week');
    await page.locator('.week').waitFor();
    const headings = page.locator('.week-day-title');
    assert.deepEqual(await headings.allTextContents(), week.map(dayName));
    await assert.doesNotReject(page.getByText('月曜日から日曜日までの1週間を表示しています。', { exact: false }).waitFor());
    const column = (date) => page.locator('.week-day', { has: page.getByRole('button', { name: dayName(date), exact: true }) });
    await assert.doesNotReject(column(week[1]).locator('.entry', { hasText: '火曜の患者' }).waitFor());
    assert.match(await column(week[1]).locator('.entry').textContent(), /09:30〜09:45/);
    assert.equal(await column(week[3]).locator('.entry').count(), 2);
    assert.equal(await column(week[3]).locator('.entry.video', { hasText: '木曜の施設' }).locator('svg.icon-video').count(), 1, 'the video mark');
    assert.equal(await page.locator('.week .entry').count(), 3, 'only this doctor\'s appointments');
    assert.equal(await page.getByText('佐藤先生の患者').count(), 0);
    await screenshot(page, '46-schedule-week');
    assert.deepEqual(await unlabelledControls(page), []);

    // An entry opens its appointment in the panel.
    await column(week[1]).locator('.entry').click();
    await assert.doesNotReject(page.locator('#panel').getByRole('heading', { name: '予約内容' }).waitFor());
    await assert.doesNotReject(page.locator('#panel').getByText('火曜の患者').first().waitFor());

    // The navigation moves by a week, and back.
    await page.getByRole('button', { name: '次の週' }).click();
    await assert.doesNotReject(headings.first().filter({ hasText: dayName(addDays(monday, 7)) }).waitFor());
    await page.getByRole('button', { name: '前の週' }).click();
    await assert.doesNotReject(headings.first().filter({ hasText: dayName(monday) }).waitFor());

    // A day's heading opens that day in the day view.
    await page.getByRole('button', { name: dayName(week[3]), exact: true }).click();
    await page.waitForURL((url) => url.searchParams.get('date') === week[3] && !url.searchParams.has('view'));
    await assert.doesNotReject(slot(page, '15:00').locator('.entry', { hasText: '木曜の患者' }).waitFor());
    assert.equal(await page.getByRole('group', { name: '表示' }).getByLabel('日').isChecked(), true);
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('the all-doctors view', () => {
  test('puts every doctor\'s day side by side, and booking in a column makes that doctor the one in charge', async () => {
    const day = weekdayAhead(72);
    const { page, errors, context, me, doctors, general } = await doctorPage();
    for (const doctor of doctors) await book(page, { doctorId: doctor.id, date: day, time: '10:00', name: `${doctor.name}の患者`, menu: general });
    await openSchedule(page, `date=${day}&view=doctors`);
    const names = doctors.map((d) => d.name);
    assert.deepEqual(await page.locator('.doctor-column .doctor-name').allTextContents(), names);
    for (const doctor of doctors) {
      const column = page.locator('.doctor-column', { has: page.getByRole('heading', { name: doctor.name }) });
      await assert.doesNotReject(slot(column, '10:00').locator('.entry', { hasText: `${doctor.name}の患者` }).waitFor());
      assert.equal(await column.locator('.entry').count(), 1, `${doctor.name}: their own bookings only`);
    }
    assert.equal(await page.locator('.view-title').textContent(), 'スケジュール > 予約一覧 全医師');
    await screenshot(page, '47-schedule-all-doctors');
    assert.deepEqual(await unlabelledControls(page), []);

    // Booking from another doctor's column: they become the doctor in charge.
    const second = doctors.find((d) => d.id !== me.staff.id);
    assert.equal(await page.locator('#doctor-select').inputValue(), me.staff.id);
    const column = page.locator('.doctor-column', { has: page.getByRole('heading', { name: second.name }) });
    await column.getByRole('button', { name: `11:00 の予約受付（${second.name}）` }).click();
    const panel = page.locator('#panel');
    await assert.doesNotReject(panel.locator('.panel-sub .current-doctor', { hasText: second.name }).waitFor());
    assert.equal(await page.locator('#doctor-select').inputValue(), second.id, 'the header says so too');
    // The slot being booked is marked in that doctor's column only.
    assert.equal(await page.locator('li.slot.chosen').count(), 1);
    assert.equal(await column.locator('li.slot.chosen .slot-time').textContent(), '11:00');
    await panel.getByRole('button', { name: '非会員' }).click();
    assert.equal(await panel.locator('.field .current-doctor').textContent(), second.name);
    await panel.getByLabel('患者名').fill('列から予約');
    await panel.getByLabel('対面').check();
    await panel.getByRole('button', { name: '予約' }).click();
    await panel.getByRole('heading', { name: '予約内容' }).waitFor();
    await assert.doesNotReject(slot(column, '11:00').locator('.entry', { hasText: '列から予約' }).waitFor({ timeout: 5000 }));
    const booked = await api(page, 'GET', `/api/v1/appointments/${await column.locator('.entry', { hasText: '列から予約' }).getAttribute('data-appointment-id')}`);
    assert.equal(booked.doctor_id, second.id);
    // The view stays on every doctor, in the address too.
    assert.equal(new URL(page.url()).searchParams.get('view'), 'doctors');
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('printing', () => {
  test('shows the date, the doctor and every entry whole, without navigation, panel or buttons', async () => {
    const day = weekdayAhead(86);
    const { page, errors, context, me, doctors, general } = await doctorPage();
    // Three at once, with long names a lane cuts short on screen.
    const long = ['とても長い名前の患者さん 一番目', 'とても長い名前の患者さん 二番目', 'とても長い名前の患者さん 三番目'];
    for (const name of long) await book(page, { doctorId: me.staff.id, date: day, time: '10:00', name, visit: 'first', menu: general });
    await book(page, { doctorId: me.staff.id, date: day, time: '15:30', name: '午後の患者', menu: general });
    const other = doctors.find((d) => d.id !== me.staff.id);
    await book(page, { doctorId: other.id, date: day, time: '11:00', name: '別の医師の患者', menu: general });
    await openSchedule(page, `date=${day}`);
    await page.locator('.entry').nth(3).waitFor();
    await page.locator('.entry', { hasText: '午後の患者' }).click();
    await page.locator('#panel').getByRole('heading', { name: '予約内容' }).waitFor();

    await page.emulateMedia({ media: 'print' });
    const visible = (selector) => page.locator(selector).evaluateAll((all) => all.filter((e) => e.getClientRects().length > 0).length);
    assert.equal(await visible('.app-header nav'), 0, 'no navigation');
    assert.equal(await visible('#panel'), 0, 'no panel');
    assert.equal(await visible('button:not(.entry)'), 0, 'no buttons but the entries');
    assert.equal(await visible('input, select'), 0, 'no controls');
    assert.equal(await visible('.now-line'), 0);
    assert.match(await page.locator('h1').textContent(), /担当医師: 山田 太郎/);
    assert.equal(await page.locator('.day-title').isVisible(), true, 'the date');
    // Every entry, none cut short.
    const entries = () => page.locator('.entry').evaluateAll((all) => all.map((e) => ({
      text: e.textContent,
      shown: e.getClientRects().length > 0,
      whole: e.scrollWidth <= e.clientWidth + 1 && e.scrollHeight <= e.clientHeight + 1,
    })));
    const printed = await entries();
    assert.equal(printed.length, 4, JSON.stringify(printed));
    for (const entry of printed) assert.ok(entry.shown && entry.whole, `printed whole: ${JSON.stringify(entry)}`);
    await screenshot(page, '48-schedule-print');

    // The other views print the same way.
    for (const [view, count] of [['doctors', 5], ['week', 4]]) {
      await page.emulateMedia({ media: 'screen' });
      await page.getByRole('group', { name: '表示' }).getByLabel(view === 'week' ? '週' : '全医師').check();
      // The view before may still be drawn: wait for this one's entries, all of them.
      await page.waitForFunction((n) => document.querySelectorAll('.entry').length === n, count);
      await page.emulateMedia({ media: 'print' });
      // The week's day headings stay, as headings.
      assert.equal(await visible('button:not(.entry, .week-day-title button)'), 0, `${view}: no buttons but the entries`);
      const all = await entries();
      assert.equal(all.length, count, view);
      for (const entry of all) assert.ok(entry.shown && entry.whole, `${view}: printed whole: ${JSON.stringify(entry)}`);
      await screenshot(page, `48-schedule-print-${view}`);
    }
    assert.deepEqual(errors, []);
    await context.close();
  });
});
