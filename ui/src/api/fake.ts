import type { Transport } from './transport';
import type { AnswerOf, AppErrorBody, Operation, Status } from './types';

type Handler<K extends keyof AnswerOf> = (
  operation: Extract<Operation, { op: K }>,
) => AnswerOf[K] | AppErrorBody | Promise<AnswerOf[K] | AppErrorBody>;

/** Handlers per operation tag; an answer with `code` and `message` is thrown as the error. */
export type FakeHandlers = { [K in keyof AnswerOf]?: Handler<K> };

export interface FakeTransport extends Transport {
  /** Every operation called, in order. */
  readonly calls: Operation[];
  /** Pushes a status to every subscriber. */
  emit(status: Status): void;
  /** Replaces or adds handlers. */
  on(handlers: FakeHandlers): void;
}

function isError(value: unknown): value is AppErrorBody {
  return typeof value === 'object' && value !== null && 'code' in value && 'message' in value;
}

/** The test transport: answers from handlers, records calls, emits statuses on demand. */
export function fakeTransport(initial: FakeHandlers = {}): FakeTransport {
  const handlers: FakeHandlers = { ...initial };
  const calls: Operation[] = [];
  const subscribers = new Set<(status: Status) => void>();
  return {
    kind: 'fake',
    calls,
    async call(operation: Operation): Promise<unknown> {
      calls.push(operation);
      const handler = handlers[operation.op as keyof AnswerOf] as
        | ((op: Operation) => unknown)
        | undefined;
      if (!handler) {
        throw { code: 'bad_request', message: `the fake has no handler for ${operation.op}` };
      }
      const answer = await handler(operation);
      if (isError(answer)) throw answer;
      return answer;
    },
    subscribe(onStatus) {
      subscribers.add(onStatus);
      return () => subscribers.delete(onStatus);
    },
    emit(status: Status) {
      for (const s of subscribers) s(status);
    },
    on(more: FakeHandlers) {
      Object.assign(handlers, more);
    },
  };
}
