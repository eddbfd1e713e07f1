import type { LaneState, Status } from '../api/types';

/** Each lane state's words: the state is never told by colour alone. */
export const LANE_STATE_LABEL: Record<LaneState, string> = {
  on_time: 'On time',
  late: 'Late',
  stalled: 'Stalled',
  closed: 'Closed (queues)',
  idle: 'Idle',
};

/** Whether a state needs a person's attention (styled as a warning, and said in words). */
export function laneNeedsAttention(state: LaneState): boolean {
  return state === 'late' || state === 'stalled';
}

export interface LaneRow {
  lane: string;
  queued: number;
  /** `null` when nothing waits (the status says 0). */
  oldestAgeMs: number | null;
  state: LaneState;
}

/** One row per lane, in the appliance's order (delivery priority). */
export function laneRows(status: Status): LaneRow[] {
  return status.lanes.map((l) => ({
    lane: l.lane,
    queued: l.queued,
    oldestAgeMs: l.queued > 0 ? l.oldest_age_ms : null,
    state: l.state,
  }));
}
