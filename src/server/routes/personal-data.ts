/** Forgetting a subject's personal data (crypto-shredding; docs/personal-data.md). */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { forgetSubject } from '../../projections/forget.js';
import { tenantOf } from './tenant.js';
import type { ServerContext } from '../context.js';
import { HttpError } from '../http-errors.js';
import { bodyErrors, commonErrors, errors, json } from '../schemas.js';
import { adminOf } from './caller.js';

const forgetReportSchema = z.object({
  subjectId: z.string(),
  keyDestroyed: z
    .boolean()
    .describe('false: the subject had no key (unknown, or forgotten before); forgetting again is harmless'),
  events: z.number().int().describe('Events that carry the subject'),
  erasedInPlace: z.number().int().describe('Of these, events written in plain text before protection was on, erased in place'),
  streams: z.array(z.string()),
  snapshotsDeleted: z.number().int(),
  eventTypes: z.array(z.string()),
  projectionsRebuilt: z
    .array(z.object({ projection: z.string(), version: z.number().int(), build: z.number().int() }))
    .describe('Builds started to purge read models: the projection daemon does them (follow them in GET /projections)'),
});

export function personalDataRoutes(context: ServerContext): FastifyPluginAsync {
  return async (plain) => {
    const app = plain.withTypeProvider<ZodTypeProvider>();
    app.post(
      '/admin/personal-data/:subjectId/forget',
      {
        schema: {
          tags: ['personal data'],
          operationId: 'forgetSubject',
          summary: "Forget a subject's personal data: destroy its key, purge snapshots, rebuild read models",
          params: z.object({
            subjectId: z
              .string()
              .min(1)
              .max(100)
              .describe('The subject, as its events name it (the bank: the accountId); URL-encoded'),
          }),
          response: {
            200: json(forgetReportSchema, 'Forgotten: every read now shows the marker "[erased]" in its personal fields'),
            ...errors([...bodyErrors, 409, ...commonErrors], {
              409: 'This server stores no personal data encrypted (`personal_data_off`): it was started without a master key.',
            }),
          },
        },
      },
      async (request) => {
        const caller = await adminOf(context, request);
        if (!context.store.protectsPersonalData)
          throw new HttpError(
            409,
            'personal_data_off',
            'this server was started without personal-data protection (no master key)',
          );
        const { subjectId } = request.params;
        return context.audit.run(caller, 'personal-data.forget', subjectId, () =>
          forgetSubject(subjectId, { store: context.store, projections: context.projections, tenantId: tenantOf(caller) }),
        );
      },
    );
  };
}
