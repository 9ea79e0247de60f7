/**
 * An environment variable, with one set to the empty string counting as unset: a Helm value or a
 * shell line that leaves it blank (`TOKEN= cmd`) means "not given", never "given as ''".
 */
export function envValue(name: string): string | undefined {
  const value = process.env[name];
  return value === '' ? undefined : value;
}
