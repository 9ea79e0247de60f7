import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { review } from '../../verifier/admission';
import { verifyBlobBundle, type Requirement } from '../../verifier/blob';
import { errorAnswer, VerifyRequestError } from '../../verifier/errors';
import { parsePolicy } from '../../verifier/policy';
import { createVerifierService } from '../../verifier/service';
import { parseDigest, parsePublicKey } from '../../verifier/signature';
import { trustRootsFromIndex } from '../../verifier/sources';
import type { AppDeps } from '../app';

/**
 * `POST /api/v1/verify` (an image), `POST /api/v1/verify/bundle` (a blob's Sigstore bundle) and
 * `POST /api/v1/admission` (a Kubernetes AdmissionReview), all against the trusted_root.json of
 * the generation this server is serving. See README "Verify images and bundles".
 */
export function verifyRouter({ config, index, store, logger }: AppDeps): Router {
  const service = createVerifierService(config, trustRootsFromIndex(index, store, config));
  const router = Router();
  router.use(['/verify', '/admission'], express.json({ limit: '2mb', type: ['application/json', 'application/*+json'] }));

  const fail = (res: Response, err: unknown): void => {
    const answer = errorAnswer(err);
    if (!answer) throw err;
    res.status(answer.status).json(answer.body);
  };
  const body = (req: Request): Record<string, unknown> => {
    const b: unknown = req.body;
    if (!b || typeof b !== 'object' || Array.isArray(b)) throw new VerifyRequestError('body', 'must be a JSON object (Content-Type: application/json)');
    return b as Record<string, unknown>;
  };
  const optionalString = (b: Record<string, unknown>, field: string): string | undefined => {
    const v = b[field];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !v) throw new VerifyRequestError(field, 'must be a non-empty string');
    return v;
  };

  router.post('/verify', async (req, res) => {
    try {
      const b = body(req);
      const image = optionalString(b, 'image');
      if (!image) throw new VerifyRequestError('image', 'required, e.g. "registry.local:5000/acme/app:1.0"');
      if (b.policy === undefined) throw new VerifyRequestError('policy', 'required: a Kubewarden v1 verification config (object or YAML string)');
      const policy = parsePolicy(b.policy);
      const answer = await service.images.verify(image, policy, optionalString(b, 'repository'));
      logger.info({ image, digest: answer.digest, verified: answer.verified }, 'verify image');
      res.json(answer);
    } catch (err) {
      fail(res, err);
    }
  });

  router.post('/verify/bundle', (req, res) => {
    try {
      const b = body(req);
      let bundle = b.bundle;
      if (bundle === undefined) throw new VerifyRequestError('bundle', 'required: a Sigstore bundle (object or JSON string)');
      if (typeof bundle === 'string') {
        try {
          bundle = JSON.parse(bundle);
        } catch {
          throw new VerifyRequestError('bundle', 'is a string but not JSON');
        }
      }
      const digestText = optionalString(b, 'artifactDigest');
      const digest = digestText && parseDigest(digestText);
      if (!digest) throw new VerifyRequestError('artifactDigest', 'required: "sha256:" and 64 lowercase hex digits');
      const given = ['policy', 'key', 'identity'].filter((f) => b[f] !== undefined);
      if (given.length !== 1) throw new VerifyRequestError('policy', 'give exactly one of policy, key (PEM) and identity ({subject, issuer})');
      let requirement: Requirement;
      if (b.policy !== undefined) requirement = { kind: 'policy', policy: parsePolicy(b.policy) };
      else if (b.key !== undefined) {
        const pem = optionalString(b, 'key')!;
        try {
          requirement = { kind: 'key', keys: [parsePublicKey(pem)] };
        } catch (err) {
          throw new VerifyRequestError('key', (err as Error).message);
        }
      } else {
        const id = b.identity as { subject?: unknown; issuer?: unknown } | undefined;
        if (!id || typeof id.subject !== 'string' || typeof id.issuer !== 'string') {
          throw new VerifyRequestError('identity', 'must be {"subject": exact SAN, "issuer": exact OIDC issuer}');
        }
        requirement = { kind: 'identity', subject: { equal: id.subject }, issuer: id.issuer };
      }
      const trustRoot = service.trustRoots(optionalString(b, 'repository'));
      res.json(verifyBlobBundle(bundle, { kind: 'digest', algorithm: 'sha256', digest }, trustRoot, requirement));
    } catch (err) {
      fail(res, err);
    }
  });

  router.post('/admission', async (req, res) => {
    try {
      const answer = await review(body(req), service.admission.policies, service.admission.unmatched, service.images);
      if (!answer.response.allowed) logger.warn({ uid: answer.response.uid, message: answer.response.status?.message }, 'admission denied');
      res.json(answer);
    } catch (err) {
      fail(res, err);
    }
  });

  // A body that is not JSON (or too large) is the client's mistake, not ours.
  router.use((err: { type?: string; status?: number; message?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (err?.type === 'entity.parse.failed') res.status(400).json({ error: { code: 'BAD_REQUEST', field: 'body', message: `body is not JSON: ${err.message}` } });
    else if (err?.type === 'entity.too.large') res.status(413).json({ error: { code: 'TOO_LARGE', field: 'body', message: 'body larger than 2 MiB' } });
    else next(err);
  });
  return router;
}
