/**
 * Values shared by every slice of the domain. They live here, below the slices, so that an
 * account's address or an opportunity's amount does not make its slice import the lead's.
 */

/** A decimal amount kept as text, never as a float. */
export interface Money {
  amount: string;
  currency: string;
}

export interface Address {
  street?: string;
  city?: string;
  postalCode?: string;
  region?: string;
  country?: string;
}
