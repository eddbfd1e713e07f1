// Operations the UI contract names (notes/ui-contract.md) whose Rust side is not in main yet, so
// ts-rs has not generated them. Each entry goes away when ../generated/ gains it; the screens that
// need them stay out of the navigation until then (screens/registry.ts).

export interface AuditExport {
  file_name: string;
  bytes: number;
  entries: number;
  checkpoint: string;
  key_fingerprint: string;
  verify: string[];
}

/** The verify report of an exported bundle: `ok`, and each check when the report lists them. */
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

/** Error class (AppError code, dead-letter reason class, preflight check id) → `runbook_id#anchor`. */
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
}

export type PendingOperation =
  | { op: 'audit_export'; from?: string; to?: string }
  | { op: 'audit_verify'; file_name: string }
  | { op: 'runbooks' }
  | { op: 'error_runbooks' }
  | { op: 'rehearse'; kind: 'cutover' | 'demo' }
  | { op: 'connection' };

export interface PendingAnswerOf {
  audit_export: AuditExport;
  audit_verify: AuditVerify;
  runbooks: Runbook[];
  error_runbooks: ErrorRunbooks;
  rehearse: Rehearsal;
  connection: Connection;
}
