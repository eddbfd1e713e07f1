import { Show } from 'solid-js';
import { AppError } from '../api';
import { useApp } from '../context';
import { runbookFor } from '../view/runbooks';

/** An AppError: its code, message and, when one covers the code, a link to the runbook. */
export function ErrorNote(props: { error: unknown; testid?: string }) {
  const app = useApp();
  const error = () => AppError.from(props.error);
  const link = () => runbookFor(app.errorRunbooks(), 'code', error().code);
  return (
    <div class="error" role="alert" data-testid={props.testid ?? 'error'} data-code={error().code}>
      <strong>Error {error().code}:</strong> <span>{error().message}</span>
      <Show when={link()}>
        {(href) => (
          <>
            {' '}
            <a href={href()} data-testid="error-runbook">
              Runbook for {error().code}
            </a>
          </>
        )}
      </Show>
    </div>
  );
}
