import { describe, expect, it } from 'vitest';
import { isFreeMailDomain, normalizeDomain, normalizeEmail, normalizeName, sameName, searchKey } from './normalize';

describe('normalizeName', () => {
  it('matches names that differ in apostrophes, accents, case, spacing and legal form', () => {
    const spellings = [
      "L'Òptica Puig, S.L.",
      'l optica puig',
      'LOptica Puig',
      'L’ÒPTICA PUIG SL',
      'L`optica   Puig S. L.',
      "l'optica-puig, s.l.u.",
      'L Optica Puig SA',
    ];
    for (const spelling of spellings) expect(normalizeName(spelling), spelling).toBe('lopticapuig');
  });

  it('folds accents and letters without a decomposition', () => {
    expect(normalizeName('Ferretería Núñez')).toBe(normalizeName('FERRETERIA NUNEZ'));
    expect(normalizeName('Çà Ïl Ëst')).toBe('cailest');
    expect(normalizeName('Straße Bäckerei GmbH')).toBe('strassebackerei');
    expect(normalizeName('Søren & Æbleskiver ApS')).toBe('sorenaebleskiver');
    expect(normalizeName('Łódź Trading')).toBe('lodztrading');
  });

  it('drops stacked legal forms from the end only', () => {
    expect(normalizeName('Acme Widgets Inc.')).toBe('acmewidgets');
    expect(normalizeName('Acme Widgets, Ltd')).toBe('acmewidgets');
    expect(normalizeName('Acme Widgets L.L.C.')).toBe('acmewidgets');
    expect(normalizeName('Müller GmbH & Co. KG')).toBe('muller');
    expect(normalizeName('Cooperativa Verd S. Coop.')).toBe('cooperativaverd');
    expect(normalizeName('SA Distribucions')).toBe('sadistribucions');
  });

  it('keeps a name that is only a legal form, and joins only initials into one', () => {
    expect(normalizeName('S.A.')).toBe('sa');
    expect(normalizeName('Inc')).toBe('inc');
    // Only initials spell a legal form across words: "Co Rp" is no "Corp".
    expect(normalizeName('Bar Co Rp')).toBe('barcorp');
    expect(normalizeName('Can Sal')).toBe('cansal');
  });

  it('keeps digits and scripts other than Latin', () => {
    expect(normalizeName('3M España')).toBe('3mespana');
    expect(normalizeName('Ромашка ООО')).toBe('ромашкаооо');
  });

  it('is empty when there is nothing to compare', () => {
    expect(normalizeName('')).toBe('');
    expect(normalizeName(" - ' . ")).toBe('');
  });

  it('tells different companies apart', () => {
    expect(sameName('Botiga Puig', 'Botiga Pujol')).toBe(false);
    expect(sameName('Acme', 'Acme Holdings')).toBe(false);
    expect(sameName('Optica Puig', 'Optica Puig 2')).toBe(false);
    expect(sameName('', '')).toBe(false);
    expect(sameName("L'Òptica Puig, S.L.", 'loptica puig')).toBe(true);
  });
});

describe('normalizeDomain', () => {
  it('takes the host of a website, without scheme, www, port, path or case', () => {
    expect(normalizeDomain('https://www.Botiga-Puig.example/contact')).toBe('botiga-puig.example');
    expect(normalizeDomain('botiga-puig.example')).toBe('botiga-puig.example');
    expect(normalizeDomain('  WWW.botiga-puig.example.  ')).toBe('botiga-puig.example');
    expect(normalizeDomain('http://botiga-puig.example:8080/?q=1#top')).toBe('botiga-puig.example');
    expect(normalizeDomain('https://shop.botiga-puig.example')).toBe('shop.botiga-puig.example');
  });

  it('takes the domain of an e-mail address', () => {
    expect(normalizeDomain('marta@botiga-puig.example')).toBe('botiga-puig.example');
    expect(normalizeDomain('Marta.Puig@BOTIGA-PUIG.example')).toBe('botiga-puig.example');
    expect(normalizeDomain('mailto:marta@botiga-puig.example')).toBe('botiga-puig.example');
  });

  it('encodes international domains the same way whatever the input', () => {
    expect(normalizeDomain('https://www.ferretería.example')).toBe(normalizeDomain('jordi@FERRETERÍA.example'));
    expect(normalizeDomain('ferretería.example')).toMatch(/^xn--/);
  });

  it('gives no company domain for free-mail providers', () => {
    for (const address of [
      'marta@gmail.com',
      'marta@googlemail.com',
      'marta@hotmail.com',
      'marta@hotmail.es',
      'marta@outlook.com',
      'marta@yahoo.com',
      'marta@yahoo.es',
      'marta@yahoo.co.uk',
      'marta@icloud.com',
      'marta@telefonica.net',
      'https://mail.yahoo.com',
    ]) {
      expect(normalizeDomain(address), address).toBeUndefined();
    }
    expect(isFreeMailDomain('GMAIL.com')).toBe(true);
    expect(isFreeMailDomain('gmail-partners.example')).toBe(false);
    expect(isFreeMailDomain('yahoo-shop.example')).toBe(false);
  });

  it('gives no company domain for pages on sites shared by many businesses', () => {
    expect(normalizeDomain('https://www.facebook.com/botigapuig')).toBeUndefined();
    expect(normalizeDomain('https://m.facebook.com/opticapuig')).toBeUndefined();
    expect(normalizeDomain('instagram.com/botiga.puig')).toBeUndefined();
    expect(normalizeDomain('https://www.linkedin.com/company/botiga-puig')).toBeUndefined();
    expect(normalizeDomain('https://botiga-puig.example/facebook.com')).toBe('botiga-puig.example');
  });

  it('gives nothing for what is no host name', () => {
    for (const text of ['', '   ', 'localhost', 'not a website', 'http://', '192.168.1.10', 'marta@', '@']) {
      expect(normalizeDomain(text), text).toBeUndefined();
    }
  });
});

describe('normalizeEmail', () => {
  it('ignores case and surrounding spaces', () => {
    expect(normalizeEmail('  Marta.Puig@Botiga-Puig.EXAMPLE ')).toBe('marta.puig@botiga-puig.example');
  });

  it('keeps plus tags and dots: they may name different people', () => {
    expect(normalizeEmail('marta+crm@botiga.example')).not.toBe(normalizeEmail('marta@botiga.example'));
    expect(normalizeEmail('m.puig@botiga.example')).not.toBe(normalizeEmail('mpuig@botiga.example'));
  });

  it('is undefined for what is no address', () => {
    expect(normalizeEmail('marta')).toBeUndefined();
    expect(normalizeEmail('marta@botiga')).toBeUndefined();
    expect(normalizeEmail('marta puig@botiga.example')).toBeUndefined();
  });
});

describe('searchKey', () => {
  it('folds case and accents and collapses spaces, keeping punctuation', () => {
    expect(searchKey("  L'Òptica   PUIG ")).toBe("l'optica puig");
  });
});
