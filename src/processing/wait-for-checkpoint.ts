/**
 * Waiting until a consumer has passed a position (read-your-writes after an append), for `Consumers`
 * and `Projections` alike: polls the consumer's row, woken at once by this process's own checkpoints,
 * backing off to 100 ms for other processes' progress.
 */
import { ValidationError } from '../core/errors.js';
import { validatePosition, validatePositiveInteger } from '../core/validation.js';
import type { Wakeup } from '../store/wakeup.js';
import type { ConsumerRow } from './sql.js';

type Progress = Pick<ConsumerRow, 'checkpoint' | 'status' | 'failed_position' | 'last_error'>;

export async function waitForCheckpoint<Row extends Progress>(args: {
  position: bigint;
  options: { timeout?: number };
  /** Signalled when a runner of this process moves a checkpoint or fails. */
  checkpoints: Wakeup;
  /** The consumer's row now, or undefined when there is no such consumer. */
  read: () => Promise<Row | undefined>;
  notFound: () => Error;
  /** It stopped in status failed at `failedPosition`, at or before the target. */
  failed: (row: Row, failedPosition: bigint, target: bigint) => Error;
  timedOut: (target: bigint, checkpoint: bigint, timeout: number) => Error;
}): Promise<void> {
  const target = validatePosition(args.position, 'position');
  if (target === undefined) throw new ValidationError('position', 'is required');
  const timeout = validatePositiveInteger(args.options.timeout, 'timeout') ?? 5_000;
  const deadline = Date.now() + timeout;
  let delay = 5;
  for (;;) {
    const generation = args.checkpoints.generation;
    const row = await args.read();
    if (!row) throw args.notFound();
    const checkpoint = BigInt(row.checkpoint);
    if (checkpoint >= target) return;
    if (row.status === 'failed' && row.failed_position !== null && BigInt(row.failed_position) <= target) {
      throw args.failed(row, BigInt(row.failed_position), target);
    }
    const left = deadline - Date.now();
    if (left <= 0) throw args.timedOut(target, checkpoint, timeout);
    await args.checkpoints.wait(generation, Math.min(delay, left));
    delay = Math.min(delay * 2, 100);
  }
}
