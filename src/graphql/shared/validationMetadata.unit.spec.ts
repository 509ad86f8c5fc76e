import 'reflect-metadata';
import { getMetadataStorage, IsEmail, IsNotEmpty, MaxLength, validate } from 'class-validator';
import { afterEach, describe, expect, it } from 'vitest';
import { rememberValidationRules } from './validationMetadata';

class Base {
  @IsNotEmpty({ groups: ['strict'] })
  @MaxLength(5)
  name!: string;
}

class Child extends Base {
  @MaxLength(3)
  code!: string;

  contact?: string;
}

const child = (fields: Partial<Child>): Child => Object.assign(new Child(), { name: 'ok', code: 'abc' }, fields);

/** The constraints a validation names, by property. */
const refused = async (object: object, groups?: string[]) =>
  Object.fromEntries((await validate(object, { forbidUnknownValues: false, groups })).map((error) => [error.property, Object.keys(error.constraints ?? {}).sort()]));

const OPTIONS: Array<[string, boolean, boolean, string[] | undefined]> = [
  ['no groups', false, false, undefined],
  ['a group', false, false, ['strict']],
  ['always', true, false, undefined],
  ['strict groups', false, true, []],
];

describe('class-validator with its rules remembered', () => {
  let forget: (() => void) | undefined;
  afterEach(() => {
    forget?.();
    forget = undefined;
  });

  it.each(OPTIONS)('looks up, with %s, the rules the storage itself gives, inherited ones included, and gives the same list again', (_name, always, strictGroups, groups) => {
    const storage = getMetadataStorage();
    const own = storage.getTargetValidationMetadatas(Child, '', always, strictGroups, groups);
    const ownGrouped = storage.groupByPropertyName(own);
    forget = rememberValidationRules();
    const remembered = storage.getTargetValidationMetadatas(Child, '', always, strictGroups, groups);
    expect(remembered).toEqual(own);
    expect(storage.groupByPropertyName(remembered)).toEqual(ownGrouped);
    expect(storage.getTargetValidationMetadatas(Child, '', always, strictGroups, groups)).toBe(remembered);
    expect(storage.groupByPropertyName(remembered)).toBe(storage.groupByPropertyName(remembered));
  });

  it('refuses what class-validator refused, by the inherited and the own rules, in and out of groups', async () => {
    const cases: Array<[Child, string[] | undefined]> = [
      [child({}), undefined],
      [child({ name: 'too long' }), undefined],
      [child({ code: 'four' }), undefined],
      [child({ name: '' }), ['strict']],
      [child({ name: '' }), undefined],
    ];
    const before = await Promise.all(cases.map(([object, groups]) => refused(object, groups)));
    expect(before).toEqual([{}, { name: ['maxLength'] }, { code: ['maxLength'] }, { name: ['isNotEmpty'] }, { name: ['isNotEmpty'] }]);
    forget = rememberValidationRules();
    for (let ask = 0; ask < 2; ask++) {
      expect(await Promise.all(cases.map(([object, groups]) => refused(object, groups)))).toEqual(before);
    }
  });

  it('takes in a rule declared after a lookup', async () => {
    forget = rememberValidationRules();
    expect(await refused(child({ contact: 'not an address' }))).toEqual({});
    // Declared now, on a class looked up already (a decorator applied by hand, as a module loaded later may).
    IsEmail()(Child.prototype, 'contact');
    expect(await refused(child({ contact: 'not an address' }))).toEqual({ contact: ['isEmail'] });
    expect(await refused(child({ contact: 'ana@example.com' }))).toEqual({});
  });

  it('puts class-validator\'s own lookup back when asked', () => {
    const storage = getMetadataStorage();
    const restore = rememberValidationRules();
    const remembered = storage.getTargetValidationMetadatas(Child, '', false, false);
    restore();
    expect(storage.getTargetValidationMetadatas(Child, '', false, false)).not.toBe(remembered);
    expect(storage.getTargetValidationMetadatas(Child, '', false, false)).toEqual(remembered);
  });
});
