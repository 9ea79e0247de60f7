/**
 * What `tuf-mirror refresh-cluster` reports back to the mirror after each run: per output, the
 * object it manages, what the mirror served it and what the cluster holds now. The one parser of
 * that report: the job builds it, the mirror's API reads it, the store keeps it, the watch judges it.
 */
import { z } from 'zod';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 (64 hex digits)');
const time = z.iso.datetime({ offset: true });
// Kubernetes names and kinds: what the job may touch, nothing that could smuggle markup into a status page.
const name = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
  .max(253);

export const OUTCOMES = ['applied', 'unchanged', 'waiting', 'failed', 'refused'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** What one side holds, as the tuf-mirror.dev annotations and headers say it. */
const holding = z.strictObject({
  contentSha256: sha256,
  generation: z.number().int().nonnegative().optional(),
  rootVersion: z.number().int().nonnegative().optional(),
  timestampVersion: z.number().int().nonnegative().optional(),
  expires: time.optional(),
});

export const outputReportSchema = z.strictObject({
  /** The trustroot format and the query it was fetched with (format=…&name=…). */
  format: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/)
    .max(64),
  query: z.string().max(4096),
  object: z.strictObject({
    apiVersion: z
      .string()
      .regex(/^([a-z0-9.-]+\/)?v[0-9a-z]+$/)
      .max(128),
    kind: z
      .string()
      .regex(/^[A-Z][A-Za-z0-9]*$/)
      .max(64),
    namespace: name.max(63).optional(),
    name,
  }),
  outcome: z.enum(OUTCOMES),
  message: z.string().max(2048).optional(),
  /** What the mirror served this run (absent when it could not be fetched). */
  mirror: holding.optional(),
  /** What the cluster holds after the run (absent when the object does not exist or could not be read). */
  cluster: holding.optional(),
});

export const clusterReportSchema = z.strictObject({
  /** Names the cluster (the job's `cluster:`), as reports from several clusters reach one mirror. */
  cluster: name.max(63),
  /** When the run finished, by the job's clock (the mirror keeps its own receive time too). */
  at: time,
  outputs: z.array(outputReportSchema).max(256),
});

export type HoldingReport = z.output<typeof holding>;
export type OutputReport = z.output<typeof outputReportSchema>;
export type ClusterReport = z.output<typeof clusterReportSchema>;

/** `TrustRoot tuf-mirror-sigstore`, `ConfigMap kubewarden/tuf-mirror-sigstore-trust-config`. */
export const objectKey = (o: OutputReport['object']): string => `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name}`;

/** The cluster holds exactly what the mirror served on this run. */
export const inSync = (o: OutputReport): boolean => (o.outcome === 'applied' || o.outcome === 'unchanged') && !!o.cluster && o.cluster.contentSha256 === o.mirror?.contentSha256;
