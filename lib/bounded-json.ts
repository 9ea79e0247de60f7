/**
 * JSON from a caller, parsed only after its size and nesting depth are known to be within
 * bounds: JSON.parse (and anything built on it) recurses once per level and allocates for the
 * whole text, so a few hundred kilobytes of brackets must be refused by a linear scan first.
 */
import { TufMirrorError, type PublicError } from './errors';

export class BoundedJsonError extends TufMirrorError<'TOO_LARGE' | 'TOO_DEEP' | 'NOT_JSON'> {
  /** A caller sent the body: it is the field at fault, and text that is not JSON is a bad request like any other. */
  override toJSON(): PublicError {
    return { code: this.code === 'NOT_JSON' ? 'BAD_REQUEST' : this.code, field: 'body', message: this.message };
  }
}

export type JsonBounds = { maxBytes: number; maxDepth: number };

/** The deepest nesting of objects and arrays in `text` (strings and escapes skipped), stopping past `limit`. */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/** Parse `input` as JSON once its size and depth are within `bounds`; throws BoundedJsonError otherwise. */
export function parseBoundedJson(input: Buffer | string, bounds: JsonBounds, what = 'body'): unknown {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > bounds.maxBytes) throw new BoundedJsonError('TOO_LARGE', `${what} is ${size} bytes, more than the ${bounds.maxBytes} allowed`);
  const text = typeof input === 'string' ? input : input.toString('utf8');
  if (jsonDepth(text, bounds.maxDepth) > bounds.maxDepth) throw new BoundedJsonError('TOO_DEEP', `${what} nests deeper than ${bounds.maxDepth} levels`);
  try {
    return JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text: say where it is wrong, not what it holds.
    throw new BoundedJsonError('NOT_JSON', `${what} is not JSON`);
  }
}
