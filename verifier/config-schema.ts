import { z } from 'zod';
import { parsePolicy, PolicyError } from './policy';

/**
 * The `verifier:` section of the configuration (registered in config/config.ts). Relative file
 * paths (ca, dockerConfig, policyFile) are relative to the configuration file's folder.
 */

const hostPort = z
  .string()
  .regex(/^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:]+\])(?::\d{1,5})?$/, 'must be host or host:port (lowercase, no scheme or path)');

const registry = z.strictObject({
  /** As in image references: `registry.local:5000`, `ghcr.io`; `docker.io` for Docker Hub. */
  host: hostPort,
  /** Plain HTTP (only for registries on a trusted network). */
  insecure: z.boolean().default(false),
  username: z.string().optional(),
  password: z.string().optional(),
  /** PEM file of CA certificates for this registry, added to the system ones. */
  ca: z.string().optional(),
});

const policyValue = z.unknown().superRefine((value, ctx) => {
  if (value === undefined) return;
  try {
    parsePolicy(value);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    for (const issue of err.issues) ctx.addIssue({ code: 'custom', message: issue.replace(/^policy\.?/, '') || issue });
  }
});

const admissionPolicy = z
  .strictObject({
    /** Image glob: `*` within a path segment, `**` across segments; matched against the normalized reference without tag or digest, e.g. `registry.local:5000/acme/**`. */
    image: z.string().min(1),
    /** A Kubewarden v1 verification config, inline … */
    policy: policyValue.optional(),
    /** … or in a YAML file. */
    policyFile: z.string().optional(),
    /** enforce: deny what fails; warn: allow with a warning. */
    mode: z.enum(['enforce', 'warn']).default('enforce'),
    /** Mirrored repository whose trusted_root.json applies (default: the default repository). */
    repository: z.string().optional(),
  })
  .refine((p) => (p.policy === undefined) !== (p.policyFile === undefined), { message: 'give exactly one of policy and policyFile' });

export const verifierConfigSchema = z
  .strictObject({
    /** Only these registries are ever contacted (enforced before any request). */
    registries: z.array(registry).default([]),
    /** A docker config.json whose `auths` supply credentials for allowlisted registries. */
    dockerConfig: z.string().optional(),
    /** How long a verification result is reused (keyed by digest, policy and trust-root generation). */
    cacheTtlSeconds: z.number().int().min(0).max(86400).default(60),
    /** Per registry request, headers and body together. */
    requestTimeoutSeconds: z.number().positive().max(300).default(15),
    /** Cap on manifests, indexes and referrer lists. */
    maxManifestBytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** Cap on signature payloads and bundles fetched as blobs. */
    maxBlobBytes: z.number().int().positive().default(16 * 1024 * 1024),
    admission: z
      .strictObject({
        /** The first policy whose glob matches an image applies. */
        policies: z.array(admissionPolicy).default([]),
        /** Images no policy matches: allow (default) or deny. */
        unmatched: z.enum(['allow', 'deny']).default('allow'),
      })
      .prefault({}),
  })
  .prefault({});

export type VerifierConfig = z.output<typeof verifierConfigSchema>;
export type RegistryConfig = VerifierConfig['registries'][number];
