/**
 * What `record` holds under `key` as its own property, or undefined. Records parsed from outside
 * (signed metadata, an archive's manifest) are typed as holding every key, but a hostile one names
 * what it likes, and a plain index would answer `constructor` or `toString` from Object.prototype.
 */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
