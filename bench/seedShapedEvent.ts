import { randomUUID } from 'node:crypto';
import type { NewEvent } from '../src/core/eventStore';

/**
 * An event shaped like the seed's captures (about 300 bytes of data with a sealed envelope, 260
 * of metadata), for the benches that append to a store without deciding anything.
 */
export const seedShapedEvent = ({ id, leadId, at }: { id: string; leadId: string; at: number }): NewEvent => {
  const time = new Date(at).toISOString();
  return {
    id,
    type: 'LeadCaptured',
    data: {
      leadId,
      source: 'INBOUND_CALL',
      company: { name: 'Moda Horizon plc', website: 'https://www.moda-horizon.example', phone: '+44 637 897 851', size: '1-10' },
      interest: { product: 'Office fit-out', estimatedValue: { amount: '93150.00', currency: 'GBP' } },
      ownerId: 'marta.puig',
      personalData: { keyId: randomUUID(), fields: ['person'], sealed: 'x'.repeat(120) },
    },
    metadata: {
      actor: 'marta.puig',
      recordedAt: time,
      occurredAt: time,
      correlationId: randomUUID(),
      causationId: randomUUID(),
      schemaVersion: 1,
      commandType: 'CaptureLead',
    },
  };
};
