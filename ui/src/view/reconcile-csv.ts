import type { DayRow, Reconciliation } from '../api/types';

/** The finance CSV's columns, as `bigreach reconcile --csv` writes them (reconcile::CSV_COLUMNS). */
export const CSV_COLUMNS = [
  'day', 'time_zone', 'currency',
  'bigcommerce_orders', 'bigcommerce_gross', 'bigcommerce_discounts', 'bigcommerce_tax',
  'bigcommerce_shipping', 'bigcommerce_refunds', 'bigcommerce_net', 'bigcommerce_cancelled',
  'bigcommerce_unpaid', 'bloomreach_orders', 'bloomreach_gross', 'bloomreach_refunds',
  'bloomreach_net', 'bloomreach_cancelled', 'matched', 'missing', 'extra', 'duplicate',
  'amount_mismatch', 'difference', 'balanced', 'generated_at_utc',
] as const;

/** Whether both sides agree on a row (DayRow::balanced). */
export function rowBalanced(r: DayRow): boolean {
  return (
    r.missing === 0 && r.extra === 0 && r.duplicate === 0 && r.amount_mismatch === 0 &&
    Number(r.difference) === 0
  );
}

/** A field quoted as RFC 4180 wants (the csv crate quotes only when needed, as here). */
function field(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The answer's amounts are already exact decimals with two places (DayRow::tidy). */
export function reconciliationCsv(rec: Reconciliation): string {
  const generated = rec.generated_at.replace(/\.\d+/, '').replace('+00:00', 'Z');
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of [...rec.rows, ...rec.totals]) {
    lines.push(
      [
        r.day ?? 'total', rec.time_zone, r.currency,
        String(r.bigcommerce_orders), r.bigcommerce_gross, r.bigcommerce_discounts,
        r.bigcommerce_tax, r.bigcommerce_shipping, r.bigcommerce_refunds, r.bigcommerce_net,
        String(r.bigcommerce_cancelled), String(r.bigcommerce_unpaid), String(r.bloomreach_orders),
        r.bloomreach_gross, r.bloomreach_refunds, r.bloomreach_net, String(r.bloomreach_cancelled),
        String(r.matched), String(r.missing), String(r.extra), String(r.duplicate),
        String(r.amount_mismatch), r.difference, rowBalanced(r) ? 'yes' : 'no', generated,
      ]
        .map(field)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}
