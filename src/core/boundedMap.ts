/**
 * A Map of at most `capacity` entries: adding a key past it lets the oldest entry go first (in
 * the order keys were first set, as a Map keeps them). For the caches that remember recent
 * things (the key each stream's personal data is sealed under, tokens verified, events just
 * sealed).
 *
 * Why not `map.delete(map.keys().next().value)`, which these caches did before: V8 leaves a
 * deleted entry's slot in its table until the table is rebuilt, and a new iterator starts at the
 * first slot, so each eviction walked every slot emptied since the last rebuild. A full cache of
 * 200,000 streams paid 69 us an eviction, 4,096 events 1.6 us (`npm run bench:bounded-maps`).
 * Here one iterator is kept: it stands on the oldest live entry, and steps over each slot once.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  /** At the oldest entry: every entry before it has been let go. */
  private oldest: Iterator<K> | undefined;

  constructor(readonly capacity: number) {
    super();
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`A BoundedMap holds at least one entry, not ${capacity}`);
  }

  override set(key: K, value: V): this {
    if (this.size >= this.capacity && !this.has(key)) this.evictOldest();
    return super.set(key, value);
  }

  private evictOldest(): void {
    this.oldest ??= this.keys();
    let next = this.oldest.next();
    // Run past its end (every entry it passed let go, or the map cleared meanwhile): start again.
    if (next.done === true) {
      this.oldest = this.keys();
      next = this.oldest.next();
    }
    if (next.done !== true) this.delete(next.value);
  }
}
