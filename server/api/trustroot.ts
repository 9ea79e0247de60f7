import { Router, type Response } from 'express';
import { checkFormat, FORMAT_NAMES, needsMirrorUrl, renderTrustRoot } from '../../trust/formats';
import { loadTrustMaterial } from '../../trust/material';
import { parseList, resolveMirrorUrl } from '../../trust/options';
import type { AppDeps } from '../deps';
import { errorAnswer, type ErrorAnswer } from '../http-errors';
import { repositoryOf, resolveRepository } from './repository';

/** A query parameter as one string (a repeated parameter counts as its first value). */
function param(value: unknown): string | undefined {
  if (Array.isArray(value)) return param(value[0]);
  return typeof value === 'string' ? value : undefined;
}

/** A repeatable query parameter (`subject=a&subject=b`) as every string value given. */
function params(value: unknown): string[] | undefined {
  const all = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
  return all.length ? all : undefined;
}

/** Header values are Latin-1 text on one line. */
const headerSafe = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?');

/**
 * `GET /api/v1/repositories/<name>/trustroot?format=...`: the same outputs as
 * `tuf-mirror trustroot`, from the repository's current generation. Public like the TUF files
 * themselves: everything in it is public trust material.
 */
export function trustrootRouter({ config, store }: Pick<AppDeps, 'config' | 'store'>): Router {
  const router = Router();
  router.get('/repositories/:name/trustroot', resolveRepository(config), (req, res) => {
    const repository = repositoryOf(res);
    try {
      const format = checkFormat(param(req.query.format));
      const mirrorUrl = needsMirrorUrl(format) ? resolveMirrorUrl(param(req.query.mirrorUrl), config, repository) : undefined;
      const all = param(req.query.all);
      const material = loadTrustMaterial(store, repository.name);
      const output = renderTrustRoot(material, format, {
        mirrorUrl,
        targets: parseList(param(req.query.targets)),
        all: all !== undefined && all !== 'false' && all !== '0',
        name: param(req.query.name),
        namespace: param(req.query.namespace),
        trustedRootTarget: param(req.query.trustedRootTarget),
        identity: {
          issuer: param(req.query.issuer),
          subjects: params(req.query.subject),
          subjectRegexps: params(req.query.subjectRegexp),
          subjectUrlPrefixes: params(req.query.subjectUrlPrefix),
          images: params(req.query.image),
        },
        trustRootName: param(req.query.trustRootName),
        failureAction: param(req.query.failureAction),
      });
      res.setHeader('Content-Type', output.contentType);
      res.setHeader('X-TUF-Mirror-Generation', String(material.generation.id));
      // What tuf-mirror refresh-cluster compares: equal for every generation (and replica) handing out the same content.
      if (output.contentSha256) res.setHeader('X-TUF-Mirror-Content-Sha256', output.contentSha256);
      if (output.validity) {
        res.setHeader('X-TUF-Mirror-Expires', output.validity.expires);
        res.setHeader('X-TUF-Mirror-Expires-What', headerSafe(output.validity.what));
      }
      // Derived from whatever generation is current: a cache must ask again.
      res.setHeader('Cache-Control', 'no-cache');
      if (output.archiveBytes !== undefined) res.setHeader('X-TUF-Mirror-Archive-Bytes', String(output.archiveBytes));
      if (output.warnings.length) res.setHeader('X-TUF-Mirror-Warning', output.warnings.map(headerSafe));
      res.status(200).end(output.body);
    } catch (err) {
      const answer = errorAnswer(err);
      if (!answer) throw err;
      sendError(res, answer);
    }
  });
  return router;
}

function sendError(res: Response, { status, body }: ErrorAnswer): void {
  if (status === 503) res.setHeader('Retry-After', '30');
  res.status(status).json({ error: { ...body.error, ...(body.error.code === 'UNKNOWN_FORMAT' ? { formats: FORMAT_NAMES } : {}) } });
}
