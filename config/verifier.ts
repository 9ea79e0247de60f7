import { z } from 'zod';
import { parsePolicy, PolicyError } from '../lib/policy';

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
  /**
   * Other hosts (host or host:port) this registry may send the verifier to: its token service
   * (e.g. auth.docker.io) and its blob storage. Redirects and token realms anywhere else are
   * refused; its credentials go to itself and these hosts only.
   */
  allowedHosts: z.array(hostPort).default([]),
  /**
   * Allow loopback, link-local and private addresses (IP literals or names resolving to them) for
   * this registry and its allowedHosts. Off by default, so an allowlisted name cannot be turned
   * against internal services; an in-cluster or on-site registry needs it on.
   */
  allowPrivateAddresses: z.boolean().default(false),
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
  .refine((p) => (p.policy === undefined) !== (p.policyFile === undefined), { error: 'give exactly one of policy and policyFile' });

const tlsFiles = z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) });

export const verifierConfigSchema = z
  .strictObject({
    /**
     * A listener of its own for /api/v1/verify* and /api/v1/admission*, which then leave the public
     * listener; the NetworkPolicy keeps it to the API server. The API server calls webhooks over
     * HTTPS only: give it tls.
     */
    listen: z
      .strictObject({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(0).max(65535),
        tls: tlsFiles.optional(),
      })
      .optional(),
    /**
     * Bearer token for /api/v1/verify and /verify/bundle (TUF_MIRROR_VERIFY_TOKEN wins). On the
     * public listener every verification endpoint needs it, and without one they answer 403.
     */
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Verifications (and reviews) in flight at once; more are answered 429 with Retry-After. */
    maxInFlight: z.number().int().min(1).max(1024).default(8),
    /** Bytes one verification may fetch from registries, all requests together. */
    maxBytesPerVerification: z
      .number()
      .int()
      .positive()
      .default(8 * 1024 * 1024),
    /** Cap on one simple-signing payload (a few hundred bytes in practice). */
    maxPayloadBytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024),
    /** Only these registries are ever contacted (enforced before any request). */
    registries: z.array(registry).default([]),
    /** A docker config.json whose `auths` supply credentials for allowlisted registries. */
    dockerConfig: z.string().optional(),
    /** How long a verification result is reused (keyed by digest, policy and trust-root generation). */
    cacheTtlSeconds: z.number().int().min(0).max(86400).default(60),
    /** Per registry request, headers and body together. */
    requestTimeoutSeconds: z.number().positive().max(300).default(15),
    /** Cap on manifests, indexes and referrer lists. */
    maxManifestBytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    /** Cap on a Sigstore bundle fetched as a blob. */
    maxBlobBytes: z
      .number()
      .int()
      .positive()
      .default(2 * 1024 * 1024),
    admission: z
      .strictObject({
        /** The first policy whose glob matches an image applies. */
        policies: z.array(admissionPolicy).default([]),
        /** Images no policy matches: allow (default) or deny. */
        unmatched: z.enum(['allow', 'deny']).default('allow'),
        /** Distinct images one review may name; a review naming more is denied without a request. */
        maxImages: z.number().int().min(1).max(1000).default(32),
      })
      .prefault({}),
  })
  .prefault({});

export type VerifierConfig = z.output<typeof verifierConfigSchema>;
export type RegistryConfig = VerifierConfig['registries'][number];
