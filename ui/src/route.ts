import { SCREENS, type ScreenId } from './screens/registry';

export interface Route {
  screen: ScreenId;
  /** Runbooks: the runbook id and the anchor in it. */
  args: string[];
}

/** `#/runbooks/preflight/clock-skew` → `{screen: 'runbooks', args: ['preflight', 'clock-skew']}`. */
export function parseRoute(hash: string, fallback: ScreenId): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [screen, ...args] = parts;
  // Every screen of the registry, so that a screen added there is reachable by its link.
  const known = SCREENS.find((s) => s.id === screen);
  return known ? { screen: known.id, args } : { screen: fallback, args: [] };
}
