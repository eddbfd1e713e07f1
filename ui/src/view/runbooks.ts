import type { ErrorRunbooks } from '../api/types';

/** Where a runbook (and an anchor in it) opens inside the app. */
export function runbookRoute(target: string): string {
  const [id, anchor] = target.split('#');
  const name = (id ?? '').replace(/^.*\//, '').replace(/\.md$/, '');
  return anchor ? `#/runbooks/${name}/${anchor}` : `#/runbooks/${name}`;
}

/** The kinds of error class the runbook map covers. */
export type ErrorFamily = 'code' | 'dead_letter' | 'alert' | 'preflight';

/**
 * The in-app link for an error class (`code` + an AppError code, `dead_letter` + a reason class,
 * `alert` + an alert kind, `preflight` + a check id), or null when no runbook covers it.
 */
export function runbookFor(map: ErrorRunbooks | undefined, family: ErrorFamily, name: string): string | null {
  const target = map?.links[`${family}.${name}`];
  return target ? runbookRoute(target) : null;
}
