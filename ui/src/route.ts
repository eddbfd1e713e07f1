import type { ScreenId } from './screens/registry';

export interface Route {
  screen: ScreenId;
  /** Runbooks: the runbook id and the anchor in it. */
  args: string[];
}

/** `#/runbooks/preflight/clock-skew` → `{screen: 'runbooks', args: ['preflight', 'clock-skew']}`. */
export function parseRoute(hash: string, fallback: ScreenId): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [screen, ...args] = parts;
  const known: ScreenId[] = ['connection', 'wizard', 'live', 'trace', 'dead-letters', 'reconcile', 'audit', 'runbooks', 'rehearsal'];
  return known.includes(screen as ScreenId) ? { screen: screen as ScreenId, args } : { screen: fallback, args: [] };
}
