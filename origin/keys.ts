import { canonicalize } from '@tufjs/canonical-json';
import { Key, Signature, type Metadata, type Root, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OriginError } from './errors';

export type KeyType = 'ecdsa' | 'ed25519';

/** A TUF signing key: its public form as it appears in root, and the private key that signs. */
export type SigningKey = { keyID: string; key: Key; privateKey: crypto.KeyObject };

/** The TUF public form of a private key: ECDSA P-256 as PEM SPKI (as Sigstore does), ed25519 as hex. */
export function publicKeyOf(privateKey: crypto.KeyObject): SigningKey {
  const type = privateKey.asymmetricKeyType;
  let keyType: string;
  let scheme: string;
  let publicValue: string;
  if (type === 'ed25519') {
    keyType = 'ed25519';
    scheme = 'ed25519';
    const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
    publicValue = Buffer.from(jwk.x as string, 'base64url').toString('hex');
  } else if (type === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') {
    keyType = 'ecdsa';
    scheme = 'ecdsa-sha2-nistp256';
    publicValue = crypto.createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
  } else {
    throw new OriginError('KEY_UNSUPPORTED', `unsupported key type ${String(type)}${type === 'ec' ? ` (${String(privateKey.asymmetricKeyDetails?.namedCurve)})` : ''}: use ECDSA P-256 or ed25519`);
  }
  const keyval = { public: publicValue };
  // The key ID is the sha256 of the key's canonical JSON, as every TUF implementation computes it.
  const keyID = crypto
    .createHash('sha256')
    .update(canonicalize({ keytype: keyType, scheme, keyval }))
    .digest('hex');
  return { keyID, key: new Key({ keyID, keyType, scheme, keyVal: keyval }), privateKey };
}

export function generateKey(type: KeyType = 'ecdsa'): SigningKey {
  const { privateKey } = type === 'ed25519' ? crypto.generateKeyPairSync('ed25519') : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return publicKeyOf(privateKey);
}

/** Write a private key as PKCS#8 PEM, readable by its owner only; never overwrite one. */
export function writeKeyFile(file: string, key: SigningKey): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' });
  try {
    fs.writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new OriginError('KEY_EXISTS', `${file} exists: refusing to overwrite a key`);
    throw err;
  }
}

export function readKeyFile(file: string): SigningKey {
  let pem: Buffer;
  try {
    pem = fs.readFileSync(file);
  } catch (err) {
    throw new OriginError('KEY_MISSING', `cannot read key ${file}: ${String((err as NodeJS.ErrnoException).code ?? err)}`);
  }
  try {
    return publicKeyOf(crypto.createPrivateKey(pem));
  } catch (err) {
    if (err instanceof OriginError) throw err;
    throw new OriginError('KEY_INVALID', `${file} is not a PEM private key: ${(err as Error).message}`);
  }
}

/** Every private key in a folder (`*.pem`), by key ID: whichever of them a role needs will sign. */
export function readKeyDir(dir: string): Map<string, SigningKey> {
  const keys = new Map<string, SigningKey>();
  if (!fs.existsSync(dir)) return keys;
  for (const name of fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.pem'))
    .sort()) {
    const key = readKeyFile(path.join(dir, name));
    keys.set(key.keyID, key);
  }
  return keys;
}

/** Add `key`'s signature over `metadata`'s canonical signed part (ECDSA: DER over sha256). */
export function sign(metadata: Metadata<Root | Targets | Snapshot | Timestamp>, key: SigningKey): void {
  const algorithm = key.key.keyType === 'ed25519' ? null : 'sha256';
  metadata.sign((data) => new Signature({ keyID: key.keyID, sig: crypto.sign(algorithm, data, key.privateKey).toString('hex') }), true);
}
