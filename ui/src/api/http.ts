import { AppError } from './error';
import { SseParser } from './sse';
import type { Transport } from './transport';
import type { Operation, Status } from './types';

/** Where the token lives in the browser tab (never in the page's HTML). */
export const TOKEN_KEY = 'bigreach.token';

/**
 * Moves `#token=…` from the URL fragment into sessionStorage and clears the fragment, so the
 * token is neither in the history nor in a bookmark. Returns the token in force (or null).
 */
export function takeToken(win: Window = window): string | null {
  const hash = win.location.hash.replace(/^#/, '');
  const params = new URLSearchParams(hash);
  const fromUrl = params.get('token');
  if (fromUrl) {
    win.sessionStorage.setItem(TOKEN_KEY, fromUrl);
    params.delete('token');
    const rest = params.toString();
    const url = win.location.pathname + win.location.search + (rest ? `#${rest}` : '');
    win.history.replaceState(null, '', url);
  }
  return win.sessionStorage.getItem(TOKEN_KEY);
}

export interface HttpOptions {
  /** The API root, '' for same-origin. */
  base?: string;
  token: () => string | null;
  fetch?: typeof fetch;
  /** Wait before re-opening a dropped event stream. */
  reconnectMs?: number;
}

async function errorOf(response: Response): Promise<AppError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const error = AppError.from(body);
  if (error.code !== 'transport') return error;
  return new AppError(
    response.status === 401 ? 'unauthorized' : 'transport',
    `the local API answered ${response.status} ${response.statusText}`.trim(),
  );
}

/** `POST /api/call` with the Bearer token; live status from `GET /api/events` (SSE). */
export function httpTransport(options: HttpOptions): Transport {
  const base = options.base ?? '';
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const headers = (): Record<string, string> => {
    const token = options.token();
    return token ? { Authorization: `Bearer ${token}` } : {};
  };
  return {
    kind: 'http',
    async call(operation: Operation): Promise<unknown> {
      const response = await doFetch(`${base}/api/call`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers() },
        body: JSON.stringify(operation),
      });
      if (!response.ok) throw await errorOf(response);
      return response.json();
    },
    subscribe(onStatus: (status: Status) => void, onError?: (error: unknown) => void) {
      const controller = new AbortController();
      let stopped = false;
      const run = async (): Promise<void> => {
        while (!stopped) {
          try {
            const response = await doFetch(`${base}/api/events`, {
              headers: { Accept: 'text/event-stream', ...headers() },
              signal: controller.signal,
            });
            if (!response.ok || !response.body) throw await errorOf(response);
            const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
            const parser = new SseParser();
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              for (const event of parser.push(value)) {
                if (event.event === 'status') onStatus(JSON.parse(event.data) as Status);
              }
            }
          } catch (error) {
            if (stopped) return;
            onError?.(error);
          }
          if (stopped) return;
          await new Promise((resolve) => setTimeout(resolve, options.reconnectMs ?? 2000));
        }
      };
      void run();
      return () => {
        stopped = true;
        controller.abort();
      };
    },
    async download(path: string): Promise<Blob> {
      const response = await doFetch(`${base}${path}`, { headers: headers() });
      if (!response.ok) throw await errorOf(response);
      return response.blob();
    },
  };
}
