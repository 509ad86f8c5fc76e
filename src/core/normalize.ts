/**
 * Comparison keys for duplicate detection and search. Each key is for comparing, never for
 * display: two names, domains or e-mails are "the same" when their keys are equal. Read models
 * store these keys, so changing a rule means bumping the version of the projections that use it.
 */

/** Letters NFD does not decompose into a base letter plus marks. */
const FOLDED_LETTERS: Record<string, string> = { ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', ł: 'l', đ: 'd', ð: 'd', þ: 'th' };

/** Lower case, without accents: "Òptica" and "optica" fold alike. */
const fold = (text: string): string =>
  text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[ßæœøłđðþ]/g, (letter) => FOLDED_LETTERS[letter] ?? letter);

/** For LIKE searches: case- and accent-insensitive, whitespace collapsed, punctuation kept. */
export const searchKey = (text: string): string => fold(text).replace(/\s+/g, ' ').trim();

/**
 * Legal forms that say nothing about which company it is ("Puig, S.L." is "Puig"), written as
 * their letters once dots and spaces are gone: "S.L.", "S. L." and "SL" all become "sl".
 */
const LEGAL_SUFFIXES = new Set([
  // Spain, Portugal, Latin America
  'sl', 'slu', 'sll', 'slne', 'sa', 'sau', 'sc', 'scp', 'scoop', 'sccl', 'cb', 'lda', 'ltda',
  // English-speaking countries
  'inc', 'incorporated', 'corp', 'corporation', 'co', 'company', 'ltd', 'limited', 'llc', 'llp', 'lp', 'plc', 'pty',
  // The rest of Europe
  'gmbh', 'ag', 'kg', 'ug', 'bv', 'nv', 'sarl', 'sas', 'sasu', 'eurl', 'srl', 'spa', 'sprl', 'oy', 'ab', 'aps',
]);

/**
 * The key two account names are compared by: the name's letters and digits, folded to lower
 * case without accents, with every space, apostrophe and punctuation mark gone, and trailing
 * legal forms dropped. So "L'Òptica Puig, S.L.", "l optica puig" and "LOptica Puig" share the
 * key "lopticapuig". Dropping the spaces too is deliberate: clients split words at apostrophes
 * inconsistently, and a false suspicion costs one click (`allowDuplicate`), a missed one a
 * duplicate account. Empty when the name has no letter or digit.
 */
export const normalizeName = (name: string): string => {
  const words = fold(name)
    .replace(/['’`´ʼ]/g, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
  let suffixLength = legalSuffixLength(words);
  // A name that is nothing but a legal form ("SA") keeps it: an empty key would match nothing.
  while (suffixLength > 0 && suffixLength < words.length) {
    words.splice(words.length - suffixLength);
    suffixLength = legalSuffixLength(words);
  }
  return words.join('');
};

/** How many trailing words form one legal suffix: "s l u" (dotted initials) is three. */
const legalSuffixLength = (words: readonly string[]): number => {
  for (let length = Math.min(3, words.length); length >= 1; length--) {
    const tail = words.slice(words.length - length);
    // Only initials join up ("S. Coop.", "L.L.C."), so "Puig Sa" is not read as "puigsa".
    const initials = tail.slice(0, -1).every((word) => word.length === 1);
    if (initials && LEGAL_SUFFIXES.has(tail.join(''))) return length;
  }
  return 0;
};

/** Whether two account names should be suspected of naming the same company. */
export const sameName = (a: string, b: string): boolean => {
  const key = normalizeName(a);
  return key !== '' && key === normalizeName(b);
};

/** Providers whose addresses anyone can get: their domain says nothing about an employer. */
const FREE_MAIL_DOMAINS = new Set([
  'gmail.com', 'googlemail.com', 'icloud.com', 'me.com', 'mac.com', 'aol.com', 'mail.com', 'gmx.net',
  'web.de', 'proton.me', 'protonmail.com', 'pm.me', 'tutanota.com', 'fastmail.com', 'zoho.com', 'mail.ru',
  'qq.com', '163.com', '126.com', 'telefonica.net', 'movistar.es', 'orange.fr', 'wanadoo.fr', 'free.fr',
  'laposte.net', 'libero.it', 't-online.de', 'btinternet.com',
]);
/** Free-mail brands with a domain per country: yahoo.es, hotmail.co.uk, outlook.fr... */
const FREE_MAIL_BRANDS = new Set(['gmail', 'hotmail', 'outlook', 'live', 'msn', 'yahoo', 'ymail', 'gmx', 'yandex']);
/** Sites where a business without its own website has a page: facebook.com/botigapuig is no domain of its own. */
const SHARED_SITES = new Set([
  'facebook.com', 'fb.com', 'instagram.com', 'linkedin.com', 'twitter.com', 'x.com', 'tiktok.com', 'youtube.com',
  'linktr.ee', 'google.com', 'goo.gl', 'wa.me', 'whatsapp.com', 'pinterest.com', 'tripadvisor.com', 'yelp.com',
]);

/**
 * The company domain of a website or an e-mail address: "https://www.Botiga-Puig.example/contact"
 * and "marta@botiga-puig.example" both give "botiga-puig.example". Undefined when there is none:
 * not a host name, a free-mail provider (gmail.com, hotmail.es, yahoo.co.uk...), or a site where
 * many businesses have a page (facebook.com, instagram.com, linkedin.com...). Only "www."
 * is dropped, not other subdomains: without the public suffix list, reducing
 * "shop.botiga.example" to "botiga.example" would also merge "anna.wixsite.com" and
 * "pere.wixsite.com", two unrelated businesses.
 */
export const normalizeDomain = (websiteOrEmail: string): string | undefined => {
  const text = websiteOrEmail.trim().replace(/^mailto:/i, '');
  const at = text.lastIndexOf('@');
  const host = hostOf(at >= 0 && !text.includes('/') ? text.slice(at + 1) : text);
  if (host === undefined || isFreeMailDomain(host) || SHARED_SITES.has(registrableLabels(host).join('.'))) {
    return undefined;
  }
  return host;
};

const hostOf = (text: string): string | undefined => {
  if (text === '' || /\s/.test(text)) return undefined;
  let hostname: string;
  try {
    // URL lower-cases, drops port, path and credentials, and encodes international names.
    hostname = new URL(/^[a-z][a-z\d+.-]*:\/\//i.test(text) ? text : `http://${text}`).hostname;
  } catch {
    return undefined;
  }
  const host = hostname.replace(/\.$/, '').replace(/^www\d*\./, '');
  const labels = host.split('.');
  const isHostName = labels.length >= 2 && labels.every((label) => /^[a-z\d-]+$/.test(label));
  return isHostName && !/^\d+$/.test(labels.at(-1)!) ? host : undefined;
};

export const isFreeMailDomain = (domain: string): boolean => {
  const registrable = registrableLabels(domain.toLowerCase());
  return FREE_MAIL_DOMAINS.has(registrable.join('.')) || FREE_MAIL_BRANDS.has(registrable[0]!);
};

/** "mail.yahoo.co.uk" → yahoo, co, uk: a guess without the public suffix list, good for known brands. */
const registrableLabels = (host: string): string[] => {
  const labels = host.split('.');
  const countrySecondLevel =
    labels.length >= 3 && labels.at(-1)!.length === 2 && ['co', 'com', 'net', 'org'].includes(labels.at(-2)!);
  return labels.slice(countrySecondLevel ? -3 : -2);
};

/**
 * The key two e-mail addresses are compared by: trimmed and lower-cased. Plus tags and dots in
 * the local part are kept: only some providers ignore them, so treating them as one person
 * would merge people. Undefined when it is not an address.
 */
export const normalizeEmail = (email: string): string | undefined => {
  const text = email.trim().replace(/^mailto:/i, '').toLowerCase();
  return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text) ? text : undefined;
};
