/**
 * What generated leads are made of: a refurbishment and facilities business selling to shops
 * and offices in south-western Europe (B2B), and home projects to consumers (B2C), with the
 * proportions a sales team of that kind would recognise.
 */
import type { LeadSource } from '../domain/leads/lead';
import type { Random } from './random';

export const DEFAULT_SALES_TEAM = ['marta.puig', 'jordi.vidal', 'laura.garcia', 'pau.serra', 'ana.lopez', 'david.martin'];
/** Integrations and back-office users who record leads without working them. */
export const WEB_FORMS_ACTOR = 'web-forms';
export const MARKETING_ACTOR = 'marketing.ops';

export const SOURCE_WEIGHTS: Readonly<Record<LeadSource, number>> = {
  WEB_FORM: 22,
  EMAIL_CAMPAIGN: 14,
  TRADE_FAIR: 10,
  INBOUND_EMAIL: 10,
  SOCIAL_MEDIA: 10,
  REFERRAL: 9,
  TELEMARKETING: 8,
  INBOUND_CALL: 8,
  COLD_OUTREACH: 7,
  OTHER: 2,
};

/** Sources that arrive through an integration or a list import rather than a salesperson. */
export const captureActorFor = (source: LeadSource): string | undefined =>
  ({ WEB_FORM: WEB_FORMS_ACTOR, SOCIAL_MEDIA: WEB_FORMS_ACTOR, EMAIL_CAMPAIGN: MARKETING_ACTOR, TRADE_FAIR: MARKETING_ACTOR })[
    source as string
  ];

export const campaignFor = (source: LeadSource, at: Date, random: Random): string | undefined => {
  const year = at.getUTCFullYear();
  const quarter = Math.floor(at.getUTCMonth() / 3) + 1;
  const month = String(at.getUTCMonth() + 1).padStart(2, '0');
  switch (source) {
    case 'EMAIL_CAMPAIGN':
      return random.pick([`newsletter-${year}-${month}`, `q${quarter}-offer-${year}`, `reactivation-${year}`]);
    case 'TRADE_FAIR':
      return random.pick([`construmat-${year}`, `retail-forum-${year}`, `fira-equipament-${year}`, `sil-${year}`]);
    case 'SOCIAL_MEDIA':
      return random.pick([`linkedin-ads-q${quarter}-${year}`, `instagram-home-${year}`]);
    case 'WEB_FORM':
      return random.chance(0.6) ? random.pick([`google-ads-q${quarter}-${year}`, `seo-landing-${year}`]) : undefined;
    case 'TELEMARKETING':
      return `call-list-q${quarter}-${year}`;
    default:
      return undefined;
  }
};

export const FIRST_NAMES = [
  'Marta', 'Jordi', 'Laura', 'Pau', 'Ana', 'David', 'Núria', 'Marc', 'Carmen', 'Javier', 'Elena', 'Sergi', 'Lucía',
  'Pablo', 'Montse', 'Àlex', 'Raquel', 'Òscar', 'Isabel', 'Miguel', 'Sofia', 'João', 'Inês', 'Claire', 'Julien',
  'Giulia', 'Marco', 'Anna', 'Thomas', 'Emma', 'Oliver', 'Sarah', 'Daan', 'Lotte',
];
export const LAST_NAMES = [
  'Puig', 'Vidal', 'García', 'Serra', 'López', 'Martín', 'Ferrer', 'Soler', 'Martínez', 'Fernández', 'Roca', 'Font',
  'Sánchez', 'Pérez', 'Casals', 'Torres', 'Navarro', 'Romero', 'Costa', 'Silva', 'Dubois', 'Moreau', 'Rossi',
  'Bianchi', 'Müller', 'Schmidt', 'Smith', 'Jones', 'de Vries', 'Jansen', 'Ortega', 'Gil', 'Molina',
];
export const JOB_TITLES = [
  'Owner', 'Managing Director', 'CEO', 'Operations Director', 'Purchasing Manager', 'Facilities Manager',
  'Store Manager', 'Office Manager', 'CFO', 'Procurement Specialist', 'Marketing Director', 'Maintenance Lead',
];
export const COMPANY_SIZES = { '1-10': 30, '11-50': 32, '51-200': 20, '201-1000': 12, '1000+': 6 } as const;

export interface Country {
  code: string;
  phonePrefix: string;
  currency: string;
  legalSuffixes: readonly string[];
  cities: readonly { city: string; region: string }[];
}

export const COUNTRIES: Readonly<Record<string, Country>> = {
  ES: {
    code: 'ES', phonePrefix: '+34', currency: 'EUR', legalSuffixes: ['S.L.', 'S.A.', 'S.L.U.'],
    cities: [
      { city: 'Barcelona', region: 'Catalunya' }, { city: 'Girona', region: 'Catalunya' },
      { city: 'Lleida', region: 'Catalunya' }, { city: 'Madrid', region: 'Madrid' },
      { city: 'Valencia', region: 'Comunitat Valenciana' }, { city: 'Sevilla', region: 'Andalucía' },
      { city: 'Málaga', region: 'Andalucía' }, { city: 'Bilbao', region: 'País Vasco' }, { city: 'Zaragoza', region: 'Aragón' },
    ],
  },
  PT: { code: 'PT', phonePrefix: '+351', currency: 'EUR', legalSuffixes: ['Lda.', 'S.A.'], cities: [{ city: 'Lisboa', region: 'Lisboa' }, { city: 'Porto', region: 'Norte' }] },
  FR: { code: 'FR', phonePrefix: '+33', currency: 'EUR', legalSuffixes: ['SARL', 'SAS'], cities: [{ city: 'Toulouse', region: 'Occitanie' }, { city: 'Perpignan', region: 'Occitanie' }, { city: 'Lyon', region: 'Auvergne-Rhône-Alpes' }] },
  IT: { code: 'IT', phonePrefix: '+39', currency: 'EUR', legalSuffixes: ['S.r.l.', 'S.p.A.'], cities: [{ city: 'Milano', region: 'Lombardia' }, { city: 'Torino', region: 'Piemonte' }] },
  DE: { code: 'DE', phonePrefix: '+49', currency: 'EUR', legalSuffixes: ['GmbH', 'AG'], cities: [{ city: 'München', region: 'Bayern' }, { city: 'Köln', region: 'Nordrhein-Westfalen' }] },
  GB: { code: 'GB', phonePrefix: '+44', currency: 'GBP', legalSuffixes: ['Ltd', 'plc'], cities: [{ city: 'London', region: 'England' }, { city: 'Manchester', region: 'England' }] },
};
export const COUNTRY_WEIGHTS = { ES: 62, PT: 8, FR: 10, IT: 7, DE: 6, GB: 7 } as const;

const COMPANY_WORDS = [
  'Ribera', 'Montseny', 'Costa Brava', 'Mediterrània', 'Atlàntica', 'Iberia', 'Nord', 'Sol', 'Olivera', 'Tramuntana',
  'Delta', 'Pirineu', 'Alba', 'Mirador', 'Horizon', 'Lumen', 'Vértice', 'Aurora', 'Cedro', 'Quercus', 'Llevant',
];
const COMPANY_TRADES = [
  'Òptica', 'Farmàcia', 'Botiga', 'Supermercats', 'Hotels', 'Clínica', 'Logística', 'Consulting', 'Retail',
  'Moda', 'Perfumeries', 'Restaurants', 'Gimnasos', 'Oficines', 'Assessoria', 'Ferreteria', 'Llibreria',
];

/** A company of the generated market: the same index always names the same company. */
export const companyAt = (index: number, random: Random) => {
  const countryCode = random.weighted(COUNTRY_WEIGHTS);
  const country = COUNTRIES[countryCode]!;
  const trade = COMPANY_TRADES[index % COMPANY_TRADES.length]!;
  const word = COMPANY_WORDS[Math.floor(index / COMPANY_TRADES.length) % COMPANY_WORDS.length]!;
  const series = Math.floor(index / (COMPANY_TRADES.length * COMPANY_WORDS.length));
  const name = `${trade} ${word}${series > 0 ? ` ${series + 1}` : ''} ${random.pick(country.legalSuffixes)}`;
  const slug = `${trade}-${word}${series > 0 ? `-${series + 1}` : ''}`
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-');
  const { city, region } = random.pick(country.cities);
  return {
    name,
    domain: `${slug}.example`,
    size: random.weighted(COMPANY_SIZES),
    country,
    address: { street: `${random.pick(['Carrer', 'Avenida', 'Rua', 'Via', 'Rue'])} ${random.pick(COMPANY_WORDS)} ${random.int(1, 180)}`, city, postalCode: String(random.int(10000, 52999)), region, country: country.code },
  };
};
export type GeneratedCompany = ReturnType<typeof companyAt>;

export interface Product {
  name: string;
  /** Estimated values are drawn between these, in whole units of the currency. */
  min: number;
  max: number;
}

export const B2B_PRODUCTS: readonly Product[] = [
  { name: 'Shop refurbishment', min: 8_000, max: 60_000 },
  { name: 'Office fit-out', min: 15_000, max: 120_000 },
  { name: 'LED lighting retrofit', min: 3_000, max: 25_000 },
  { name: 'HVAC renovation', min: 10_000, max: 80_000 },
  { name: 'Signage package', min: 1_500, max: 12_000 },
  { name: 'Maintenance contract (annual)', min: 2_400, max: 30_000 },
  { name: 'Security and access control', min: 4_000, max: 35_000 },
];
export const B2C_PRODUCTS: readonly Product[] = [
  { name: 'Kitchen renovation', min: 6_000, max: 28_000 },
  { name: 'Bathroom renovation', min: 4_000, max: 16_000 },
  { name: 'Solar panels', min: 5_000, max: 14_000 },
  { name: 'Window replacement', min: 2_500, max: 11_000 },
  { name: 'Home alarm', min: 600, max: 2_500 },
];

/** The B2C grouping accounts: consumers are attached to the region that serves them. */
export const B2C_GROUPINGS = [
  { key: 'catalunya', name: 'Catalunya home customers', region: 'Catalunya', weight: 34 },
  { key: 'madrid', name: 'Madrid home customers', region: 'Madrid', weight: 26 },
  { key: 'levante', name: 'Levante home customers', region: 'Comunitat Valenciana', weight: 18 },
  { key: 'andalucia', name: 'Andalucía home customers', region: 'Andalucía', weight: 14 },
  { key: 'online', name: 'Online shop customers', region: 'Online', weight: 8 },
] as const;

export const COMPETITORS = ['Reformas Levante', 'Iberfit Interiors', 'ShopDesign Pro', 'Grupo Arquitec', 'Nordlicht GmbH', 'CasaNova Obras'];

export const DISQUALIFICATION_NOTES: Readonly<Record<string, string>> = {
  NO_NEED: 'They renovated last year; nothing planned.',
  NO_BUDGET: 'Budget frozen until next fiscal year.',
  NO_AUTHORITY: 'Contact is an employee; owner not reachable.',
  BAD_TIMING: 'Interested, but not before next season.',
  UNREACHABLE: 'No answer after several attempts.',
  INVALID_DATA: 'E-mail bounced and the phone number is wrong.',
  DUPLICATE: 'Same person already in the pipeline through another lead.',
  COMPETITOR: 'Signed with a competitor before we called.',
  OUT_OF_TERRITORY: 'Outside the area we serve.',
  OTHER: 'See call notes.',
};

export const LOSS_NOTES: Readonly<Record<string, string>> = {
  PRICE: 'Our quote was above their budget.',
  COMPETITOR: 'They chose another supplier.',
  NO_DECISION: 'The customer never decided.',
  PRODUCT_FIT: 'What we offer did not fit their layout.',
  TIMING: 'Project postponed indefinitely.',
  LOST_CONTACT: 'Stopped answering after the quote.',
  OTHER: 'See notes.',
};

export const REOPEN_REASONS = [
  'Customer came back with a new budget',
  'Closed by mistake',
  'The competitor could not deliver on time',
  'New decision maker asked to review the offer',
];

/** Whole units to a decimal string with two places, rounded to a believable step. */
export const money = (units: number, currency: string) => ({
  amount: `${Math.max(50, Math.round(units / 50) * 50)}.00`,
  currency,
});
