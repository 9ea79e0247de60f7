/**
 * policy-controller `TrustRoot` resources (policy.sigstore.dev/v1alpha1, cluster-scoped), in its
 * three shapes: `remote` (a root and this mirror's URL), `repository` (a root and the repository
 * itself, for clusters that cannot reach the mirror either) and `sigstoreKeys` (the keys alone).
 * Byte fields (root, mirrorFS, certChain, publicKey) are Go []byte: base64 in YAML.
 */
import { createHash } from 'node:crypto';
import { humanDuration } from '../lib/duration';
import { ANNOTATION, checkObjectName, objectMetadata, renderYaml, sizeWarnings, validityAnnotation, validityComment } from './k8s';
import { describeSource, readTrustedRoot, requireTarget, type TrustMaterial } from './material';
import { archiveMembers, buildMirrorArchive } from './mirror-fs';
import { DEFAULT_TRUSTED_ROOT_TARGET, type TrustOptions, type TrustOutput } from './options';
import { sigstoreKeysFrom, nonEcdsaTlogs, logKeyType } from './sigstore-keys';
import { entriesValidity, tufValidity } from './validity';

const API_VERSION = 'policy.sigstore.dev/v1alpha1';
const YAML_TYPE = 'application/yaml; charset=utf-8';

export const defaultTrustRootName = (m: Pick<TrustMaterial, 'repository'>): string => `tuf-mirror-${m.repository}`;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * The trusted_root.json the controller reads through this TrustRoot, by its sha256. policy-controller
 * re-reads trust material only when it reconciles the TrustRoot; a new trusted_root.json changes this
 * annotation, so applying the TrustRoot again is the touch that makes it reconcile (and nothing
 * changes while the file does not).
 */
function trustedRootAnnotation(m: TrustMaterial, options: TrustOptions): Record<string, string> {
  const target = m.targetFiles.find((t) => t.name === (options.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET));
  return target ? { [`${ANNOTATION}/trusted-root-sha256`]: sha256(target.bytes) } : {};
}

const b64 = (b: Buffer): string => b.toString('base64');

function trustRootDocument(m: TrustMaterial, format: string, options: TrustOptions, spec: Record<string, unknown>, extra: Record<string, string> = {}) {
  const name = checkObjectName(options.name ?? defaultTrustRootName(m));
  return {
    apiVersion: API_VERSION,
    kind: 'TrustRoot',
    metadata: objectMetadata(m, format, name, extra),
    spec,
  };
}

function header(m: TrustMaterial, what: string): string[] {
  return [`policy-controller TrustRoot (${what}) from tuf-mirror: ${describeSource(m)}.`, 'Cluster-scoped. Apply: kubectl apply --server-side -f <this file>'];
}

/**
 * trusted_root.json names logs whose key policy-controller refuses (its reconciler, as of main on
 * 2026-08-18, fails a TrustRoot with any non-ECDSA Rekor key, whatever its source); remote and
 * repository hand over the signed file as it is, so the operator can only be told.
 */
function ecdsaWarnings(m: TrustMaterial, trustedRootTarget: string): string[] {
  const target = m.targetFiles.find((t) => t.name === trustedRootTarget);
  if (!target) return [`repository has no ${trustedRootTarget} target: policy-controller will find no trust material in it`];
  let tlogs;
  try {
    tlogs = nonEcdsaTlogs(readTrustedRoot(target));
  } catch (err) {
    return [`${trustedRootTarget}: ${(err as Error).message}`];
  }
  return tlogs.map(
    (l) =>
      `${trustedRootTarget} lists the Rekor log ${l.baseUrl} with a key of type ${logKeyType(l)}: policy-controller's TrustRoot reconciler rejects non-ECDSA Rekor keys ("public key N is not ecdsa.PublicKey"), so this TrustRoot will not become Ready; --format sigstore-keys leaves such logs out`,
  );
}

function withTrustedRootTarget(spec: Record<string, unknown>, options: TrustOptions): Record<string, unknown> {
  // Defaults ('targets', 'trusted_root.json') are left out, as the controller fills them in.
  const target = options.trustedRootTarget;
  return target && target !== DEFAULT_TRUSTED_ROOT_TARGET ? { ...spec, trustedRootTarget: target } : spec;
}

function output(format: string, yaml: string, notes: string[], warnings: string[], what: string): TrustOutput {
  const body = Buffer.from(yaml, 'utf8');
  return { format, contentType: YAML_TYPE, body, notes, warnings: [...warnings, ...sizeWarnings(body.length, what)] };
}

/** `spec.remote`: the newest root and the mirror URL; the controller keeps itself up to date. */
export function remoteTrustRoot(m: TrustMaterial, options: TrustOptions): TrustOutput {
  if (!options.mirrorUrl) throw new Error('remoteTrustRoot needs a resolved mirrorUrl');
  const spec = { remote: withTrustedRootTarget({ mirror: options.mirrorUrl, root: b64(m.root.bytes) }, options) };
  const doc = trustRootDocument(m, 'remote', options, spec, trustedRootAnnotation(m, options));
  const yaml = renderYaml(doc, header(m, `remote ${options.mirrorUrl}`));
  return output('remote', yaml, [], ecdsaWarnings(m, options.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET), 'the TrustRoot');
}

/** `spec.repository`: the newest root and the repository itself as a gzip'd tar (see mirror-fs.ts). */
export function repositoryTrustRoot(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const trustedRootTarget = options.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET;
  const members = archiveMembers(m, options.targets);
  const archive = buildMirrorArchive(members);
  // When the archive stops working: the supplied root included (the archive holds no newer one).
  const validity = tufValidity(m);
  const spec = { repository: withTrustedRootTarget({ root: b64(m.root.bytes), mirrorFS: b64(archive.gzip) }, options) };
  const doc = trustRootDocument(m, 'repository', options, spec, { ...validityAnnotation(validity), ...trustedRootAnnotation(m, options) });
  const yaml = renderYaml(doc, [
    ...header(m, 'repository, for clusters without network access to the mirror'),
    `It stops working when ${validity.what} expires, ${validity.expires}: re-generate and re-apply before.`,
  ]);

  const targetCount = new Set(members.filter((x) => x.path.startsWith('repository/targets/')).map((x) => x.path)).size;
  const notes = [
    `mirrorFS archive: ${members.length} files (${targetCount} target files), tar ${archive.tarBytes} bytes, gzip ${archive.gzip.length} bytes, base64 ${b64(archive.gzip).length} bytes; TrustRoot ${Buffer.byteLength(yaml)} bytes`,
    `the archive stops working when ${validity.what} expires, ${validity.expires}`,
  ];
  const warnings = ecdsaWarnings(m, trustedRootTarget);
  if (options.targets && !options.targets.includes(trustedRootTarget)) {
    // Not an error: without it policy-controller falls back to the targets' custom "sigstore" usage metadata.
    warnings.push(`--targets leaves out ${trustedRootTarget}: policy-controller reads its trust material from it first`);
  }
  const left = m.targetFiles.filter((t) => options.targets && !options.targets.includes(t.name)).map((t) => t.name);
  if (left.length) warnings.push(`left out of the archive (--targets): ${left.join(', ')}`);
  const now = options.now ?? Date.now();
  const leftMs = Date.parse(validity.expires) - now;
  if (leftMs <= 0) warnings.push(`${validity.what} expired ${validity.expires}: policy-controller will refuse this archive; sync, then re-generate`);
  else if (leftMs < 7 * 86400_000) {
    warnings.push(`${validity.what} in the archive expires ${validity.expires} (in ${humanDuration(Math.floor(leftMs / 1000))}): re-generate and re-apply before then, e.g. from a CronJob`);
  }
  const out = output('repository', yaml, notes, warnings, 'the TrustRoot');
  return { ...out, archiveBytes: archive.gzip.length, validity };
}

/** `spec.sigstoreKeys`: the keys and certificates of trusted_root.json that are valid now. */
export function sigstoreKeysTrustRoot(m: TrustMaterial, options: TrustOptions): TrustOutput {
  const target = requireTarget(m, options.trustedRootTarget ?? DEFAULT_TRUSTED_ROOT_TARGET);
  const { keys, leftOut, entries } = sigstoreKeysFrom(readTrustedRoot(target), options.now ?? Date.now(), options.all === true);
  // The CRD has no validity windows: the first embedded key or certificate to end bounds the whole.
  const validity = entriesValidity(entries.filter((e) => !e.validFor.end || Date.parse(e.validFor.end) > (options.now ?? Date.now())));
  const doc = trustRootDocument(m, 'sigstore-keys', options, { sigstoreKeys: keys }, { [`${ANNOTATION}/trusted-root-sha256`]: sha256(target.bytes), ...validityAnnotation(validity) });
  const yaml = renderYaml(doc, [
    ...header(m, `sigstoreKeys from ${target.name}`),
    'Static: it does not follow key rotations. Re-generate after the mirror syncs a new trusted root.',
    ...validityComment(validity),
  ]);
  const counts = Object.entries(keys)
    .map(([k, v]) => `${(v as unknown[]).length} ${k}`)
    .join(', ');
  return {
    ...output(
      'sigstore-keys',
      yaml,
      [`sigstoreKeys: ${counts}`],
      leftOut.map((l) => `left out: ${l}`),
      'the TrustRoot',
    ),
    ...(validity ? { validity } : {}),
  };
}
