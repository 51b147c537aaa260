/**
 * The event log as one caller may see it: lists and the global order leave out the streams its roles
 * may not read, so pages, counts and `next` cursors are those of what it can read (never a hint of
 * the rest). Filtered in SQL when the readable stream types are few and named; else read page by page
 * and filtered here until the page is full or the log ends.
 */
import type { Access } from '../../core/access.js';
import { streamTypeOf, type RecordedEvent, type StreamInfo } from '../../core/events.js';
import type { EventStore } from '../../store/event-store.js';

export interface EventFilter {
  eventTypes?: string[];
  streamTypes?: string[];
}

/**
 * The stream types to ask SQL for: `undefined` for no SQL filter (filter in TypeScript with `may`),
 * `[]` when the caller can read none of those asked for.
 */
export function sqlStreamTypes(access: Access, asked: string[] | undefined): string[] | undefined {
  const readable = access.readableTypes();
  if (readable === null) return asked?.filter((type) => access.may('read', type));
  return asked ? asked.filter((type) => readable.includes(type)) : readable;
}

/** Up to `maxCount` events after `after` that the caller may read, in global order. */
export async function readableEvents(
  store: EventStore,
  access: Access,
  options: EventFilter & { after: bigint; maxCount: number },
): Promise<RecordedEvent[]> {
  const streamTypes = sqlStreamTypes(access, options.streamTypes);
  if (streamTypes?.length === 0) {
    // Validate the filters all the same: a mistake is a 400 whatever the caller may read.
    await store.readAll({ after: options.after, maxCount: 1, eventTypes: options.eventTypes, streamTypes: options.streamTypes });
    return [];
  }
  const read = (after: bigint) =>
    store.readAll({ after, maxCount: options.maxCount, eventTypes: options.eventTypes, streamTypes });
  if (access.readsEverything || streamTypes !== undefined) return read(options.after);
  const found: RecordedEvent[] = [];
  for (let after = options.after; ;) {
    const page = await read(after);
    found.push(...page.filter((event) => access.may('read', streamTypeOf(event.streamId))));
    if (found.length >= options.maxCount || page.length < options.maxCount) return found.slice(0, options.maxCount);
    after = page[page.length - 1]!.globalPosition;
  }
}

/** Whether the caller may read this event (the live tail filters with it when SQL cannot). */
export function mayReadEvent(access: Access, event: RecordedEvent): boolean {
  return access.may('read', streamTypeOf(event.streamId));
}

/** Up to `limit` streams after `after` (by id) that the caller may read. */
export async function readableStreams(
  store: EventStore,
  access: Access,
  options: { type?: string; after?: string; limit: number; includeDeleted?: boolean },
): Promise<StreamInfo[]> {
  if (options.type !== undefined && !access.may('read', options.type)) {
    await store.listStreams({ ...options, limit: 1 }); // a malformed filter is still a 400
    return [];
  }
  const readable = access.readableTypes();
  const type = options.type ?? (readable?.length === 1 ? readable[0] : undefined);
  if (readable?.length === 0 && options.type === undefined) return [];
  const list = (after: string | undefined) => store.listStreams({ ...options, type, after });
  if (access.readsEverything || type !== undefined) return list(options.after);
  const found: StreamInfo[] = [];
  for (let after = options.after; ;) {
    const page = await list(after);
    found.push(...page.filter((stream) => access.may('read', stream.streamType)));
    if (found.length >= options.limit || page.length < options.limit) return found.slice(0, options.limit);
    after = page[page.length - 1]!.streamId;
  }
}
