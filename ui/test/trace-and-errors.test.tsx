import { fireEvent, screen } from '@solidjs/testing-library';
import { describe, expect, it } from 'vitest';
import { Connection } from '../src/screens/Connection';
import { Trace } from '../src/screens/Trace';
import { runbookFor, runbookRoute } from '../src/view/runbooks';
import { preflight, trace } from './fixtures';
import { renderScreen } from './render';

describe('trace', () => {
  it('shows links, every command with its state, what was withheld, and ends in the verdict', async () => {
    const answer = trace();
    const { fake } = renderScreen(() => <Trace />, { trace: () => answer });
    fireEvent.input(screen.getByTestId('trace-query'), { target: { value: ' Jane@Shop.com ' } });
    fireEvent.click(screen.getByTestId('trace-search'));
    const verdict = await screen.findByTestId('trace-verdict');
    expect(fake.calls).toContainEqual({ op: 'trace', query: 'Jane@Shop.com' });
    expect(verdict.dataset.kind).toBe('failed');
    expect(verdict.textContent).toContain('Failed:');
    expect(screen.getByTestId('trace-verdict-summary').textContent).toBe(answer.verdict.summary);
    expect(verdict.querySelectorAll('li').length).toBe(answer.verdict.reasons.length);
    expect(verdict.textContent).toContain('order:5022 was not sent');
    expect(screen.getByTestId('trace-command-3').dataset.state).toBe('dead');
    expect(screen.getByTestId('trace-withheld').textContent).toContain('not paid (status 7 "Awaiting Payment")');
    expect(screen.getByTestId('trace-links').textContent).toContain('customer:42');
    // The verdict is the last thing in the result.
    const result = screen.getByTestId('trace-result');
    expect(result.lastElementChild).toBe(verdict);
  });

  it('shows a refusal by its code with the runbook it maps to', async () => {
    renderScreen(
      () => <Trace />,
      { trace: () => ({ code: 'bad_request', message: '"x" is neither an email, a phone starting with + nor a customer id' }) },
      { errorRunbooks: { links: { 'code.bad_request': 'errors#bad-request' } } },
    );
    fireEvent.input(screen.getByTestId('trace-query'), { target: { value: 'x' } });
    fireEvent.click(screen.getByTestId('trace-search'));
    const error = await screen.findByTestId('error');
    expect(error.dataset.code).toBe('bad_request');
    expect(screen.getByTestId('error-runbook').getAttribute('href')).toBe('#/runbooks/errors/bad-request');
  });
});

describe('runbook links', () => {
  it('maps error classes and preflight runbook paths to in-app routes', () => {
    expect(runbookRoute('data/runbooks/preflight.md#clock-skew')).toBe('#/runbooks/preflight/clock-skew');
    expect(runbookRoute('escalation')).toBe('#/runbooks/escalation');
    const map = { links: { 'code.stage_held': 'errors#stage-held', 'alert.late': 'escalation#late' } };
    expect(runbookFor(map, 'code', 'stage_held')).toBe('#/runbooks/errors/stage-held');
    expect(runbookFor(map, 'alert', 'late')).toBe('#/runbooks/escalation/late');
    expect(runbookFor(map, 'dead_letter', 'stage_held')).toBeNull();
    expect(runbookFor(undefined, 'code', 'stage_held')).toBeNull();
  });
});

describe('preflight', () => {
  it('shows each check with severity, outcome, evidence, the exact fix and its runbook', async () => {
    renderScreen(() => <Connection />, { preflight: () => preflight(), connection: () => ({ configured: true, config_path: '/etc/bigreach/bigreach.toml', store_hash: 'abc123', bigcommerce_api_root: null, bloomreach_base_url: null, project_token: null, key_id: null, webhook_public_url: null, data_dir: null, secrets: [] }) });
    fireEvent.click(screen.getByTestId('run-preflight'));
    const verdict = await screen.findByTestId('preflight-verdict');
    expect(verdict.dataset.passed).toBe('false');
    expect(verdict.textContent).toContain('1 blocking check(s) did not pass');
    const csp = screen.getByTestId('preflight-storefront-csp-script-src');
    expect(csp.dataset.outcome).toBe('fail');
    expect(csp.textContent).toContain('Blocking');
    expect(csp.textContent).toContain('FAIL');
    expect(csp.querySelector('[data-testid=fix]')?.textContent).toBe('allow the host');
    expect(csp.querySelector('[data-testid=runbook-link]')?.getAttribute('href')).toBe('#/runbooks/preflight/storefront-csp-script-src');
    const creds = screen.getByTestId('preflight-bigcommerce-credentials');
    expect(creds.textContent).toContain('GET /v2/store · HTTP 200');
    expect(screen.getByTestId('preflight-storefront-snippet').textContent).toContain('Warning');
  });
});
