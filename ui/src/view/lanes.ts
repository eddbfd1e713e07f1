import type { LaneState, LaneStatus, Status } from '../api/types';

/** The lanes in delivery priority, as the appliance names them. */
export const LANES = ['transactions', 'customers', 'carts', 'catalog', 'backfill', 'triggers'] as const;

/** Each lane state's words: the state is never told by colour alone. */
export const LANE_STATE_LABEL: Record<LaneState, string> = {
  on_time: 'On time',
  late: 'Late',
  stalled: 'Stalled',
  closed: 'Closed (queues)',
  idle: 'Idle',
};

/** Whether a state needs a person's attention (styled as a warning, and said in words). */
export function laneNeedsAttention(state: LaneState | null): boolean {
  return state === 'late' || state === 'stalled';
}

export interface LaneRow {
  lane: string;
  queued: number;
  oldestAgeMs: number | null;
  /** `null` when the appliance does not report lane states (older versions). */
  state: LaneState | null;
}

/**
 * One row per lane: the appliance's `lanes` when it reports them; otherwise the queue and age
 * from the older fields (`store.outbox_pending`, `lane_age_ms`) with no state.
 */
export function laneRows(status: Status): LaneRow[] {
  if (status.lanes) {
    return status.lanes.map((l: LaneStatus) => ({
      lane: l.lane,
      queued: l.queued,
      oldestAgeMs: l.oldest_age_ms,
      state: l.state,
    }));
  }
  const names = new Set<string>([...LANES, ...Object.keys(status.store.outbox_pending)]);
  return [...names].map((lane) => ({
    lane,
    queued: status.store.outbox_pending[lane] ?? 0,
    oldestAgeMs: status.lane_age_ms[lane] ?? null,
    state: null,
  }));
}
