// Japanese wording for the API's problem codes and fields; the server's English `detail` is
// for logs and integrators, never shown to staff or patients.

import { h } from './dom.js';
import { DELIVERY_LABELS } from './labels.js';

const BY_FIELD = {
  patient_name: '患者名を入力してください（100文字以内）。',
  chart_number: 'カルテ番号は英数字・「-」・「_」の32文字以内で入力してください。',
  title: 'タイトルは100文字以内で入力してください。',
  memo: '当日メモは1000文字以内で入力してください。',
  start_at: '開始日時を入力してください。',
  doctor_id: '担当医師を選んでください。',
  menu_id: '診療メニューを選んでください。',
  visit_type: '初診・再診を選んでください。',
  mode: '診察方式を選んでください。',
  query: '患者名またはカルテ番号を入力してください（100文字以内）。',
  password: 'パスワードは10文字以上256文字以内で入力してください。',
  new_password: 'パスワードは10文字以上256文字以内で入力してください。',
  // 設定: the clinic's profile, its staff, menus, hours and closed days.
  name: '1文字以上100文字以内で入力してください。',
  email: 'メールアドレスを正しく入力してください（例：yamada@example.jp）。',
  phone: '電話番号を正しく入力してください（例：03-1234-5678）。',
  time_zone: 'タイムゾーンを選んでください。',
  role: '役割を選んでください。',
  modes: '診察方式を1つ以上選んでください。',
  duration_first_min: '診察時間は5分から240分の間で入力してください。',
  duration_revisit_min: '診察時間は5分から240分の間で入力してください。',
  booking_fee_yen: '予約料は0円から1,000,000円の間で入力してください。',
  slot_min: '予約枠の長さは5分から240分の間で選んでください。',
  ...Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((day) => [`weekdays.${day}`,
    '時間帯を確認してください。開始は終了より前、終了は24:00まで、時間帯どうしが重ならないように入力してください。'])),
  date: '日付を正しく入力してください。',
  reason: '理由を入力してください（200文字以内）。',
  current_password: '現在のパスワードを入力してください。',
  code: '確認コード（6桁の数字）または回復コードを入力してください。',
  // 設定 > アクセスログ: its filters.
  appointment_id: '予約IDを正しく入力してください（例：0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b）。',
  since: '期間の開始日を正しく入力してください。',
  until: '期間の終了日は開始日と同じか、それより後の日付を入力してください。',
  limit: '一度に読み込む件数は1件から500件の間です。',
};

/** The message for a value of the request field `name` that cannot be accepted. */
export const fieldMessage = (name) => BY_FIELD[name] ?? '入力内容を確認してください。';

const BY_CODE = {
  mode_not_allowed: 'この診療メニューでは選択した診察方式を利用できません。',
  start_time_immutable: '開始日時は変更できません。変更する場合はキャンセルして作成し直してください。',
  unknown_doctor: '担当医師が見つかりません。',
  unknown_menu: '診療メニューが見つかりません。',
  outside_hours: '担当医師の診療時間外か休診日です。',
  version_conflict: '他の方がこの予約を更新しました。最新の内容を表示しています。',
  concurrent_modification: '他の方が同時に更新しました。もう一度お試しください。',
  appointment_cancelled: 'この予約はキャンセルされています。',
  call_ended: 'このビデオ通話は終了しています。',
  call_in_progress: 'ビデオ通話中です。',
  appointment_erased: 'この予約の個人情報は削除済みのため、この操作はできません。',
  call_not_started: 'ビデオ通話はまだ開始されていません。',
  outside_validity_window: 'ビデオ通話URLの有効期間外です（開始1時間前から翌日同時刻まで）。',
  already_sent: 'URLは送信済みです。「URL再送」から送信してください。',
  no_video_call: '対面の予約にはビデオ通話がありません。',
  not_editable: 'この予約は編集できません。',
  invalid_credentials: 'メールアドレスまたはパスワードが正しくありません。',
  rate_limited: '試行回数が多すぎます。しばらくしてから再度お試しください。',
  too_many_logins: 'ログインが集中しています。しばらくしてから再度お試しください。',
  too_many_failures:
    'このメールアドレスでのログイン失敗が続いたため、一時的にログインを制限しています。しばらくしてから再度お試しください。以前ログインしたことのある端末からはログインできます。',
  busy: 'サーバーが混み合っています。しばらくしてから再度お試しください。',
  network: 'サーバーに接続できません。ネットワークを確認してください。',
  not_found: '見つかりません。削除されたか、URLが正しくありません。',
  two_factor_required: '2段階認証の確認コードを入力してください。認証アプリに表示されている6桁の数字か、回復コードを入力します。',
  invalid_two_factor_code: '確認コードが正しくないか、すでに使われています。認証アプリに表示されている最新の6桁を入力してください。',
  two_factor_enrolment_required: 'この医療機関では2段階認証が必須です。先に2段階認証を設定してください。',
  two_factor_required_by_clinic: 'この医療機関では2段階認証が必須のため、解除できません。',
  two_factor_not_started: '設定がはじまっていません。「設定をはじめる」からやり直してください。',
  csrf_failed: 'ログインの有効期限が切れた可能性があります。ページを再読み込みしてください。',
  forbidden: 'この操作を行う権限がありません。',
  invalid_signature: 'SMS事業者からの通知として確認できませんでした。',
  setup_link_gone: 'このURLは使用済みか、有効期限が切れています。管理者に新しいURLの発行を依頼してください。',
  idempotency_key_in_use: '前の操作を処理中です。少し待ってから再度お試しください。',
  idempotency_key_reused: '入力内容が変わりました。もう一度お試しください。',
  unavailable: 'サーバーが一時的に利用できません。しばらくしてから再度お試しください。',
  unauthorized: 'ログインしてください。',
  malformed_if_match: '画面の情報が古い可能性があります。ページを再読み込みしてください。',
  malformed_json: '送信内容を読み取れませんでした。ページを再読み込みしてお試しください。',
  unsupported_media_type: '送信内容を読み取れませんでした。ページを再読み込みしてお試しください。',
  body_too_large: '送信内容が大きすぎます。',
  method_not_allowed: 'この操作はできません。',
  upgrade_required: 'ビデオ通話に接続できません。ページを再読み込みしてください。',
  invalid_idempotency_key: '送信内容を読み取れませんでした。ページを再読み込みしてお試しください。',
  unreadable_history: 'この予約の履歴を読み込めません。管理者にお問い合わせください。',
  internal: '予期しないエラーが発生しました。しばらくしてから再度お試しください。',
  already_exists: 'この予約はすでに作成されています。',
  unknown_delivery: '送信記録が見つかりません。',
  send_limited: 'このURLは1時間に送信できる回数の上限に達しました。しばらくしてから再度お試しください。',
  last_admin: '有効な管理者が1人もいなくなるため、変更できません。先に別のスタッフを管理者にしてください。',
  email_taken: 'このメールアドレスは別のスタッフが使用しています。',
  staff_inactive: 'このスタッフは無効になっています。先に有効に戻してください。',
  // Not the server's: the browser's own refusal to make a CSV of the access log that large.
  too_many_records: '記録が多すぎるため（10万件超）、CSVを作成できません。期間を短くするか、職員や予約IDで絞り込んでください。',
  sms_country_not_allowed: 'この国の電話番号にはSMSを送信できません。日本など送信が許可された国の携帯電話番号を入力するか、メールで送信してください。',
};

/**
 * The message for a destination the server refused (R14): its own for a refusal with a code
 * of its own (a country SMS may not go to), else what a valid one looks like.
 */
export function destinationMessage(channel, problem) {
  if (problem?.code in BY_CODE) return BY_CODE[problem.code];
  return channel === 'sms'
    ? '有効な携帯電話番号を入力してください（例：090-1234-5678）。'
    : '有効なメールアドレスを入力してください。';
}

/** A person-readable Japanese message for a `Problem`. */
export function describe(problem) {
  if (problem.code in BY_CODE) return BY_CODE[problem.code];
  if (problem.status === 429) return BY_CODE.rate_limited;
  if (problem.field && problem.field in BY_FIELD) return BY_FIELD[problem.field];
  if (problem.code === 'validation_failed') return '入力内容を確認してください。';
  return `エラーが発生しました（${problem.code}）。`;
}

// Why the relay refused a page's media after the upgrade (`refused {code}` on the signalling
// socket), in words for the person on either end of the call.
const MEDIA_REFUSALS = {
  unavailable: 'ビデオ通話の接続先が混み合っています。しばらくしてからページを再読み込みしてください。',
  // The page's offer could not be used: an old or unusual browser.
  validation_failed: 'このブラウザではビデオ通話に接続できません。iPhone・iPadはSafari、AndroidやパソコンはChromeで開いてください。',
};

/** The message for a refused join of the call's media. */
export function mediaRefusal(code) {
  return MEDIA_REFUSALS[code] ?? 'ビデオ通話に接続できません。ページを再読み込みしてください。';
}

/** An announced error paragraph for a `Problem`. */
export const errorParagraph = (problem) => h('p', { class: 'form-error', role: 'alert' }, describe(problem));

/** Why a message did not arrive, by its `failure_code` (`<provider>:<code>`), in words staff
 * can act on; the server's English `failure_reason` is for logs. */
const FAILURES = {
  'twilio:21211': '電話番号が正しくありません',
  'twilio:21614': '携帯電話の番号ではありません',
  'twilio:21610': '受信者がSMSの受信を停止しています',
  'twilio:21408': 'この国の番号にはSMSを送信できません',
  'twilio:21612': 'この番号にはSMSを送信できません',
  'twilio:30003': '相手の電話の電源が切れているか、圏外です',
  'twilio:30004': '相手の電話がSMSの受信を拒否しています',
  'twilio:30005': 'この電話番号は使われていません',
  'twilio:30006': '固定電話など、SMSを受け取れない番号です',
  'twilio:30007': '迷惑メッセージとして止められました',
  'twilio:30008': '携帯電話会社から届かなかったと通知されました',
  'smtp:550': 'メールアドレスが存在しないか、受信を拒否されました',
  'smtp:551': 'メールアドレスが存在しません',
  'smtp:552': '相手のメールボックスがいっぱいです',
  'smtp:553': 'メールアドレスが正しくありません',
  'smtp:554': '相手のメールサーバーに拒否されました',
  'enkaku:retries_exhausted': '送信サービスにつながらないため、送信できませんでした',
  'enkaku:appointment_closed': '送信する前に予約がキャンセルまたは終了しました',
  'enkaku:unreadable': '予約の内容を読み込めず、送信できませんでした',
};

function failureText(code) {
  if (code in FAILURES) return FAILURES[code];
  const [provider, number] = (code ?? '').split(':');
  if (provider === 'twilio') return `SMSを届けられませんでした（コード ${number}）`;
  if (provider === 'smtp') return `メールを届けられませんでした（コード ${number}）`;
  return '送信できませんでした';
}

/** A delivery's state in a sentence staff act on: 「配信失敗（理由）」, 「送信結果不明」 … */
export function deliveryState(d) {
  switch (d.status) {
    case 'failed': return `${DELIVERY_LABELS.failed}（${failureText(d.failure_code)}）`;
    case 'unknown': return `${DELIVERY_LABELS.unknown}（届いたか確認できませんでした。必要なら「URL再送」してください）`;
    case 'kept': return `${DELIVERY_LABELS.kept}: SMS・メールの送信設定がないため、送信ボックスに保管しました`;
    default: return DELIVERY_LABELS[d.status] ?? d.status;
  }
}
