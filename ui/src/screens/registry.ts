import type { Op } from '../api';

/**
 * The operations the appliance in main answers today. A screen is in the navigation only when
 * every operation it needs is here; the list grows as the lead lands the operations the UI
 * contract names (and goes away with the generated `AnswerOf`).
 */
export const OPS_IN_MAIN: ReadonlySet<Op> = new Set<Op>([
  'status', 'trace', 'dead_letters', 'dead_letter', 'replay_dead_letter', 'discard_dead_letter',
  'set_aside_fetches', 'replay_set_aside_fetch', 'discard_set_aside_fetch', 'reconcile',
  'stage', 'stage_plan', 'advance', 'rollback', 'acknowledge', 'preflight',
]);

export type ScreenId =
  | 'connection' | 'wizard' | 'live' | 'trace' | 'dead-letters' | 'reconcile' | 'audit'
  | 'runbooks' | 'rehearsal';

export interface ScreenInfo {
  id: ScreenId;
  title: string;
  /** Operations the screen cannot work without. */
  needs: Op[];
}

export const SCREENS: ScreenInfo[] = [
  { id: 'connection', title: 'Connection', needs: ['preflight'] },
  { id: 'wizard', title: 'Cutover', needs: ['stage', 'stage_plan', 'advance', 'rollback', 'acknowledge'] },
  { id: 'live', title: 'Live', needs: ['status'] },
  { id: 'trace', title: 'Trace', needs: ['trace'] },
  { id: 'dead-letters', title: 'Dead letters', needs: ['dead_letters'] },
  { id: 'reconcile', title: 'Reconciliation', needs: ['reconcile'] },
  { id: 'audit', title: 'Audit', needs: ['audit_export', 'audit_verify'] },
  { id: 'runbooks', title: 'Runbooks', needs: ['runbooks'] },
  { id: 'rehearsal', title: 'Rehearsal', needs: ['rehearse'] },
];

/** Whether the appliance answers `op`. */
export function answers(op: Op, ops: ReadonlySet<Op> = OPS_IN_MAIN): boolean {
  return ops.has(op);
}

/** The screens the navigation shows. */
export function availableScreens(ops: ReadonlySet<Op> = OPS_IN_MAIN): ScreenInfo[] {
  return SCREENS.filter((s) => s.needs.every((op) => ops.has(op)));
}
