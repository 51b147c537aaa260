/**
 * The tenant a request works in (docs/tenancy.md): the caller's, or the default tenant for a caller who
 * has none. Every route that shows streams, events or state reads through the tenant's view of the store,
 * which row-level security confines to that tenant.
 */
import { DEFAULT_TENANT } from '../../core/events.js';
import type { EventStore } from '../../store/event-store.js';
import type { Caller, ServerContext } from '../context.js';

export function tenantOf(caller: Caller): string {
  return caller.tenantId ?? DEFAULT_TENANT;
}

/** The store as the caller's tenant sees it. */
export function storeFor(context: ServerContext, caller: Caller): EventStore {
  return context.store.forTenant(tenantOf(caller));
}
