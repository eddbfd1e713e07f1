import type { Op } from '../api';
import type { GeneratedOp } from '../api/types';

/**
 * Every generated operation (the ones main answers), as a record so that the compiler fails here
 * when `bash scripts/gen-types.sh` adds one: the navigation then shows the screens it unlocks.
 */
const GENERATED: Record<GeneratedOp, true> = {
  status: true, trace: true, dead_letters: true, dead_letter: true, replay_dead_letter: true,
  discard_dead_letter: true, replay_dead_letters: true, discard_dead_letters: true,
  set_aside_fetches: true, replay_set_aside_fetch: true, discard_set_aside_fetch: true,
  reconcile: true, catalog_drift: true, last_catalog_drift: true, stage: true, stage_plan: true,
  advance: true, rollback: true, acknowledge: true, preflight: true, backfill_status: true,
  backfill_plan: true, backfill_start: true,
  audit_export: true, audit_exports: true, audit_verify: true, connection: true, connect: true,
  rehearse: true, runbooks: true, error_runbooks: true,
};

/**
 * The operations the appliance answers. A screen is in the navigation only when every operation
 * it needs is here.
 */
export const OPS_IN_MAIN: ReadonlySet<Op> = new Set<Op>(Object.keys(GENERATED) as GeneratedOp[]);

export type ScreenId =
  | 'connection' | 'wizard' | 'live' | 'trace' | 'dead-letters' | 'reconcile' | 'audit'
  | 'history' | 'runbooks' | 'rehearsal';

export interface ScreenInfo {
  id: ScreenId;
  title: string;
  /** Operations the screen cannot work without. */
  needs: Op[];
}

export const SCREENS: ScreenInfo[] = [
  { id: 'connection', title: 'Connection', needs: ['connection', 'connect', 'preflight'] },
  { id: 'wizard', title: 'Cutover', needs: ['stage', 'stage_plan', 'advance', 'rollback', 'acknowledge'] },
  { id: 'live', title: 'Live', needs: ['status'] },
  { id: 'trace', title: 'Trace', needs: ['trace'] },
  { id: 'dead-letters', title: 'Dead letters', needs: ['dead_letters'] },
  { id: 'reconcile', title: 'Reconciliation', needs: ['reconcile'] },
  { id: 'history', title: 'History', needs: ['backfill_status'] },
  { id: 'audit', title: 'Audit', needs: ['audit_export', 'audit_exports', 'audit_verify'] },
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
