/**
 * What projection handlers are given: stored events at their type's current version, through the event
 * registry's upcasters (the same function the repositories use). Every path that hands events to a
 * projection (the daemon, inline, live, replay) reads them through `currentEvents`.
 *
 * Without a registry, events are handed over as stored; an event written at a version above 1 then
 * means the events have evolved, and the handler is not given it: it fails, saying to pass the registry,
 * so a forgotten registry shows at once instead of feeding old shapes to new code.
 */
import { FabulaError } from '../core/errors.js';
import type { EventRegistry } from '../core/event-registry.js';
import type { RecordedEvent } from '../core/events.js';

export type CurrentEvents = (event: RecordedEvent) => RecordedEvent;

export function currentEvents(registry: EventRegistry | undefined, projection: string): CurrentEvents {
  if (registry) return (event) => registry.toCurrentVersion(event);
  return (event) => {
    if (event.schemaVersion <= 1) return event;
    throw new FabulaError(
      'registry_missing',
      `projection "${projection}" was given ${event.type} stored at version ${event.schemaVersion} but has no event registry to upcast with; pass the application's registry: createProjections(definitions, { registry }) (defineApp does this for its projections)`,
    );
  };
}
