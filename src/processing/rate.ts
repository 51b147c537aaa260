/** Events per second over the last few seconds, for status and progress. Pure. */
export class RateMeter {
  private readonly samples: Array<{ at: number; count: number }> = [];
  constructor(private readonly windowMs = 5_000) {}

  add(count: number, at = performance.now()): void {
    this.samples.push({ at, count });
    this.trim(at);
  }

  perSecond(at = performance.now()): number {
    this.trim(at);
    if (this.samples.length === 0) return 0;
    const total = this.samples.reduce((sum, s) => sum + s.count, 0);
    const span = Math.max(at - this.samples[0]!.at, 1_000);
    return (total * 1000) / span;
  }

  private trim(at: number) {
    while (this.samples.length > 0 && this.samples[0]!.at < at - this.windowMs) this.samples.shift();
  }
}
