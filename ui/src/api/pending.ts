// Operations the UI contract names (notes/ui-contract.md) whose Rust side is not in main yet, so
// ts-rs has not generated them. Each entry goes away when ../generated/ gains it; the screens that
// need them stay out of the navigation until then (screens/registry.ts).

export interface Runbook {
  id: string;
  title: string;
  audience: string;
  html: string;
}

/** Error class (AppError code, dead-letter reason class, preflight check id) → `runbook_id#anchor`. */
export type ErrorRunbooks = Record<string, string>;

export type PendingOperation = { op: 'runbooks' } | { op: 'error_runbooks' };

export interface PendingAnswerOf {
  runbooks: Runbook[];
  error_runbooks: ErrorRunbooks;
}
