import type { BackfillStatus } from '../api/types';
import { count } from './format';

/** `500 of 1,000 (50 %)`; without a total yet, just the counts. */
export function historyProgress(status: Pick<BackfillStatus, 'done' | 'total'>): string {
  const base = `${count(status.done)} of ${count(status.total)}`;
  return status.total > 0 ? `${base} (${Math.floor((status.done * 100) / status.total)} %)` : base;
}

/** Whether the backfill still moves on its own (the screen asks again while it does). */
export function historyMoving(status: BackfillStatus | undefined): boolean {
  return !!status?.started && status.phase !== 'done' && status.phase !== 'failed';
}
