import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { sendRefusal } from './http-errors';

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/**
 * `Authorization: Bearer <token>` checked against a configured token: hashed, compared in
 * constant time, never logged. `expected` undefined: nothing matches.
 */
export function bearerMatcher(token: string | undefined): (authorization: string | undefined) => boolean {
  const expected = token ? digest(token) : undefined;
  return (authorization) => {
    const match = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    return Boolean(expected && match && timingSafeEqual(digest(match[1].trim()), expected));
  };
}

/**
 * Guards an endpoint with `Authorization: Bearer <token>`. Without a configured token it is
 * disabled (403 with `disabled`), never open; a missing or wrong token is 401.
 */
export function requireBearer(token: string | undefined, disabled: { code: 'ADMIN_DISABLED' | 'REPORTS_DISABLED'; message: string }, required = 'a valid bearer token is required') {
  const matches = bearerMatcher(token);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!token) {
      sendRefusal(res, disabled.code, disabled.message);
      return;
    }
    if (!matches(req.headers.authorization)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="tuf-mirror"');
      sendRefusal(res, 'UNAUTHORIZED', required);
      return;
    }
    next();
  };
}

/** Admin endpoints (sync now, import): `Authorization: Bearer <adminToken>`. */
export const requireAdmin = (adminToken: string | undefined) =>
  requireBearer(adminToken, { code: 'ADMIN_DISABLED', message: 'admin endpoints are disabled: set adminToken or TUF_MIRROR_ADMIN_TOKEN' }, 'a valid admin bearer token is required');
