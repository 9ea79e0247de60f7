import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

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
 * Guards admin endpoints with `Authorization: Bearer <adminToken>`. Without a configured token
 * they are disabled (403), never open.
 */
export function requireAdmin(adminToken: string | undefined) {
  const matches = bearerMatcher(adminToken);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!adminToken) {
      res.status(403).json({ error: { code: 'ADMIN_DISABLED', message: 'admin endpoints are disabled: set adminToken or TUF_MIRROR_ADMIN_TOKEN' } });
      return;
    }
    if (!matches(req.headers.authorization)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="tuf-mirror"');
      res.status(401).json({ error: { code: 'UNAUTHORIZED', message: 'a valid admin bearer token is required' } });
      return;
    }
    next();
  };
}
