import { createSignal, For, Show } from 'solid-js';
import type { AuditExport, AuditVerify } from '../api/types';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { saveBlob } from '../download';
import { count } from '../view/format';

/** The verify report's checks, whatever shape the lead's report takes. */
function verifyLines(report: AuditVerify): { name: string; ok: boolean; detail: string }[] {
  if (Array.isArray(report.checks)) {
    return report.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail ?? '' }));
  }
  return Object.entries(report)
    .filter(([key]) => key !== 'ok')
    .map(([key, value]) => ({ name: key, ok: report.ok, detail: typeof value === 'string' ? value : JSON.stringify(value) }));
}

/** Screen 7: export the signed audit bundle, show its checkpoint and how to verify it offline. */
export function Audit() {
  const app = useApp();
  const [from, setFrom] = createSignal('');
  const [to, setTo] = createSignal('');
  const [bundle, setBundle] = createSignal<AuditExport>();
  const [report, setReport] = createSignal<AuditVerify>();
  const [error, setError] = createSignal<unknown>();
  const [busy, setBusy] = createSignal(false);

  const guarded = async (run: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await run();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const exportBundle = (fromDay: string, toDay: string) =>
    guarded(async () => {
      setReport(undefined);
      setBundle(
        await app.client.call({
          op: 'audit_export',
          ...(fromDay ? { from: fromDay } : {}),
          ...(toDay ? { to: toDay } : {}),
        }),
      );
    });
  const verify = (fileName: string) =>
    guarded(async () => {
      setReport(await app.client.call({ op: 'audit_verify', file_name: fileName }));
    });
  const download = (fileName: string) =>
    guarded(async () => {
      const fetchFile = app.client.transport.download;
      if (!fetchFile) return;
      saveBlob(await fetchFile(`/api/audit/exports/${encodeURIComponent(fileName)}`), fileName);
    });

  return (
    <section aria-labelledby="audit-title" data-testid="screen-audit">
      <h1 id="audit-title">Audit export</h1>
      <p>
        The bundle holds every audited action (stage changes, replays, repairs, config loads) as signed, hash-chained
        entries an auditor checks offline with stock tools.
      </p>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          void exportBundle(from(), to());
        }}
      >
        <label for="audit-from">From (optional)</label>
        <input id="audit-from" type="date" value={from()} onInput={(e) => setFrom(e.currentTarget.value)} />
        <label for="audit-to">To (optional)</label>
        <input id="audit-to" type="date" value={to()} onInput={(e) => setTo(e.currentTarget.value)} />
        <button type="submit" data-testid="audit-export" disabled={busy()}>
          Export bundle
        </button>
      </form>
      <Show when={error()}>
        <ErrorNote error={error()} />
      </Show>
      <Show when={bundle()}>
        {(b) => (
          <div class="panel" data-testid="audit-bundle">
            <dl class="facts">
              <dt>File</dt><dd data-testid="audit-file">{b().file_name}</dd>
              <dt>Size</dt><dd>{count(b().bytes)} bytes, {count(b().entries)} entries</dd>
              <dt>Key fingerprint</dt><dd><code data-testid="audit-fingerprint">{b().key_fingerprint}</code></dd>
            </dl>
            <h2>Checkpoint</h2>
            <pre data-testid="audit-checkpoint">{b().checkpoint}</pre>
            <h2>Verify it yourself</h2>
            <pre data-testid="audit-verify-commands">{b().verify.join('\n')}</pre>
            <div class="toolbar">
              <button type="button" data-testid="audit-verify" disabled={busy()} onClick={() => void verify(b().file_name)}>
                Verify now
              </button>
              <Show when={app.client.transport.download} fallback={<span>Written to the data directory's exports/ folder.</span>}>
                <button type="button" data-testid="audit-download" disabled={busy()} onClick={() => void download(b().file_name)}>
                  Download {b().file_name}
                </button>
              </Show>
            </div>
            <Show when={report()}>
              {(r) => (
                <div data-testid="audit-report" data-ok={String(r().ok)} class={r().ok ? 'ok' : 'warning'}>
                  <p>
                    <strong>{r().ok ? 'VERIFIED' : 'NOT VERIFIED'}</strong>
                  </p>
                  <ul>
                    <For each={verifyLines(r())}>
                      {(l) => (
                        <li>
                          {l.ok ? '✓' : '✗'} {l.name}
                          {l.detail ? `: ${l.detail}` : ''}
                        </li>
                      )}
                    </For>
                  </ul>
                </div>
              )}
            </Show>
          </div>
        )}
      </Show>
    </section>
  );
}
