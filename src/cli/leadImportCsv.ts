/**
 * How a CSV file's rows become `importLeads` rows: which column fills which field (a default that
 * reads the obvious headers, in English and Spanish, or a mapping file), the defaults given on
 * the command line, and an idempotency key per row derived from its content, so that importing
 * the same file twice creates nothing the second time.
 */
import { digest } from '../core/ids';
import { searchKey } from '../core/normalize';

/** Field paths of an import row (`ImportLeadRowInput`): `person.email`, `company.address.city`... */
export type Mapping = Record<string, string>;

const FIELD_PATHS = new Set([
  'source',
  'campaign',
  'occurredAt',
  'ownerId',
  'person.firstName',
  'person.lastName',
  'person.email',
  'person.phone',
  'person.jobTitle',
  'person.address.street',
  'person.address.city',
  'person.address.postalCode',
  'person.address.region',
  'person.address.country',
  'company.name',
  'company.website',
  'company.phone',
  'company.size',
  'company.address.street',
  'company.address.city',
  'company.address.postalCode',
  'company.address.region',
  'company.address.country',
  'interest.product',
  'interest.notes',
]);

/** Header (folded: lower case, no accents, no spaces or punctuation) → field. */
const OBVIOUS_HEADERS: Record<string, string> = {
  firstname: 'person.firstName', givenname: 'person.firstName', nombre: 'person.firstName',
  lastname: 'person.lastName', surname: 'person.lastName', familyname: 'person.lastName', apellido: 'person.lastName', apellidos: 'person.lastName',
  name: 'person.lastName', fullname: 'person.lastName', contact: 'person.lastName', contactname: 'person.lastName', nombrecompleto: 'person.lastName',
  email: 'person.email', emailaddress: 'person.email', mail: 'person.email', correo: 'person.email', correoelectronico: 'person.email',
  phone: 'person.phone', phonenumber: 'person.phone', telephone: 'person.phone', tel: 'person.phone', mobile: 'person.phone', telefono: 'person.phone', movil: 'person.phone',
  jobtitle: 'person.jobTitle', title: 'person.jobTitle', position: 'person.jobTitle', role: 'person.jobTitle', cargo: 'person.jobTitle', puesto: 'person.jobTitle',
  company: 'company.name', companyname: 'company.name', organization: 'company.name', organisation: 'company.name', account: 'company.name', empresa: 'company.name', compania: 'company.name',
  website: 'company.website', web: 'company.website', url: 'company.website', sitioweb: 'company.website', paginaweb: 'company.website',
  city: 'company.address.city', ciudad: 'company.address.city', country: 'company.address.country', pais: 'company.address.country',
  source: 'source', leadsource: 'source', origin: 'source', origen: 'source', fuente: 'source',
  campaign: 'campaign', campana: 'campaign',
  owner: 'ownerId', ownerid: 'ownerId', assignedto: 'ownerId', propietario: 'ownerId', responsable: 'ownerId',
  capturedat: 'occurredAt', capturedate: 'occurredAt', captured: 'occurredAt', createdat: 'occurredAt', created: 'occurredAt', createddate: 'occurredAt',
  date: 'occurredAt', fecha: 'occurredAt', fechadecaptura: 'occurredAt', fechaalta: 'occurredAt',
  product: 'interest.product', producto: 'interest.product', interest: 'interest.product', interes: 'interest.product',
  notes: 'interest.notes', note: 'interest.notes', comments: 'interest.notes', notas: 'interest.notes', comentarios: 'interest.notes',
};

const fold = (header: string): string => searchKey(header).replace(/[^a-z0-9]/g, '');

export class MappingError extends Error {
  override readonly name = 'MappingError';
}

/** The default mapping for these headers: each header the table knows, each field taken once. */
export const defaultMapping = (headers: readonly string[]): Mapping => {
  const mapping: Mapping = {};
  const taken = new Set<string>();
  for (const header of headers) {
    const field = OBVIOUS_HEADERS[fold(header)];
    if (field === undefined || taken.has(field)) continue;
    mapping[header] = field;
    taken.add(field);
  }
  return mapping;
};

/** A mapping file's mapping, checked against the file's headers and the fields that exist. */
export const checkedMapping = (mapping: unknown, headers: readonly string[]): Mapping => {
  if (typeof mapping !== 'object' || mapping === null || Array.isArray(mapping)) {
    throw new MappingError('the mapping must be a JSON object: { "CSV header": "field.path", ... }');
  }
  const problems: string[] = [];
  for (const [header, field] of Object.entries(mapping)) {
    if (!headers.includes(header)) problems.push(`no column "${header}" in the file (its columns: ${headers.join(', ')})`);
    if (typeof field !== 'string' || !FIELD_PATHS.has(field)) {
      problems.push(`"${header}" maps to ${JSON.stringify(field)}, which is not a field (fields: ${[...FIELD_PATHS].join(', ')})`);
    }
  }
  if (problems.length > 0) throw new MappingError(problems.join('\n'));
  return mapping as Mapping;
};

export interface RowDefaults {
  source?: string;
  campaign?: string;
}

const setPath = (target: Record<string, unknown>, path: string, value: string): void => {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
  node[parts.at(-1)!] = value;
};

/** A date alone (2024-03-14, 14/03/2024) is that day at 00:00 UTC; a full ISO date-time is kept. */
export const captureDate = (text: string): string => {
  const iso = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (iso) return `${iso[1]}-${iso[2]}-${iso[3]}T00:00:00.000Z`;
  const european = /^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$/.exec(text);
  if (european) return `${european[3]}-${european[2]!.padStart(2, '0')}-${european[1]!.padStart(2, '0')}T00:00:00.000Z`;
  return text;
};

/**
 * The import row of a CSV record: mapped fields (blank cells left out), the command line's
 * defaults where the file says nothing, source upper-cased (`Trade fair` → `TRADE_FAIR`), and a
 * key derived from all of it.
 */
export const toImportRow = (record: Record<string, string>, mapping: Mapping, defaults: RowDefaults): Record<string, unknown> => {
  const row: Record<string, unknown> = {};
  for (const [header, field] of Object.entries(mapping)) {
    const value = record[header]?.trim();
    if (value) setPath(row, field, field === 'occurredAt' ? captureDate(value) : value);
  }
  if (row.source === undefined && defaults.source) row.source = defaults.source;
  if (row.campaign === undefined && defaults.campaign) row.campaign = defaults.campaign;
  if (typeof row.source === 'string') row.source = row.source.trim().toUpperCase().replace(/[\s-]+/g, '_');
  return { ...row, idempotencyKey: `import:${digest(row)}` };
};
