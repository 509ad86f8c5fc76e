
export interface Reason {
  code: string;
  label: string;
}

/** A configurable list of reason codes: why leads are disqualified, why deals are lost. */
export class ReasonCatalog {
  private readonly byCode: Map<string, Reason>;

  constructor(readonly reasons: readonly Reason[]) {
    this.byCode = new Map(reasons.map((reason) => [reason.code, reason]));
  }

  has(code: string): boolean {
    return this.byCode.has(code);
  }

  label(code: string): string | undefined {
    return this.byCode.get(code)?.label;
  }

  codes(): string[] {
    return [...this.byCode.keys()];
  }
}

export const DEFAULT_DISQUALIFICATION_REASONS: readonly Reason[] = [
  { code: 'NO_NEED', label: 'No need for what we offer' },
  { code: 'NO_BUDGET', label: 'No budget' },
  { code: 'NO_AUTHORITY', label: 'No decision maker reachable' },
  { code: 'BAD_TIMING', label: 'Not the right time' },
  { code: 'UNREACHABLE', label: 'Could not be reached' },
  { code: 'INVALID_DATA', label: 'Invalid or fake contact data' },
  { code: 'DUPLICATE', label: 'Duplicate of another lead' },
  { code: 'COMPETITOR', label: 'Already committed to a competitor' },
  { code: 'OUT_OF_TERRITORY', label: 'Outside our market or territory' },
  { code: 'OTHER', label: 'Other (see notes)' },
];

export const DEFAULT_LOSS_REASONS: readonly Reason[] = [
  { code: 'PRICE', label: 'Price too high' },
  { code: 'COMPETITOR', label: 'Chose a competitor' },
  { code: 'NO_DECISION', label: 'No decision made' },
  { code: 'PRODUCT_FIT', label: 'Product did not fit the need' },
  { code: 'TIMING', label: 'Project postponed or cancelled' },
  { code: 'LOST_CONTACT', label: 'Lost contact with the customer' },
  { code: 'OTHER', label: 'Other (see notes)' },
];

export interface ReasonCatalogs {
  disqualificationReasons: ReasonCatalog;
  lossReasons: ReasonCatalog;
}

/**
 * The catalogs of a parsed CRM_REASONS_FILE, `{ "disqualificationReasons": [{code,label}],
 * "lossReasons": [...] }`, each defaulting to the built-in one; no file at all gives both defaults.
 * Codes already recorded in events stay readable even if later removed from the file.
 */
export const parseReasonCatalogs = (parsed?: Partial<Record<keyof ReasonCatalogs, Reason[]>>): ReasonCatalogs => {
  const read = (key: keyof ReasonCatalogs, fallback: readonly Reason[]): ReasonCatalog => {
    const list = parsed?.[key] ?? fallback;
    if (!Array.isArray(list) || list.some((r) => typeof r?.code !== 'string' || typeof r?.label !== 'string')) {
      throw new Error(`CRM_REASONS_FILE: ${key} must be a list of { code, label } strings`);
    }
    return new ReasonCatalog(list);
  };
  return {
    disqualificationReasons: read('disqualificationReasons', DEFAULT_DISQUALIFICATION_REASONS),
    lossReasons: read('lossReasons', DEFAULT_LOSS_REASONS),
  };
};
