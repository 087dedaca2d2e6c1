// 設定 > 医療機関情報: the clinic's name, the phone number patients are given, and its time
// zone. A new time zone keeps every appointment's instant: only how times are shown moves.

import { fill, h, keepingFocus } from '../lib/dom.js';
import { clearErrors, field, formError, showProblem } from '../lib/forms.js';
import { listLoader } from '../lib/lists.js';
import { confirmDialog } from '../lib/ui.js';
import { changeShown, statusLine } from './common.js';

/** Common zones, Japan's first: `[IANA name, how a clinic says it]`. */
const TIME_ZONES = [
  ['Asia/Tokyo', '日本'],
  ['Asia/Seoul', '韓国'],
  ['Asia/Shanghai', '中国'],
  ['Asia/Taipei', '台湾'],
  ['Asia/Hong_Kong', '香港'],
  ['Asia/Singapore', 'シンガポール'],
  ['Asia/Bangkok', 'タイ'],
  ['Asia/Kolkata', 'インド'],
  ['Australia/Sydney', 'オーストラリア東部'],
  ['Pacific/Honolulu', 'ハワイ'],
  ['America/Los_Angeles', 'アメリカ太平洋時間'],
  ['America/New_York', 'アメリカ東部時間'],
  ['Europe/London', 'イギリス'],
  ['Europe/Paris', 'フランス'],
  ['Europe/Berlin', 'ドイツ'],
  ['UTC', '協定世界時'],
];

const TIME_ZONE_HINT = 'タイムゾーンを変更しても、登録済みの予約の時刻そのものは変わりません。'
  + '変わるのは画面やメールでの表示だけです（例：日本時間10:00の予約は、協定世界時（UTC）では1:00と表示されます）。'
  + '診療時間と休診日は、新しいタイムゾーンの時刻として扱われます。';

export function clinicTab(ctx, body) {
  const status = statusLine();
  const place = h('div');
  fill(body, h('h2', {}, '医療機関情報'), status.element, place);
  // Unsaved typing is never replaced by a live update; a save then meets the newer version.
  let editing = false;
  const load = listLoader(place, () => '/api/v1/admin/clinic', (profile) => {
    editing = false;
    ctx.showClinicName(profile.name);
    fill(place, form(profile));
  });

  function form(profile) {
    const name = h('input', { type: 'text', maxlength: '100', value: profile.name, autocomplete: 'organization' });
    const phone = h('input', { type: 'tel', maxlength: '32', value: profile.phone ?? '', autocomplete: 'tel' });
    const zone = h('select', {},
      TIME_ZONES.some(([id]) => id === profile.time_zone) ? null : h('option', { value: profile.time_zone }, profile.time_zone),
      TIME_ZONES.map(([id, label]) => h('option', { value: id }, `${label}（${id}）`)));
    zone.value = profile.time_zone;
    const save = h('button', { type: 'submit', class: 'primary', dataset: { focusKey: 'save-clinic' } }, '保存');
    const edit = h('form', { class: 'settings-form', novalidate: true },
      field({ label: '医療機関名', name: 'name', control: name, required: true }),
      field({ label: '電話番号', name: 'phone', control: phone,
        hint: '患者さんへのメールと患者用URLのページに、問い合わせ先として表示されます。空欄にすると表示しません。' }),
      field({ label: 'タイムゾーン', name: 'time_zone', control: zone, hint: TIME_ZONE_HINT }),
      formError(),
      h('div', { class: 'actions' }, save));
    edit.addEventListener('input', () => { editing = true; });
    edit.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(edit);
      status.clear();
      const zoneChanged = zone.value !== profile.time_zone;
      if (zoneChanged && !(await confirmDialog({
        title: 'タイムゾーンの変更',
        message: `タイムゾーンを「${zone.selectedOptions[0].textContent}」に変更しますか？${TIME_ZONE_HINT}`,
        confirm: '変更する',
      }))) return;
      save.disabled = true;
      try {
        const saved = await changeShown('PATCH', '/api/v1/admin/clinic',
          { name: name.value, phone: phone.value.trim() || null, time_zone: zone.value }, profile,
          { status, reload: () => { editing = false; load(); } });
        if (!saved) return;
        ctx.showClinicName(saved.name);
        ctx.tz = saved.time_zone;
        editing = false;
        keepingFocus(() => fill(place, form(saved)));
        status.say(zoneChanged ? '保存しました。ほかの画面には、開き直すと新しいタイムゾーンで表示されます。' : '保存しました。');
      } catch (problem) {
        showProblem(edit, problem);
        save.disabled = false;
      }
    });
    return edit;
  }

  return { refresh: () => (editing ? undefined : load()) };
}
