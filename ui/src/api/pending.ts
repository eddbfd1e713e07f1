// Operations the UI contract names (notes/ui-contract.md) whose Rust side is not in main yet, so
// ts-rs has not generated them. Each entry goes away when ../generated/ gains it; the screens that
// need them stay out of the navigation until then (screens/registry.ts).

export interface Runbook {
  id: string;
  title: string;
  audience: string;
  /** Rendered Rust-side; every heading carries its anchor as `id`. */
  html: string;
  anchors: string[];
}

/**
 * Each error class a screen shows to the runbook section that explains it: `code.<code>`,
 * `dead_letter.<reason class>`, `alert.<kind>`, `preflight.<check id>` → `<runbook id>#<anchor>`.
 */
export interface ErrorRunbooks {
  links: Record<string, string>;
}

export type PendingOperation = { op: 'runbooks' } | { op: 'error_runbooks' };

export interface PendingAnswerOf {
  runbooks: Runbook[];
  error_runbooks: ErrorRunbooks;
}
