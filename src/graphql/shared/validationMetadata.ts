/**
 * class-validator's lookup of a class's rules, remembered.
 *
 * Every mutation's input is validated by class-validator (type-graphql's `validate`), once per
 * object: a capture's input and its person, company and interest. For each object,
 * `MetadataStorage.getTargetValidationMetadatas` tests the object's class against every class that
 * declares rules (an `instanceof` each, for inherited rules: 61 classes here), filters the
 * rules, and `groupByPropertyName` then groups them by property: the same answer every time, since
 * a class's rules, its own and inherited, are all declared when its module loads, before anything
 * can be validated against it. Known upstream (typestack/class-validator#2686, open).
 *
 * So both answers are kept, by class and options, and by the list grouped. A rule declared after
 * a lookup (a class defined later, as a test may) forgets everything kept: the next lookups ask
 * the storage again.
 */
import { getMetadataStorage, type MetadataStorage } from 'class-validator';

type Rules = ReturnType<MetadataStorage['getTargetValidationMetadatas']>;
type RulesByProperty = ReturnType<MetadataStorage['groupByPropertyName']>;

const remembering = new WeakSet<MetadataStorage>();

/**
 * Makes `storage` (class-validator's global one by default) remember its answers; does nothing if
 * it does already. Returns what puts its own methods back (for a bench that compares both).
 */
export const rememberValidationRules = (storage: MetadataStorage = getMetadataStorage()): (() => void) => {
  if (remembering.has(storage)) return () => undefined;
  remembering.add(storage);
  const { getTargetValidationMetadatas, groupByPropertyName, addValidationMetadata } = storage;
  const lookUp = getTargetValidationMetadatas.bind(storage);
  const group = groupByPropertyName.bind(storage);
  const declare = addValidationMetadata.bind(storage);
  let rulesOf = new WeakMap<object, Map<string, Rules>>();
  let grouped = new WeakMap<Rules, RulesByProperty>();

  storage.getTargetValidationMetadatas = (target, schema, always, strictGroups, groups) => {
    let byOptions = rulesOf.get(target);
    if (byOptions === undefined) rulesOf.set(target, (byOptions = new Map()));
    const key = `${schema}\u0000${always}\u0000${strictGroups}\u0000${groups === undefined ? '' : JSON.stringify(groups)}`;
    let rules = byOptions.get(key);
    if (rules === undefined) byOptions.set(key, (rules = lookUp(target, schema, always, strictGroups, groups)));
    return rules;
  };
  storage.groupByPropertyName = (rules) => {
    let byProperty = grouped.get(rules);
    if (byProperty === undefined) grouped.set(rules, (byProperty = group(rules)));
    return byProperty;
  };
  storage.addValidationMetadata = (metadata) => {
    declare(metadata);
    rulesOf = new WeakMap();
    grouped = new WeakMap();
  };
  return () => {
    Object.assign(storage, { getTargetValidationMetadatas, groupByPropertyName, addValidationMetadata });
    remembering.delete(storage);
  };
};
