import type { BackfillPlan, FileKind } from '../api/types';
import type { BackfillStatus } from '../api/types';
import { count } from './format';

const FILE_NAMES: Record<FileKind, string> = {
  catalog_items: 'Catalog items',
  customers: 'Customers',
  purchases: 'Purchases',
  purchase_items: 'Purchase items',
};

/** A file family's name as the plan shows it. */
export function fileKindName(kind: FileKind): string {
  return FILE_NAMES[kind];
}

/** `150 requests / 30 s, 20 % left to the store's other apps`. */
export function planQuota(plan: BackfillPlan): string {
  const q = plan.input.quota;
  return `${count(q.requests_per_window)} requests / ${q.window_secs} s, ${Math.round(q.reserve_share * 100)} % left to the store's other apps`;
}

/** `7 (4 order pages, 2 customer pages, 1 product page)`. */
export function planCalls(plan: BackfillPlan): string {
  const pages = (n: number, what: string) => `${count(n)} ${what} page${n === 1 ? '' : 's'}`;
  return `${count(plan.api_calls)} (${pages(plan.order_calls, 'order')}, ${pages(plan.customer_calls, 'customer')}, ${pages(plan.product_calls, 'product')})`;
}

/** `500 of 1,000 (50 %)`; without a total yet, just the counts. */
export function historyProgress(status: Pick<BackfillStatus, 'done' | 'total'>): string {
  const base = `${count(status.done)} of ${count(status.total)}`;
  return status.total > 0 ? `${base} (${Math.floor((status.done * 100) / status.total)} %)` : base;
}

/** Whether the backfill runs in the appliance now (the screen asks again while it does). */
export function historyMoving(status: BackfillStatus | undefined): boolean {
  return !!status?.running;
}

/** The words a person types to start (or resume) the backfill. */
export const START_PHRASE = 'backfill';

/**
 * The start button's label for this status: start, resume (a started one that is not running),
 * or none (it runs, or it finished: there is nothing to start).
 */
export function startAction(status: BackfillStatus | undefined): string | null {
  if (!status || status.running || status.phase === 'done') return null;
  return status.started ? 'Resume the backfill' : 'Start the backfill';
}

/** What a typed start confirmation is bound to: the plan read and the day it starts from. */
export function planBinding(plan: BackfillPlan, since: string | null): string {
  const c = plan.input.counts;
  return `${since ?? 'all'}:${c.orders}:${c.customers}:${c.products}:${plan.api_calls}`;
}
