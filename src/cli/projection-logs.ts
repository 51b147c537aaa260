/**
 * What `fabula serve` logs about its projections: a failure, a parked event, a build starting, its
 * progress (at most every `progressEveryMs` per build), a new version taking over, daemon faults. An
 * active projection's progress is logged only while it is far behind (catching up after a pause or a
 * downtime), not batch after batch in normal running.
 */
import type { Logger } from 'pino';
import type { InstanceRef } from '../projections/instance.js';
import type { Projections } from '../projections/projections.js';

const label = (r: InstanceRef) => `${r.projection} v${r.version}${r.build ? ` (build ${r.build})` : ''}`;
/** Events behind the head from which an active projection's progress is worth a log line. */
const FAR_BEHIND = 1_000n;
const key = (r: InstanceRef) => `${r.projection}\u0000${r.version}\u0000${r.build}`;

export function logProjections(projections: Projections, logger: Logger, progressEveryMs = 10_000): () => void {
  const lastProgress = new Map<string, number>();
  const onProgress: Parameters<typeof projections.on<'progress'>>[1] = (e) => {
    const ref = { projection: e.projection, version: e.version, build: e.build };
    if (e.phase === 'active' && e.total - e.done < FAR_BEHIND) {
      lastProgress.delete(key(ref)); // caught up: a later fall behind is news again
      return;
    }
    const seen = lastProgress.get(key(ref));
    const fields = { ...ref, done: String(e.done), total: String(e.total), eventsPerSecond: Math.round(e.eventsPerSecond) };
    if (seen === undefined) {
      lastProgress.set(key(ref), Date.now());
      if (e.phase === 'building') logger.info(fields, `projection ${label(ref)}: building from the start of the log`);
      else logger.info(fields, `projection ${label(ref)}: catching up, ${e.total - e.done} events behind`);
      return;
    }
    if (Date.now() - seen < progressEveryMs) return;
    lastProgress.set(key(ref), Date.now());
    const eta = e.etaSeconds === null ? '' : `, about ${Math.ceil(e.etaSeconds)} s to go`;
    logger.info({ ...fields, etaSeconds: e.etaSeconds }, `projection ${label(ref)}: ${e.done}/${e.total} events${eta}`);
  };
  const onActivated: Parameters<typeof projections.on<'activated'>>[1] = (ref) => {
    lastProgress.delete(key(ref));
    logger.info(ref, `projection ${label(ref)} caught up and now serves reads (older versions retired)`);
  };
  const onFailed: Parameters<typeof projections.on<'failed'>>[1] = (e) => {
    logger.error(
      { projection: e.projection, version: e.version, build: e.build, position: String(e.position), error: e.error },
      `projection ${label(e)} stopped (status failed) at position ${e.position}: ${e.error}; fix it and run "fabula projections resume ${e.projection}", or "fabula projections skip ${e.projection} ${e.position}"`,
    );
  };
  const onParked: Parameters<typeof projections.on<'parked'>>[1] = (e) => {
    logger.warn(
      {
        projection: e.projection,
        version: e.version,
        build: e.build,
        position: String(e.position),
        streamId: e.streamId,
        error: e.error,
      },
      `projection ${label(e)} parked the event at position ${e.position} (stream "${e.streamId}"): ${e.error}`,
    );
  };
  const onError: Parameters<typeof projections.on<'error'>>[1] = (e) => {
    logger.warn(
      { projection: e.projection, version: e.version, err: e.error },
      `projection ${label(e)}: ${String((e.error as Error)?.message ?? e.error)} (retrying)`,
    );
  };
  projections.on('progress', onProgress);
  projections.on('activated', onActivated);
  projections.on('failed', onFailed);
  projections.on('parked', onParked);
  projections.on('error', onError);
  return () => {
    projections.off('progress', onProgress);
    projections.off('activated', onActivated);
    projections.off('failed', onFailed);
    projections.off('parked', onParked);
    projections.off('error', onError);
  };
}
