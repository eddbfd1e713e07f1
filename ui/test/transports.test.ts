import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError, Client, httpTransport, takeToken, tauriTransport, TOKEN_KEY } from '../src/api';
import { SseParser } from '../src/api/sse';
import type { Status } from '../src/api/types';
import { status } from './fixtures';

afterEach(() => clearMocks());

describe('token', () => {
  it('moves #token= into sessionStorage and clears it from the URL', () => {
    window.history.replaceState(null, '', '/somewhere?x=1#token=s3cret');
    expect(takeToken()).toBe('s3cret');
    expect(window.sessionStorage.getItem(TOKEN_KEY)).toBe('s3cret');
    expect(window.location.hash).toBe('');
    expect(window.location.search).toBe('?x=1');
    // A reload keeps it (same tab), without it in the URL.
    expect(takeToken()).toBe('s3cret');
  });
});

describe('SSE parser', () => {
  it('parses frames across chunk boundaries, joins data lines and skips comments', () => {
    const parser = new SseParser();
    expect(parser.push(': keep-alive\n\nevent: sta')).toEqual([]);
    expect(parser.push('tus\ndata: {"a":\ndata: 1}\r\n\r')).toEqual([]);
    expect(parser.push('\ndata: plain\n\n')).toEqual([
      { event: 'status', data: '{"a":\n1}' },
      { event: 'message', data: 'plain' },
    ]);
  });
});

function response(body: unknown, init: ResponseInit = { status: 200 }): Response {
  return new Response(JSON.stringify(body), { ...init, headers: { 'Content-Type': 'application/json' } });
}

describe('http transport', () => {
  it('POSTs the operation with the Bearer token and types the answer', async () => {
    const seen: { url: string; init: RequestInit | undefined }[] = [];
    const client = new Client(
      httpTransport({
        token: () => 'T0K',
        fetch: async (url, init) => {
          seen.push({ url: String(url), init });
          return response({ stage: 'connect' });
        },
      }),
    );
    const answer = await client.call({ op: 'stage' });
    expect(answer.stage).toBe('connect');
    expect(seen[0]!.url).toBe('/api/call');
    expect(seen[0]!.init?.method).toBe('POST');
    expect(seen[0]!.init?.headers).toEqual({ 'Content-Type': 'application/json', Authorization: 'Bearer T0K' });
    expect(seen[0]!.init?.body).toBe('{"op":"stage"}');
  });

  it('rejects with the typed AppError the API answered', async () => {
    const client = new Client(
      httpTransport({
        token: () => null,
        fetch: async () => response({ code: 'plan_moved', message: 'moved' }, { status: 409 }),
      }),
    );
    const error = await client.call({ op: 'advance', plan_hash: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('plan_moved');
    const html = new Client(
      httpTransport({ token: () => null, fetch: async () => new Response('<html>', { status: 401 }) }),
    );
    expect(((await html.call({ op: 'status' }).catch((e: unknown) => e)) as AppError).code).toBe('unauthorized');
  });

  it('reads GET /api/events with fetch and a stream reader, one status per frame', async () => {
    const s = status();
    const encoder = new TextEncoder();
    const frame = `event: status\ndata: ${JSON.stringify(s)}\n\n`;
    let headers: HeadersInit | undefined;
    const transport = httpTransport({
      token: () => 'T0K',
      reconnectMs: 10_000,
      fetch: async (_url, init) => {
        headers = init?.headers;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode(frame.slice(0, 20)));
            controller.enqueue(encoder.encode(frame.slice(20) + frame));
            controller.close();
          },
        });
        return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
      },
    });
    const got: Status[] = [];
    const stop = transport.subscribe((x) => got.push(x));
    await new Promise((r) => setTimeout(r, 50));
    stop();
    expect(got.length).toBe(2);
    expect(got[0]!.stage).toBe(s.stage);
    expect(headers).toEqual({ Accept: 'text/event-stream', Authorization: 'Bearer T0K' });
  });
});

describe('tauri transport', () => {
  it("invokes 'api' with the operation and rejects with the AppError object", async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if ((args as { operation: { op: string } }).operation.op === 'rollback') {
        throw { code: 'at_first_stage', message: 'nothing before connect' };
      }
      return { stage: 'ingest' };
    });
    const client = new Client(tauriTransport());
    expect((await client.call({ op: 'stage' })).stage).toBe('ingest');
    expect(calls[0]).toEqual(['api', { operation: { op: 'stage' } }]);
    const error = (await client.call({ op: 'rollback' }).catch((e: unknown) => e)) as AppError;
    expect(error.code).toBe('at_first_stage');
  });

  it('subscribes with a Channel and opens the browser on request', async () => {
    const commands: string[] = [];
    mockIPC((cmd, args) => {
      commands.push(cmd);
      if (cmd === 'subscribe_status') {
        const channel = (args as { onStatus: unknown }).onStatus;
        expect(channel).toBeTruthy();
      }
      return null;
    });
    const transport = tauriTransport();
    const stop = transport.subscribe(() => {});
    await transport.openInBrowser!();
    stop();
    expect(commands).toEqual(['subscribe_status', 'open_in_browser']);
  });
});
