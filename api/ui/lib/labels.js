// The Japanese words for the API's enum values, in one place.

export const STATUS_LABELS = { booked: '予約済', in_call: '通話中', ended: '終了', cancelled: 'キャンセル' };
export const MODE_LABELS = { in_person: '対面', online: 'オンライン' };
export const VISIT_LABELS = { first: '初診', revisit: '再診' };
export const CHANNEL_LABELS = { sms: 'SMS', email: 'メール' };
export const DELIVERY_LABELS = {
  pending: '送信中',
  kept: '送信ボックスに保管（未送信）',
  sent: '送信済み',
  delivered: '配信済み',
  failed: '配信失敗',
  unknown: '送信結果不明',
};
export const ROLE_LABELS = { doctor: '医師', reception: '受付', auditor: '監査' };
/** The access log's `action` and `outcome` (設定 > アクセスログ). */
export const ACCESS_ACTION_LABELS = { sign_in: 'ログイン', sign_out: 'ログアウト', read: '閲覧', change: '変更', setup_link: '設定用リンク' };
export const ACCESS_OUTCOME_LABELS = { success: '成功', denied: '拒否', failure: '失敗' };
