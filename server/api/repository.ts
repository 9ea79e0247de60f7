import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Config, RepositoryConfig } from '../../config/config';
import { sendRefusal } from '../http-errors';

const resolved = new WeakMap<Response, RepositoryConfig>();

/**
 * Resolves the route's `:name` to a configured repository, or answers 404 NOT_FOUND: the handlers
 * after it run only for a repository that exists, and read it with repositoryOf.
 */
export function resolveRepository(config: Pick<Config, 'repositories'>): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const name = String(req.params.name);
    const repository = config.repositories.find((r) => r.name === name);
    if (!repository) {
      sendRefusal(res, 'NOT_FOUND', `no repository named ${name}`);
      return;
    }
    resolved.set(res, repository);
    next();
  };
}

/** The repository resolveRepository found for this request. */
export function repositoryOf(res: Response): RepositoryConfig {
  const repository = resolved.get(res);
  if (!repository) throw new Error('no repository resolved for this route: resolveRepository must run before its handler');
  return repository;
}
