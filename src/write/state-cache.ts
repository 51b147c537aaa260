/**
 * The last state this process saw of each stream, so that a command can decide without reading the
 * stream first. Only a hint: the append that follows carries the cached version as its expected version,
 * so a stream changed elsewhere fails it with ConcurrencyError (and the entry is dropped), and a decision
 * that would not be checked that way (no events, or a refusal) is made again on fresh state. States are
 * kept encoded, as snapshots are, so that no caller can change a cached state in place.
 */
export class StateCache {
  private readonly entries = new Map<string, { version: number; encoded: unknown }>();

  constructor(private readonly maxEntries: number) {}

  get(streamId: string): { version: number; encoded: unknown } | undefined {
    const entry = this.entries.get(streamId);
    if (entry) {
      // Least recently used goes first: a Map iterates in insertion order.
      this.entries.delete(streamId);
      this.entries.set(streamId, entry);
    }
    return entry;
  }

  set(streamId: string, version: number, encoded: unknown): void {
    this.entries.delete(streamId);
    this.entries.set(streamId, { version, encoded });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(streamId: string): void {
    this.entries.delete(streamId);
  }

  clear(): void {
    this.entries.clear();
  }
}
