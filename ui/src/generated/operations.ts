// Generated from the Rust app API by `bash scripts/gen-types.sh`; do not edit.
import type { Acknowledged, Advanced, AuditExportFile, AuditExported, AuditVerified, BackfillPlan, BackfillStatus, Connected, ConnectionInfo, DeadLetter, DeadLetterBatch, DriftReport, ErrorRunbooks, PreflightReport, Reconciliation, RehearsalReport, RolledBack, Runbook, SetAside, StagePlanAnswer, StageStatus, Status, Trace } from "./index";

/** Each operation's answer, by its `op` tag. */
export type AnswerOf = {
  acknowledge: Acknowledged;
  advance: Advanced;
  audit_export: AuditExported;
  audit_exports: Array<AuditExportFile>;
  audit_verify: AuditVerified;
  backfill_plan: BackfillPlan;
  backfill_start: BackfillStatus;
  backfill_status: BackfillStatus;
  catalog_drift: DriftReport;
  connect: Connected;
  connection: ConnectionInfo;
  dead_letter: DeadLetter;
  dead_letters: Array<DeadLetter>;
  discard_dead_letter: DeadLetter;
  discard_dead_letters: DeadLetterBatch;
  discard_set_aside_fetch: SetAside;
  error_runbooks: ErrorRunbooks;
  last_catalog_drift: DriftReport;
  preflight: PreflightReport;
  reconcile: Reconciliation;
  rehearse: RehearsalReport;
  replay_dead_letter: DeadLetter;
  replay_dead_letters: DeadLetterBatch;
  replay_set_aside_fetch: SetAside;
  rollback: RolledBack;
  runbooks: Array<Runbook>;
  set_aside_fetches: Array<SetAside>;
  stage: StageStatus;
  stage_plan: StagePlanAnswer;
  status: Status;
  trace: Trace;
};

/** An operation's `op` tag. */
export type Op = keyof AnswerOf;
