/**
 * The application's event contracts at the CLI: `fabula append --app` refuses an event its registry
 * would refuse (unless --force), and `fabula check --app` finds stored events that break theirs.
 */
import type { AppDefinition } from '../app-definition.js';
import { ValidationError } from '../core/errors.js';
import type { EventRegistry } from '../core/event-registry.js';
import type { NewEvent } from '../core/events.js';
import { zodIssueToValidationError } from '../core/zod-errors.js';
import type { EventStore } from '../store/event-store.js';
import type { ConsistencyFinding } from '../store/consistency.js';

/** The event as the registry encodes it, or (with `force`) as given, after a warning on stderr. */
export function validateForAppend(app: AppDefinition, event: NewEvent, force: boolean): NewEvent {
  const { registry } = app;
  let problem: ValidationError;
  if (!registry.has(event.type)) {
    const known = registry
      .all()
      .map((d) => d.type)
      .join(', ');
    problem = new ValidationError(
      'type',
      `${app.name} has no event type ${JSON.stringify(event.type)} (known: ${known || 'none'})`,
    );
  } else {
    const definition = registry.definition(event.type);
    const parsed = definition.schema.safeParse(event.data);
    if (parsed.success) return registry.encode({ ...event, data: parsed.data });
    problem = zodIssueToValidationError(parsed.error, `data(${event.type} v${definition.version})`);
  }
  if (!force) {
    throw new ValidationError(
      problem.field,
      `${problem.message.slice(problem.field.length + 2)}; nothing was appended (--force appends it anyway)`,
    );
  }
  process.stderr.write(`warning: appending anyway (--force), although ${problem.message}\n`);
  return registry.has(event.type) ? { ...event, schemaVersion: registry.definition(event.type).version } : event;
}

const PAGE = 1_000;
const MAX_LISTED = 100;

/** Every stored event whose type is unknown or whose data (upcast to the current version) is invalid. */
export async function checkEventContracts(store: EventStore, registry: EventRegistry): Promise<ConsistencyFinding[]> {
  const findings: ConsistencyFinding[] = [];
  let broken = 0;
  let after = 0n;
  for (;;) {
    const page = await store.readAll({ after, maxCount: PAGE });
    for (const event of page) {
      after = event.globalPosition;
      const problem = registry.checkStored(event);
      if (problem === null) continue;
      if (++broken <= MAX_LISTED) {
        findings.push({
          check: 'event contracts',
          problem: `#${event.globalPosition} ${event.streamId} v${event.streamVersion} ${event.type} (stored at version ${event.schemaVersion}): ${problem}`,
        });
      }
    }
    if (page.length < PAGE) break;
  }
  if (broken > MAX_LISTED) {
    findings.push({ check: 'event contracts', problem: `... and ${broken - MAX_LISTED} more events that break their contracts` });
  }
  return findings;
}
