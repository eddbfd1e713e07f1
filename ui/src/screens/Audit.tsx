import { createResource, createSignal, For, Show } from 'solid-js';
import type { AuditExported, AuditVerified } from '../api/types';
import { ErrorNote } from '../components/ErrorNote';
import { useApp } from '../context';
import { saveBlob } from '../download';
import { count, utc } from '../view/format';

/** What a verify run found, said in words. */
function VerifyReport(props: { report: AuditVerified }) {
  return (
    <div data-testid="audit-report" data-ok={String(props.report.ok)} class={props.report.ok ? 'ok' : 'warning'} role="status">
      <p>
        <strong>{props.report.ok ? 'VERIFIED' : 'NOT VERIFIED'}</strong> {props.report.file_name}:{' '}
        {props.report.ok
          ? `${count(props.report.files)} files match the manifest, ${count(props.report.entries)} entries chain to the signed checkpoint`
          : props.report.failure ?? 'a check failed'}
        {props.report.consistent_with !== null ? `; consistent with the earlier checkpoint of ${count(props.report.consistent_with)} entries` : ''}.
      </p>
      <Show when={props.report.root}>
        <p>
          Root <code>{props.report.root}</code>, key <code>{props.report.key_fingerprint ?? '—'}</code>
        </p>
      </Show>
    </div>
  );
}

/** Screen 7: export the signed audit bundle, show its checkpoint and how to verify it offline. */
export function Audit() {
  const app = useApp();
  const [from, setFrom] = createSignal('');
  const [to, setTo] = createSignal('');
  const [bundle, setBundle] = createSignal<AuditExported>();
  const [report, setReport] = createSignal<AuditVerified>();
  const [error, setError] = createSignal<unknown>();
  const [busy, setBusy] = createSignal(false);
  const [exports, { refetch }] = createResource(() => app.client.call({ op: 'audit_exports' }));

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
        await app.client.call({ op: 'audit_export', from: fromDay || null, to: toDay || null }),
      );
      await refetch();
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
  const canDownload = () => app.client.transport.download !== undefined;

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
              <dt>Written to</dt><dd><code>{b().path}</code></dd>
              <dt>Size</dt>
              <dd>
                {count(b().bytes)} bytes; {count(b().entries)} entries, {count(b().in_period)} in the period
              </dd>
              <dt>Merkle root</dt><dd><code>{b().root}</code></dd>
              <dt>Key fingerprint</dt><dd><code data-testid="audit-fingerprint">{b().key_fingerprint}</code></dd>
              <dt>Consistent with</dt>
              <dd>{b().consistent_with !== null ? `the previous export's checkpoint (${count(b().consistent_with)} entries)` : 'no earlier export'}</dd>
            </dl>
            <h2>Checkpoint</h2>
            <pre data-testid="audit-checkpoint">{b().checkpoint}</pre>
            <h2>Verify it yourself</h2>
            <pre data-testid="audit-verify-commands">{b().verify.join('\n')}</pre>
            <div class="toolbar">
              <button type="button" data-testid="audit-verify" disabled={busy()} onClick={() => void verify(b().file_name)}>
                Verify now
              </button>
              <Show when={canDownload()}>
                <button type="button" data-testid="audit-download" disabled={busy()} onClick={() => void download(b().file_name)}>
                  Download {b().file_name}
                </button>
              </Show>
            </div>
          </div>
        )}
      </Show>
      <Show when={report()}>{(r) => <VerifyReport report={r()} />}</Show>
      <div class="panel">
        <h2>Earlier exports</h2>
        <Show when={exports.error}>
          <ErrorNote error={exports.error} />
        </Show>
        <Show when={(exports() ?? []).length > 0} fallback={<p>None yet.</p>}>
          <table data-testid="audit-exports">
            <thead><tr><th>file</th><th>bytes</th><th>written</th><th /></tr></thead>
            <tbody>
              <For each={exports()}>
                {(f) => (
                  <tr>
                    <td><code>{f.file_name}</code></td>
                    <td>{count(f.bytes)}</td>
                    <td>{utc(f.modified)}</td>
                    <td>
                      <button type="button" disabled={busy()} onClick={() => void verify(f.file_name)}>
                        Verify
                      </button>{' '}
                      <Show when={canDownload()}>
                        <button type="button" disabled={busy()} onClick={() => void download(f.file_name)}>
                          Download
                        </button>
                      </Show>
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </Show>
      </div>
    </section>
  );
}
