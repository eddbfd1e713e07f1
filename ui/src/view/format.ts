// How numbers and times read on screen: one place, so tests and screens agree.

/** `1 h 02 m`, `3 m 20 s`, `850 ms`; `—` when unknown. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m % 60).padStart(2, '0')} m`;
}

/** An ISO timestamp as `2026-12-03 11:20:05 UTC`. */
export function utc(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Milliseconds since the epoch as `utc`. */
export function utcMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return utc(new Date(ms).toISOString());
}

/** A check's value or threshold in its unit. */
export function checkValue(value: number, unit: string): string {
  switch (unit) {
    case 'share':
      return `${(value * 100).toFixed(value * 100 < 10 ? 1 : 0)} %`;
    case 'seconds':
      return `${value.toFixed(value < 10 ? 1 : 0)} s`;
    default:
      return String(value);
  }
}

/** `1,234`. */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  return n.toLocaleString('en-US');
}

/** The first 12 hex digits of a hash, for people to compare. */
export function shortHash(hash: string): string {
  return hash.slice(0, 12);
}

/** `read_only` → `read only`. */
export function words(name: string): string {
  return name.replace(/_/g, ' ');
}
