/**
 * Keeps a consumer's lease alive while a runner holds it: renewed every third of its time to live, so a
 * runner that dies (or freezes) is replaced after at most one time to live. Renewal also publishes the
 * runner's rate for status. A renewal that finds the lease gone tells the runner through `onLost`.
 */
import type { EventStore } from '../store/event-store.js';
import type { ConsumerSql } from './sql.js';

export function leaseRetryMs(leaseTtlMs: number): number {
  return Math.max(50, Math.round(leaseTtlMs / 3));
}

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: EventStore,
    private readonly sql: ConsumerSql,
    private readonly consumerId: string,
    private readonly owner: string,
    private readonly leaseTtlMs: number,
    private readonly rate: () => number,
    private readonly onLost: () => void,
  ) {}

  start(): void {
    if (this.timer) return;
    let beating = false;
    this.timer = setInterval(async () => {
      if (beating || this.store.isClosed) return;
      beating = true;
      try {
        const rows = await this.store.sql.query(this.sql.renew, [
          this.consumerId,
          this.owner,
          this.leaseTtlMs,
          Math.round(this.rate() * 10) / 10,
        ]);
        if (rows.length === 0) this.onLost();
      } catch {
        // The next step finds out whether the lease is still ours.
      } finally {
        beating = false;
      }
    }, leaseRetryMs(this.leaseTtlMs));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
