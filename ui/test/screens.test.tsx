import { fireEvent, render, screen, waitFor } from '@solidjs/testing-library';
import { describe, expect, it } from 'vitest';
import { Client, fakeTransport, type Op } from '../src/api';
import type { Reconciliation } from '../src/api/types';
import { App } from '../src/App';
import { Audit } from '../src/screens/Audit';
import { Reconcile } from '../src/screens/Reconcile';
import { Rehearsal } from '../src/screens/Rehearsal';
import { availableScreens, OPS_IN_MAIN, SCREENS } from '../src/screens/registry';
import { Runbooks } from '../src/screens/Runbooks';
import { CSV_COLUMNS, reconciliationCsv } from '../src/view/reconcile-csv';
import { stageAtPreflight, stagePlan, status } from './fixtures';
import { renderScreen } from './render';

function row(day: string | null, difference = '0.00', missing = 0) {
  return {
    day, currency: 'EUR', bigcommerce_orders: 3, bigcommerce_gross: '120.00', bigcommerce_discounts: '5.00',
    bigcommerce_tax: '19.16', bigcommerce_shipping: '4.90', bigcommerce_refunds: '10.00', bigcommerce_net: '110.00',
    bigcommerce_cancelled: 0, bigcommerce_unpaid: 1, bloomreach_orders: 3 - missing, bloomreach_gross: '120.00',
    bloomreach_refunds: '10.00', bloomreach_net: '110.00', bloomreach_cancelled: 0, matched: 3 - missing, missing,
    extra: 0, duplicate: 0, amount_mismatch: 0, difference,
  };
}

function reconciliation(balanced: boolean): Reconciliation {
  return {
    range: { from: '2026-03-01', to: '2026-03-02' },
    time_zone: 'Europe/Berlin',
    generated_at: '2026-03-03T08:00:00Z',
    rows: [row('2026-03-01'), row('2026-03-02', balanced ? '0.00' : '40.00', balanced ? 0 : 1)],
    totals: [row(null, balanced ? '0.00' : '40.00', balanced ? 0 : 1)],
    findings: balanced ? [] : [{
      subject: 'sale', class: 'missing', order_id: 5100, refund_id: null, day: '2026-03-02', currency: 'EUR',
      bigcommerce_amount: '40.00', bloomreach_amount: null, acknowledged: 0, note: 'a dead letter (#9)',
    }],
    balanced,
    repair: null,
  };
}

describe('reconciliation', () => {
  it('writes the finance CSV with the columns bigreach reconcile writes', () => {
    const csv = reconciliationCsv(reconciliation(false)).split('\n');
    expect(csv[0]).toBe(CSV_COLUMNS.join(','));
    expect(csv[2]).toBe('2026-03-02,Europe/Berlin,EUR,3,120.00,5.00,19.16,4.90,10.00,110.00,0,1,2,120.00,10.00,110.00,0,2,1,0,0,0,40.00,no,2026-03-03T08:00:00Z');
    expect(csv[3]!.startsWith('total,')).toBe(true);
    expect(csv.length).toBe(5);
  });

  it('shows both sides per day and currency, the differences, and repairs on request', async () => {
    const { fake } = renderScreen(() => <Reconcile />, {
      reconcile: (op) => ({ ...reconciliation(op.repair), repair: op.repair ? { orders_resent: [5100], dead_letters_replayed: [9], already_pending: [], left_discarded: [] } : null }),
    });
    fireEvent.input(screen.getByTestId('rec-from'), { target: { value: '2026-03-01' } });
    fireEvent.input(screen.getByTestId('rec-to'), { target: { value: '2026-03-02' } });
    fireEvent.click(screen.getByTestId('rec-run'));
    const verdict = await screen.findByTestId('rec-verdict');
    expect(fake.calls).toContainEqual({ op: 'reconcile', from: '2026-03-01', to: '2026-03-02', repair: false });
    expect(verdict.dataset.balanced).toBe('false');
    const bad = screen.getByTestId('rec-row-2026-03-02-EUR');
    expect(bad.dataset.balanced).toBe('false');
    expect(bad.querySelector('[data-testid=difference]')?.textContent).toBe('40.00');
    expect(screen.getByTestId('rec-findings').textContent).toContain('a dead letter (#9)');
    fireEvent.click(screen.getByTestId('rec-repair'));
    await screen.findByTestId('rec-repaired');
    expect(fake.calls).toContainEqual({ op: 'reconcile', from: '2026-03-01', to: '2026-03-02', repair: true });
  });
});

describe('audit', () => {
  it('exports a bundle, shows its checkpoint, fingerprint and verify commands, and verifies it', async () => {
    let exported = false;
    const { fake } = renderScreen(() => <Audit />, {
      audit_exports: () => (exported ? [{ file_name: 'audit-2026-12-03.tar', bytes: 20480, modified: '2026-12-03T12:00:00Z' }] : []),
      audit_export: () => {
        exported = true;
        return {
          file_name: 'audit-2026-12-03.tar', path: '/var/lib/bigreach/exports/audit-2026-12-03.tar', bytes: 20480,
          entries: 42, in_period: 40, root: 'q1w2e3', key_fingerprint: 'SHA256:abcd', consistent_with: 30,
          checkpoint: 'bigreach/install-1\n42\nq1w2e3=\n\n— bigreach abc=',
          verify: ['sha256sum -c --strict manifest-sha256.txt', 'openssl pkeyutl -verify -rawin …'],
        };
      },
      audit_verify: (op) => ({
        file_name: op.file_name, ok: true, files: 7, entries: 42, root: 'q1w2e3', key_fingerprint: 'SHA256:abcd',
        consistent_with: 30, failure: null,
      }),
    });
    expect((await screen.findByText('None yet.')).textContent).toBe('None yet.');
    fireEvent.click(screen.getByTestId('audit-export'));
    expect((await screen.findByTestId('audit-file')).textContent).toBe('audit-2026-12-03.tar');
    expect(screen.getByTestId('audit-checkpoint').textContent).toContain('bigreach/install-1');
    expect(screen.getByTestId('audit-fingerprint').textContent).toBe('SHA256:abcd');
    expect(screen.getByTestId('audit-verify-commands').textContent).toContain('sha256sum -c --strict');
    await waitFor(() => expect((screen.getByTestId('audit-verify') as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(screen.getByTestId('audit-verify'));
    const report = await screen.findByTestId('audit-report');
    expect(report.dataset.ok).toBe('true');
    expect(report.textContent).toContain('7 files match the manifest, 42 entries chain to the signed checkpoint');
    expect(fake.calls).toContainEqual({ op: 'audit_verify', file_name: 'audit-2026-12-03.tar' });
    expect(fake.calls).toContainEqual({ op: 'audit_export', from: null, to: null });
    expect((await screen.findByTestId('audit-exports')).textContent).toContain('audit-2026-12-03.tar');
  });

  it('says why a bundle does not verify', async () => {
    renderScreen(() => <Audit />, {
      audit_exports: () => [{ file_name: 'old.tar', bytes: 10, modified: null }],
      audit_verify: (op) => ({
        file_name: op.file_name, ok: false, files: 6, entries: 0, root: null, key_fingerprint: null,
        consistent_with: null, failure: 'entries.jsonl does not match manifest-sha256.txt',
      }),
    });
    fireEvent.click(await screen.findByRole('button', { name: 'Verify' }));
    const report = await screen.findByTestId('audit-report');
    expect(report.dataset.ok).toBe('false');
    expect(report.textContent).toContain('NOT VERIFIED old.tar: entries.jsonl does not match manifest-sha256.txt');
  });
});

describe('runbooks and rehearsal', () => {
  it('renders the runbook the route names and lists which error opens which', async () => {
    renderScreen(
      () => <Runbooks id="escalation" />,
      {
        runbooks: () => [
          { id: 'preflight', title: 'Preflight', audience: 'operator', html: '<h2 id="clock-skew">Clock skew</h2>', anchors: ['clock-skew'] },
          { id: 'escalation', title: 'Purchases stopped at 14:00', audience: 'operator', html: '<h1>Escalation</h1><p>Check the Live screen.</p>', anchors: [] },
        ],
      },
      { errorRunbooks: { links: { 'code.stage_held': 'errors#stage-held' } } },
    );
    await waitFor(() => expect(screen.getByTestId('runbook-body').textContent).toContain('Check the Live screen.'));
    expect(screen.getByTestId('runbook-escalation').getAttribute('aria-current')).toBe('page');
    expect(screen.getByTestId('error-runbooks').textContent).toContain('stage_held');
  });

  it('runs a rehearsal and shows its verdict', async () => {
    const { fake } = renderScreen(() => <Rehearsal />, {
      rehearse: (op) => ({ kind: op.kind, passed: false, summary: 'rollback left 2 commands unsent', lines: ['advance read_only ok', 'rollback: 2 unsent'], seconds: 4.2 }),
    });
    fireEvent.click(screen.getByTestId('rehearse-cutover'));
    const verdict = await screen.findByTestId('rehearsal-verdict');
    expect(verdict.dataset.passed).toBe('false');
    expect(verdict.textContent).toContain('FAILED (cutover, 4.2 s)');
    expect(verdict.textContent).toContain('rollback left 2 commands unsent');
    expect(fake.calls).toContainEqual({ op: 'rehearse', kind: 'cutover' });
  });
});

describe('shell', () => {
  it('navigates only to screens whose operations the appliance answers', () => {
    const ids = availableScreens(OPS_IN_MAIN).map((s) => s.id);
    for (const s of SCREENS) expect(ids.includes(s.id)).toBe(s.needs.every((op) => OPS_IN_MAIN.has(op)));
    const all = new Set<Op>(SCREENS.flatMap((s) => s.needs));
    expect(availableScreens(all).length).toBe(SCREENS.length);
  });

  it('opens on the Connection screen while nothing is configured', async () => {
    const fake = fakeTransport({
      // The wizard asks before the shell moves on to the Connection screen.
      stage: () => stageAtPreflight(),
      stage_plan: () => stagePlan(),
      connection: () => ({
        configured: false, config_path: '/home/m/.config/bigreach/bigreach.toml', store_hash: null,
        bigcommerce_api_root: null, bloomreach_base_url: null, project_token: null, key_id: null,
        webhook_public_url: null, data_dir: null, secrets: [],
      }),
    });
    window.location.hash = '';
    render(() => <App client={new Client(fake)} />);
    await waitFor(() => expect(window.location.hash).toBe('#/connection'));
    expect(screen.getByTestId('status-line').textContent).toBe('Not connected yet');
  });

  it('shows the stage from the live status, and "Open in browser" only in the desktop window', async () => {
    const fake = fakeTransport({ stage: () => stageAtPreflight(), stage_plan: () => stagePlan() });
    window.location.hash = '#/wizard';
    render(() => <App client={new Client(fake)} />);
    fake.emit(status());
    await waitFor(() => expect(screen.getByTestId('status-line').textContent).toContain('Production triggers'));
    expect(screen.queryByTestId('open-in-browser')).toBeNull();
    expect(screen.getByTestId('nav-wizard').getAttribute('aria-current')).toBe('page');
    expect(await screen.findByTestId('screen-wizard')).toBeTruthy();
  });
});
