/**
 * Which instances of a projection exist and which one serves reads. Registering a definition creates
 * its version's instance when there is none; the first instance of a name is active at once (there is
 * nothing else to serve), a newer version is built beside the active one. Creating an instance is pure
 * bookkeeping: the daemon that runs it does the set-up.
 */
import { ProjectionNotFoundError } from '../core/errors.js';
import type { SqlExecutor } from '../store/sql-client.js';
import type { ProjectionDefinition } from './define.js';
import { instanceSchemaName } from './naming.js';
import { consumerName, type InstanceRow, type ProjectionSql } from './sql.js';

type Phase = InstanceRow['phase'];

export interface RegistrationPlan {
  /** The instance to create, if any. */
  create: { version: number; build: number; phase: Exclude<Phase, 'retired'> } | null;
  /** A newer version of the projection already exists: this definition's code is out of date. */
  superseded: boolean;
}

/** Pure: what registering version `version` of a projection means, given its instances. */
export function planRegistration(
  existing: ReadonlyArray<Pick<InstanceRow, 'version' | 'build' | 'phase'>>,
  version: number,
): RegistrationPlan {
  const live = existing.filter((row) => row.phase !== 'retired');
  if (live.some((row) => row.version === version)) return { create: null, superseded: false };
  if (live.some((row) => row.version > version)) return { create: null, superseded: true };
  const builds = existing.filter((row) => row.version === version).map((row) => row.build);
  return {
    create: {
      version,
      build: builds.length === 0 ? 0 : Math.max(...builds) + 1,
      phase: live.some((row) => row.phase === 'active') ? 'building' : 'active',
    },
    superseded: false,
  };
}

export function lockKey(storeSchema: string, name: string): string {
  return `fabula:projection:${storeSchema}:${name}`;
}

/** In the caller's transaction: makes sure `definition`'s version has an instance; returns the plan. */
export async function register(tx: SqlExecutor, sql: ProjectionSql, storeSchema: string, definition: ProjectionDefinition) {
  await tx.query(sql.lockName, [lockKey(storeSchema, definition.name)]);
  const existing = await tx.query<InstanceRow>(sql.instancesOf, [definition.name]);
  const plan = planRegistration(existing, definition.version);
  if (plan.create) {
    const { version, build, phase } = plan.create;
    await insertInstance(tx, sql, storeSchema, definition, version, build, phase);
  }
  return plan;
}

/**
 * In the caller's transaction: a new build of the active version, to be built beside it and to replace
 * it once caught up. If one is being built already, that one is returned.
 */
export async function createRebuild(
  tx: SqlExecutor,
  sql: ProjectionSql,
  storeSchema: string,
  name: string,
): Promise<InstanceRow> {
  await tx.query(sql.lockName, [lockKey(storeSchema, name)]);
  const existing = await tx.query<InstanceRow>(sql.instancesOf, [name]);
  const active = existing.find((row) => row.phase === 'active');
  if (!active) throw new ProjectionNotFoundError(name);
  const building = existing.find((row) => row.phase === 'building' && row.version === active.version && row.build > active.build);
  if (building) return building;
  const build = Math.max(...existing.filter((row) => row.version === active.version).map((row) => row.build)) + 1;
  return insertInstance(tx, sql, storeSchema, active, active.version, build, 'building');
}

/** A new instance and the consumer that will hold its checkpoint. */
async function insertInstance(
  tx: SqlExecutor,
  sql: ProjectionSql,
  storeSchema: string,
  of: Pick<ProjectionDefinition, 'name' | 'mode' | 'handles'>,
  version: number,
  build: number,
  phase: Exclude<Phase, 'retired'>,
): Promise<InstanceRow> {
  const [{ id }] = (await tx.query<{ id: string }>(sql.insertInstance, [
    of.name,
    version,
    build,
    of.mode,
    JSON.stringify(of.handles),
    instanceSchemaName(storeSchema, of.name, version, build),
    phase,
    consumerName(of.name, version, build),
  ])) as [{ id: string }];
  return (await tx.query<InstanceRow>(sql.instance, [id]))[0]!;
}
