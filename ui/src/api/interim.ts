// Interim types of the app API, written by hand from the JSON snapshots in
// crates/core/src/app/snapshots/*.snap and the operations the UI contract names
// (notes/ui-contract.md). They are replaced by the ts-rs types in ../generated/ once those land
// in main; nothing outside src/api/ imports this file directly (use ./types).

/** u64 on the Rust side; a JSON number. */
export type U64 = number;
/** An ISO-8601 UTC timestamp. */
export type Utc = string;
/** rust_decimal with serde-str: an exact decimal as a string. */
export type Money = string;

export type Code =
  | 'bad_request'
  | 'not_found'
  | 'unauthorized'
  | 'not_running'
  | 'store_unavailable'
  | 'upstream'
  | 'internal'
  | 'at_last_stage'
  | 'at_first_stage'
  | 'preflight_missing'
  | 'preflight_stale'
  | 'preflight_failed'
  | 'plan_moved'
  | 'stage_held'
  | 'not_held';

export interface AppErrorBody {
  code: Code;
  message: string;
}

// ---- status ---------------------------------------------------------------------------------

export type LaneName = 'transactions' | 'customers' | 'carts' | 'catalog' | 'backfill' | 'triggers';
export type LaneState = 'on_time' | 'late' | 'stalled' | 'closed' | 'idle';

export interface LaneStatus {
  lane: string;
  queued: U64;
  oldest_age_ms: number | null;
  state: LaneState;
}

export interface PurchaseLatency {
  p50_ms: number | null;
  p99_ms: number | null;
  limit_ms: number;
  samples: U64;
}

export interface StoreCounts {
  inbox_total: U64;
  inbox_pending: U64;
  fetch_queue: U64;
  set_aside: U64;
  outbox_pending: Record<string, U64>;
  outbox_oldest: Record<string, { enqueued_at_ms: number; event_time_ms: number }>;
  delivered: U64;
  dead_letters: U64;
  enqueued: U64;
  audit_records: U64;
}

export interface Metrics {
  webhooks_accepted: U64;
  webhooks_duplicate: U64;
  webhooks_unauthorized: U64;
  webhooks_too_large: U64;
  webhooks_malformed: U64;
  webhooks_other_store: U64;
  webhooks_bad_id: U64;
  resources_fetched: U64;
  resources_polled: U64;
  hooks_restored: U64;
  batches_sent: U64;
  batch_commands: U64;
  catalog_requests: U64;
  bloomreach_429s: U64;
  bloomreach_failures: U64;
  delivered: U64;
  retries: U64;
  dead_lettered: U64;
  last_errors: string[];
}

export interface Parked {
  component: string;
  since: Utc;
  reason: string;
  hint: string;
  probe_every_secs: U64;
}

export interface Starting {
  service: string;
  waiting: string;
  since: Utc;
  reason: string;
  attempts: U64;
}

export interface Alert {
  kind: string;
  message: string;
}

export interface Status {
  at: Utc;
  store: StoreCounts;
  metrics: Metrics;
  in_flight: U64;
  poll_passes: U64;
  hooks: { created: string[]; reactivated: string[]; active: string[] };
  bigcommerce_quota: { quota: U64; requests_left: U64; requests_sent: U64; rate_limited: U64 } | null;
  bloomreach_requests_per_second: U64;
  webhook_address: string;
  api_address: string;
  idle: boolean;
  lane_age_ms: Record<string, number>;
  parked: Parked[];
  starting: Starting[];
  stage: Stage;
  alerts: Alert[];
  /** Contract addition (lead): per lane queue, oldest age and state. */
  lanes?: LaneStatus[];
  /** Contract addition (lead): purchase latency against the 5-minute limit. */
  purchase_latency?: PurchaseLatency;
}

// ---- cutover --------------------------------------------------------------------------------

export type Stage = 'connect' | 'preflight' | 'read_only' | 'ingest' | 'triggers';
export type CheckId = 'rate_limited' | 'dead_letters' | 'purchase_latency' | 'identity_conflicts';
export type CheckMode = 'enforce' | 'observe';
export type CheckOutcome = 'pass' | 'fail' | 'inconclusive';
export type TransitionKind = 'advance' | 'rollback' | 'fall_back' | 'hold' | 'acknowledge';

export interface StageInfo {
  stage: Stage;
  lanes: string[];
  ceiling_percent: number;
  needs_preflight: boolean;
  current: boolean;
}

export interface WatchedCheck {
  check: CheckId;
  mode: CheckMode;
  threshold: number;
  unit: string;
  window_secs: U64;
}

export interface HoldView {
  check: CheckId;
  reason: string;
  since: Utc;
}

export interface TransitionView {
  seq: U64;
  at: Utc;
  actor: string;
  kind: TransitionKind;
  from: Stage;
  to: Stage;
  detail: Record<string, unknown> | null;
}

export interface WindowFigures {
  window_secs: U64;
  requests: U64;
  rate_limited: U64;
  delivered: U64;
  dead_lettered: U64;
  purchase_latency: { count: U64; p99_ms: number; max_ms: number };
  oldest_queued_purchase_ms: number | null;
  identity_conflicts: U64;
}

export interface CheckResult {
  check: CheckId;
  mode: CheckMode;
  outcome: CheckOutcome;
  value: number;
  threshold: number;
  unit: string;
  window_secs: U64;
  reason: string;
}

export type Decision =
  | { decision: 'continue' }
  | { decision: 'fall_back'; check: CheckId; value: number; threshold: number; window_secs: U64 }
  | { decision: 'hold'; check: CheckId; reason: string };

export interface LastEvaluation {
  at: Utc;
  figures: WindowFigures;
  results: CheckResult[];
  decision: Decision;
}

export interface StageStatus {
  stage: Stage;
  recorded: boolean;
  entered_at: Utc | null;
  lanes_open: string[];
  ceiling_percent: number;
  hold: HoldView | null;
  stages: StageInfo[];
  checks: WatchedCheck[];
  last_evaluation: LastEvaluation | null;
  last_transitions: TransitionView[];
}

export type LaneChange = 'stays_open' | 'opens' | 'stays_closed';

export interface QueueCost {
  bloomreach_requests: U64;
  bloomreach_secs_at_ceiling: U64;
  bigcommerce_requests: U64;
}

export interface LanePlan {
  lane: string;
  change: LaneChange;
  queued: U64;
  oldest_enqueued_at_ms: number | null;
  oldest_age_ms: number | null;
  cost: QueueCost | null;
}

export interface PreflightSummary {
  passed: boolean;
  digest: string;
  blocking: string[];
  ran_at_ms: number;
}

export interface StagePlan {
  from: Stage;
  to: Stage | null;
  ceiling_percent_from: number;
  ceiling_percent_to: number;
  bloomreach_requests_per_second_to: number;
  lanes: LanePlan[];
  starts_flowing: U64;
  cost: QueueCost;
  needs_preflight: boolean;
  preflight: PreflightSummary | null;
  plan_hash: string;
}

export interface ClosingLane {
  lane: string;
  queued_kept: U64;
  already_sent: U64;
}

export interface RollbackPreview {
  from: Stage;
  to: Stage;
  lanes_closing: ClosingLane[];
  cannot_undo: string;
}

export interface StagePlanAnswer {
  advance: StagePlan;
  checks_after: WatchedCheck[];
  rollback: RollbackPreview | null;
}

export interface Advanced {
  from: Stage;
  to: Stage;
  plan_hash: string;
  at: Utc;
  lanes_opened: string[];
  starts_flowing: U64;
  ceiling_percent: number;
}

export interface RolledBack {
  from: Stage;
  to: Stage;
  at: Utc;
  lanes_closed: ClosingLane[];
  cannot_undo: string;
}

export interface Acknowledged {
  stage: Stage;
  cleared: HoldView;
  at: Utc;
}

// ---- preflight ------------------------------------------------------------------------------

export interface PreflightCheck {
  id: string;
  title: string;
  severity: 'block' | 'warn';
  outcome: CheckOutcome;
  evidence: { request_id: string | null; status: number | null; read: string };
  fix: string;
  runbook: string;
}

export interface PreflightReport {
  checks: PreflightCheck[];
  passed: boolean;
  digest: string;
  ran_at: Utc;
}

// ---- dead letters, trace --------------------------------------------------------------------

export type CommandState = 'pending' | 'delivered' | 'dead' | 'discarded' | 'superseded';

export interface DeadLetter {
  id: U64;
  lane: string;
  destination: string;
  fact: string;
  person: string | null;
  reason: string;
  /** Contract addition (lead); absent from older appliances. */
  reason_class?: string;
  attempts: number;
  enqueued_at: Utc;
  state: CommandState;
  payload: unknown;
}

export interface BulkDeadLetters {
  preview: boolean;
  letters: DeadLetter[];
  replayed: U64;
}

export interface SetAside {
  key: string;
  reason: string;
  set_aside_at: Utc;
  oldest_notification_at: Utc;
  state: 'set_aside' | 'replayed' | 'discarded';
}

export interface TraceCommand {
  id: U64;
  fact: string;
  lane: string;
  destination: string;
  state: CommandState;
  attempts: number;
  last_error: string | null;
  enqueued_at: Utc;
  acknowledged_at: Utc | null;
  request_id: string | null;
  customer_ids: Record<string, string>;
}

export interface TraceVerdict {
  kind: 'entered' | 'waiting' | 'withheld' | 'failed' | 'unknown';
  summary: string;
  reasons: string[];
}

export interface Trace {
  query: string;
  person_keys: string[];
  links: { from: string; to: string }[];
  commands: TraceCommand[];
  withheld: { subject: string; reason: string; person: string | null; at: Utc }[];
  set_aside: SetAside[];
  set_aside_unattributed: U64;
  /** Contract addition (lead). */
  verdict?: TraceVerdict;
}

// ---- reconciliation -------------------------------------------------------------------------

export interface DayRow {
  day: string | null;
  currency: string;
  bigcommerce_orders: U64;
  bigcommerce_gross: Money;
  bigcommerce_discounts: Money;
  bigcommerce_tax: Money;
  bigcommerce_shipping: Money;
  bigcommerce_refunds: Money;
  bigcommerce_net: Money;
  bigcommerce_cancelled: U64;
  bigcommerce_unpaid: U64;
  bloomreach_orders: U64;
  bloomreach_gross: Money;
  bloomreach_refunds: Money;
  bloomreach_net: Money;
  bloomreach_cancelled: U64;
  matched: U64;
  missing: U64;
  extra: U64;
  duplicate: U64;
  amount_mismatch: U64;
  difference: Money;
}

export interface Finding {
  subject: 'sale' | 'refund';
  class: 'matched' | 'missing' | 'extra' | 'duplicate' | 'amount_mismatch';
  order_id: U64;
  refund_id: U64 | null;
  day: string;
  currency: string;
  bigcommerce_amount: Money | null;
  bloomreach_amount: Money | null;
  acknowledged: number;
  note: string;
}

export interface Reconciliation {
  range: { from: string; to: string };
  time_zone: string;
  generated_at: Utc;
  rows: DayRow[];
  totals: DayRow[];
  findings: Finding[];
  balanced: boolean;
  repair: {
    orders_resent: U64[];
    dead_letters_replayed: U64[];
    already_pending: U64[];
    left_discarded: U64[];
  } | null;
}

// ---- contract additions: audit, runbooks, rehearsal, connection --------------------------------

export interface AuditExport {
  file_name: string;
  bytes: U64;
  entries: U64;
  checkpoint: string;
  key_fingerprint: string;
  verify: string[];
}

/** The verify report of an exported bundle; its exact fields come with the generated types. */
export interface AuditVerify {
  ok: boolean;
  checks?: { name: string; ok: boolean; detail?: string }[];
  [field: string]: unknown;
}

export interface Runbook {
  id: string;
  title: string;
  audience: string;
  html: string;
}

export type ErrorRunbooks = Record<string, string>;

export interface Rehearsal {
  kind: 'cutover' | 'demo';
  passed: boolean;
  summary: string;
  lines: string[];
}

export interface SecretView {
  name: string;
  reference: string;
  resolves: boolean;
}

export interface Connection {
  config_path: string | null;
  store_hash: string | null;
  bigcommerce_api: string | null;
  bloomreach_api: string | null;
  bloomreach_project: string | null;
  secrets: SecretView[];
  [field: string]: unknown;
}

// ---- operations -----------------------------------------------------------------------------

export type Operation =
  | { op: 'status' }
  | { op: 'trace'; query: string }
  | { op: 'dead_letters' }
  | { op: 'dead_letter'; id: U64 }
  | { op: 'replay_dead_letter'; id: U64 }
  | { op: 'discard_dead_letter'; id: U64 }
  | { op: 'replay_dead_letters'; ids: U64[]; preview: boolean }
  | { op: 'discard_dead_letters'; ids: U64[] }
  | { op: 'set_aside_fetches' }
  | { op: 'replay_set_aside_fetch'; key: string }
  | { op: 'discard_set_aside_fetch'; key: string }
  | { op: 'reconcile'; from: string; to: string; repair: boolean }
  | { op: 'stage' }
  | { op: 'stage_plan' }
  | { op: 'advance'; plan_hash: string }
  | { op: 'rollback' }
  | { op: 'acknowledge' }
  | { op: 'preflight'; storefront?: string[]; sdk_url?: string }
  | { op: 'audit_export'; from?: string; to?: string }
  | { op: 'audit_verify'; file_name: string }
  | { op: 'runbooks' }
  | { op: 'error_runbooks' }
  | { op: 'rehearse'; kind: 'cutover' | 'demo' }
  | { op: 'connection' };

export interface AnswerOf {
  status: Status;
  trace: Trace;
  dead_letters: DeadLetter[];
  dead_letter: DeadLetter;
  replay_dead_letter: DeadLetter;
  discard_dead_letter: DeadLetter;
  replay_dead_letters: BulkDeadLetters;
  discard_dead_letters: BulkDeadLetters;
  set_aside_fetches: SetAside[];
  replay_set_aside_fetch: SetAside;
  discard_set_aside_fetch: SetAside;
  reconcile: Reconciliation;
  stage: StageStatus;
  stage_plan: StagePlanAnswer;
  advance: Advanced;
  rollback: RolledBack;
  acknowledge: Acknowledged;
  preflight: PreflightReport;
  audit_export: AuditExport;
  audit_verify: AuditVerify;
  runbooks: Runbook[];
  error_runbooks: ErrorRunbooks;
  rehearse: Rehearsal;
  connection: Connection;
}
