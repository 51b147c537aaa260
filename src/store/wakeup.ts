/**
 * Wakes waiting readers when something was appended. Fed by this process's own appends (at once) and by
 * PostgreSQL NOTIFY (appends by other processes); readers also poll, so a lost notification only costs
 * latency, never an event.
 */
export class Wakeup {
  private waiters = new Set<() => void>();
  /** Counts signals, so a reader can tell whether one came while it was reading. */
  generation = 0;

  /** Wakes everyone waiting now. */
  signal(): void {
    this.generation++;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  /**
   * Resolves on the next signal, after `timeoutMs`, or when `signal` aborts, whichever is first; at once
   * if a signal came since the reader saw `generation === since`.
   */
  wait(since: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || this.generation !== since) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }
}
