import { AppError } from './error';
import type { Transport } from './transport';
import type { AnswerOf, Operation, Status } from './types';

export type Op = Operation['op'];
/** The operation with tag `K`. */
export type OperationOf<K extends Op> = Extract<Operation, { op: K }>;

/** One typed client over any transport: `call({op: 'trace', query})` → `Promise<Trace>`. */
export class Client {
  constructor(readonly transport: Transport) {}

  async call<K extends Op & keyof AnswerOf>(operation: OperationOf<K>): Promise<AnswerOf[K]> {
    try {
      return (await this.transport.call(operation)) as AnswerOf[K];
    } catch (error) {
      throw AppError.from(error);
    }
  }

  subscribe(onStatus: (status: Status) => void, onError?: (error: AppError) => void): () => void {
    return this.transport.subscribe(onStatus, (e) => onError?.(AppError.from(e)));
  }
}
