/**
 * cosign: a shell script that writes the newest root to a file and runs
 * `cosign initialize --mirror URL --root FILE --root-checksum SHA256`. The root is in a quoted
 * here-document (no expansion), cut to its exact length by `head -c`, so the file cosign reads is
 * byte for byte the root the mirror verified and it can be reviewed before running; cosign
 * versions that know --root-checksum (2.4 and later) check the file against it too.
 */
import { createHash } from 'node:crypto';
import { describeSource, type TrustMaterial } from './material';
import type { TrustOptions, TrustOutput } from './options';

const DELIMITER = 'TUF_MIRROR_ROOT_JSON';

/** A word for sh: single-quoted unless it is plainly safe. */
export const shellQuote = (s: string): string => (/^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export function cosignScript(m: TrustMaterial, options: TrustOptions): TrustOutput {
  if (!options.mirrorUrl) throw new Error('cosignScript needs a resolved mirrorUrl');
  const text = m.root.bytes.toString('utf8');
  // JSON cannot hold a bare line equal to the delimiter (strings cannot span lines), but check.
  if (text.split('\n').includes(DELIMITER)) throw new Error(`root.json contains the line ${DELIMITER}`);
  const file = `${m.repository}-root-v${m.root.version}.json`;
  const checksum = createHash('sha256').update(m.root.bytes).digest('hex');
  const initialize = `cosign initialize --mirror ${shellQuote(options.mirrorUrl)} --root ${shellQuote(file)}`;
  const script = [
    '#!/bin/sh',
    `# cosign trust root from tuf-mirror: ${describeSource(m)}.`,
    `# Writes root v${m.root.version} to ./${file} and initializes cosign's TUF cache from the mirror.`,
    'set -eu',
    `head -c ${m.root.bytes.length} > ${shellQuote(file)} <<'${DELIMITER}'`,
    text,
    DELIMITER,
    `if cosign initialize --help 2>&1 | grep -q -- --root-checksum; then`,
    `  ${initialize} --root-checksum ${checksum}`,
    'else',
    '  # a cosign older than --root-checksum: the file above holds the verified bytes all the same',
    `  ${initialize}`,
    'fi',
    '',
  ].join('\n');
  const notes = [`--root-checksum ${checksum} (sha256 of root v${m.root.version}, for cosign initialize --root ${file})`];
  return { format: 'cosign', contentType: 'text/x-shellscript; charset=utf-8', body: Buffer.from(script, 'utf8'), notes, warnings: [] };
}
