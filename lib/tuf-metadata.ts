/**
 * TUF metadata bytes read with @tufjs/models, for every reader outside the sync (which verifies
 * through tuf-js itself). Reading here checks shape only, never signatures: callers read what a
 * sync already verified, or use the version alone (publish's no-rollback check).
 */
import { Metadata, MetadataKind, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
// Not re-exported from the package index.
import type { JSONObject } from '@tufjs/models/dist/utils';
import { TufMirrorError } from './errors';

export class MetadataError extends TufMirrorError<'MALFORMED_METADATA'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MALFORMED_METADATA', message, options);
  }
}

/** JSON.parse only yields JSON values, so a plain object from it is a JSONObject. */
const isJsonObject = (value: unknown): value is JSONObject => typeof value === 'object' && value !== null && !Array.isArray(value);

const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function parse<T>(bytes: Buffer | string, what: string, kind: MetadataKind, read: (json: JSONObject) => T): T {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString());
  } catch (err) {
    throw new MetadataError(`${what} is not JSON: ${reason(err)}`, { cause: err });
  }
  if (!isJsonObject(json)) throw new MetadataError(`${what} is not a JSON object`);
  try {
    return read(json);
  } catch (err) {
    throw new MetadataError(`${what} is not TUF ${kind} metadata: ${reason(err)}`, { cause: err });
  }
}

export const parseRoot = (bytes: Buffer | string, what = 'root.json'): Metadata<Root> => parse(bytes, what, MetadataKind.Root, (json) => Metadata.fromJSON(MetadataKind.Root, json));

export const parseTimestamp = (bytes: Buffer | string, what = 'timestamp.json'): Metadata<Timestamp> =>
  parse(bytes, what, MetadataKind.Timestamp, (json) => Metadata.fromJSON(MetadataKind.Timestamp, json));

export const parseSnapshot = (bytes: Buffer | string, what = 'snapshot.json'): Metadata<Snapshot> =>
  parse(bytes, what, MetadataKind.Snapshot, (json) => Metadata.fromJSON(MetadataKind.Snapshot, json));

export const parseTargets = (bytes: Buffer | string, what = 'targets.json'): Metadata<Targets> => parse(bytes, what, MetadataKind.Targets, (json) => Metadata.fromJSON(MetadataKind.Targets, json));
