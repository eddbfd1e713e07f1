// Generated from the Rust app API by `bash scripts/gen-types.sh`; do not edit.
import type { Acknowledged, Advanced, BackfillStatus, DeadLetter, DeadLetterBatch, DriftReport, PreflightReport, Reconciliation, RolledBack, SetAside, StagePlanAnswer, StageStatus, Status, Trace } from "./index";

/** Each operation's answer, by its `op` tag. */
export type AnswerOf = {
  acknowledge: Acknowledged;
  advance: Advanced;
  backfill_status: BackfillStatus;
  catalog_drift: DriftReport;
  dead_letter: DeadLetter;
  dead_letters: Array<DeadLetter>;
  discard_dead_letter: DeadLetter;
  discard_dead_letters: DeadLetterBatch;
  discard_set_aside_fetch: SetAside;
  last_catalog_drift: DriftReport;
  preflight: PreflightReport;
  reconcile: Reconciliation;
  replay_dead_letter: DeadLetter;
  replay_dead_letters: DeadLetterBatch;
  replay_set_aside_fetch: SetAside;
  rollback: RolledBack;
  set_aside_fetches: Array<SetAside>;
  stage: StageStatus;
  stage_plan: StagePlanAnswer;
  status: Status;
  trace: Trace;
};

/** An operation's `op` tag. */
export type Op = keyof AnswerOf;
