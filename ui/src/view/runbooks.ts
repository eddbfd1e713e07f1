import type { ErrorRunbooks } from '../api/types';

/** Where a runbook (and an anchor in it) opens inside the app. */
export function runbookRoute(target: string): string {
  const [id, anchor] = target.split('#');
  const name = (id ?? '').replace(/^.*\//, '').replace(/\.md$/, '');
  return anchor ? `#/runbooks/${name}/${anchor}` : `#/runbooks/${name}`;
}

/**
 * The in-app link for an error class (an AppError code, a dead-letter reason class or a
 * preflight check id), or null when no runbook covers it.
 */
export function runbookFor(map: ErrorRunbooks | undefined, errorClass: string): string | null {
  const target = map?.[errorClass];
  return target ? runbookRoute(target) : null;
}
