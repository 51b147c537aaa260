/** Projections: read models built from the event log (inline, async daemon, live). See docs/projections.md. */
export {
  defineProjection,
  defaultRetry,
  type EventDataMap,
  type FailurePolicy,
  type ProjectionContext,
  type ProjectionDefinition,
  type ProjectionInfo,
  type ProjectionMode,
  type ProjectionOptions,
  type RecordedEventOf,
  type RetryPolicy,
  type SetupContext,
} from './define.js';
export type { Documents, ReadDocuments } from './documents.js';
export { defineLiveProjection, runLiveProjection, type LiveProjection, type LiveResult, type LiveSource } from './live.js';
export {
  createProjections,
  Projections,
  type CheckpointEvent,
  type ParkedEvent,
  type ProgressEvent,
  type ProjectionEvents,
  type ProjectionsOptions,
} from './projections.js';
export type { ProjectionStatus } from './status.js';
export { replayDryRun, type ReplayOptions, type ReplayReport } from './replay.js';
export { forgetSubject, type ForgetReport } from './forget.js';
