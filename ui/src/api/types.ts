// The one place screens import app-API types from: the ts-rs types generated from the Rust
// structs (../generated, `bash scripts/gen-types.sh`).
import type { AnswerOf as GeneratedAnswerOf, Operation as GeneratedOperation } from '../generated';

export type * from '../generated';
export type { AppError as AppErrorBody, Check as PreflightCheck, LiveCounters as Metrics } from '../generated';

/** Every operation the client can send. */
export type Operation = GeneratedOperation;
/** Each operation's answer, by its `op` tag. */
export type AnswerOf = GeneratedAnswerOf;
/** The operations in main (generated), for the registry's completeness check. */
export type GeneratedOp = keyof GeneratedAnswerOf;
