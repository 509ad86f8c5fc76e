/**
 * `npm run bench:validation`: what class-validator costs to validate a capture's input (the
 * input, its person, company, interest and estimated value, as type-graphql hands them over),
 * with class-validator looking each class's rules up at every validation, as it ships, against
 * the rules remembered (src/graphql/shared/validationMetadata.ts). Every GraphQL type of the
 * schema is loaded, as in the API, so the lookup tests the classes the API declares. The two
 * ways alternate BENCH_VALIDATION_ROUNDS (5) times, BENCH_VALIDATIONS (20,000) validations each;
 * the medians are printed, with their ratio.
 */
import 'reflect-metadata';
import { getMetadataStorage, validateOrReject } from 'class-validator';
import { buildCrmSchema } from '../src/graphql/schema';
import { CaptureLeadInput, CompanyInput, InterestInput, PersonInput } from '../src/graphql/types/leads';
import { MoneyInput } from '../src/graphql/shared/common';
import { rememberValidationRules } from '../src/graphql/shared/validationMetadata';
import { envNumber, median } from './harness';

const validations = envNumber('BENCH_VALIDATIONS', 20_000, 1);
const rounds = envNumber('BENCH_VALIDATION_ROUNDS', 5, 1);

const input = (n: number): CaptureLeadInput =>
  Object.assign(new CaptureLeadInput(), {
    source: 'WEB_FORM',
    campaign: 'spring-fair',
    person: Object.assign(new PersonInput(), { firstName: 'Ana', lastName: `García ${n}`, email: `ana.garcia.${n}@example.com`, phone: '+34 600 000 000' }),
    company: Object.assign(new CompanyInput(), { name: 'Acme Ibérica', website: 'acme.example' }),
    interest: Object.assign(new InterestInput(), { product: 'CRM', estimatedValue: Object.assign(new MoneyInput(), { amount: '1200.00', currency: 'EUR' }) }),
  });

/**
 * Microseconds a validation, as type-graphql asks it: the API's `validate: { forbidUnknownValues:
 * false }`, to which type-graphql adds `skipMissingProperties` (src/graphql/schema.ts).
 */
const microsecondsAValidation = async (): Promise<number> => {
  const started = process.hrtime.bigint();
  for (let n = 0; n < validations; n++) await validateOrReject(input(n), { forbidUnknownValues: false, skipMissingProperties: true });
  return Number(process.hrtime.bigint() - started) / 1000 / validations;
};

const main = async () => {
  // Every type declared, as in the API; the schema's own call to remember the rules finds them
  // remembered already (it then does nothing), so that `forget` leaves class-validator as it ships.
  const forget = rememberValidationRules();
  await buildCrmSchema();
  forget();
  const declaring = new Set(
    (getMetadataStorage() as unknown as { validationMetadatas: Map<unknown, unknown> }).validationMetadatas.keys(),
  ).size;
  await microsecondsAValidation(); // warm-up, both ways
  const undo = rememberValidationRules();
  await microsecondsAValidation();
  undo();
  const asShipped: number[] = [];
  const remembered: number[] = [];
  for (let round = 0; round < rounds; round++) {
    asShipped.push(await microsecondsAValidation());
    const restore = rememberValidationRules();
    remembered.push(await microsecondsAValidation());
    restore();
  }
  console.log(
    `a capture's input validated (${declaring} classes declare rules): rules looked up each time ${median(asShipped).toFixed(1)} us, ` +
      `remembered ${median(remembered).toFixed(1)} us (${(median(asShipped) / median(remembered)).toFixed(2)}x), medians of ${rounds} rounds of ${validations}`,
  );
};

void main();
