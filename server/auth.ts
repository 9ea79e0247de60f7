import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/**
 * Guards admin endpoints with `Authorization: Bearer <adminToken>`. Without a configured token
 * they are disabled (403), never open. Tokens are compared as hashes in constant time and never
 * logged.
 */
export function requireAdmin(adminToken: string | undefined) {
  const expected = adminToken ? createHash('sha256').update(adminToken).digest() : undefined;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!expected) {
      res.status(403).json({ error: { code: 'ADMIN_DISABLED', message: 'admin endpoints are disabled: set adminToken or TUF_MIRROR_ADMIN_TOKEN' } });
      return;
    }
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const given = match ? createHash('sha256').update(match[1].trim()).digest() : undefined;
    if (!given || !timingSafeEqual(given, expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="tuf-mirror"');
      res.status(401).json({ error: { code: 'UNAUTHORIZED', message: 'a valid admin bearer token is required' } });
      return;
    }
    next();
  };
}
