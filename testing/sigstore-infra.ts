/**
 * A private Sigstore instance for tests: @sigstore/mock's Fulcio CA (with a CT log), Rekor
 * transparency log and RFC 3161 timestamp authority, used directly and behind real HTTP servers on 127.0.0.1 (never through nock,
 * which would break real HTTP in this process: only the nock-free modules are loaded). Signs
 * cosign-format image signatures and, through @sigstore/sign, real Sigstore bundles; describes
 * itself as a trusted_root.json.
 */
import { DSSEBundleBuilder, FulcioSigner, RekorWitness, TSAWitness } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';
import { RFC3161Timestamp } from '@sigstore/core';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fulcio = require('@sigstore/mock/dist/fulcio') as {
  initializeCTLog(kp: KeyPair, clock?: Date): Promise<unknown>;
  initializeCA(kp: KeyPair, ctlog?: unknown, clock?: Date): Promise<CA>;
  fulcioHandler(ca: CA, opts?: { strict?: boolean }): Handler;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const timestamp = require('@sigstore/mock/dist/timestamp') as {
  initializeTSA(kp: KeyPair, clock?: Date): Promise<TSA>;
  tsaHandler(tsa: TSA, opts?: { strict?: boolean }): Handler;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const rekor = require('@sigstore/mock/dist/rekor') as {
  initializeTLog(url: string, kp: KeyPair, clock?: Date): Promise<TLog>;
  rekorHandler(tlog: TLog, opts?: { strict?: boolean }): Handler;
};

type KeyPair = { publicKey: crypto.KeyObject; privateKey: crypto.KeyObject };
type Handler = { path: string; fn: (body: string) => Promise<{ statusCode: number; response: string | ArrayBufferView; contentType?: string }> };
type CA = {
  rootCertificate: ArrayBufferView;
  issueCertificate(o: { publicKey: ArrayBufferView; subjectAltName: string; extensions?: { oid: string; value: string; legacy?: boolean }[] }): Promise<ArrayBufferView>;
};
type TSA = {
  rootCertificate: ArrayBufferView;
  intCertificate: ArrayBufferView;
  timestamp(req: { artifactHash: Buffer; hashAlgorithmOID: string; nonce: number; policyOID: string; certReq?: boolean }): Promise<ArrayBufferView>;
};
type TLog = { log(entry: object): Promise<Record<string, { body: string; integratedTime: number; logID: string; logIndex: number; verification: { signedEntryTimestamp: string } }>> };

export const GHA_ISSUER = 'https://token.actions.githubusercontent.com';

/**
 * @sigstore/core 3 parses a GeneralizedTime only with no or exactly three fractional digits, and
 * the mock TSA (asn1js) writes milliseconds without trailing zeros (`.12Z` at 120 ms): about one
 * timestamp in ten is unparseable. The helpers retry until the time is one it can read.
 */
function parsesAsTimestamp(bytes: Buffer): boolean {
  try {
    return RFC3161Timestamp.parse(Buffer.from(bytes)).signingTime instanceof Date;
  } catch {
    return false;
  }
}

const der = (v: ArrayBufferView): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const pem = (d: Buffer): string => `-----BEGIN CERTIFICATE-----\n${d.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;

export type CosignLayer = { payload: Buffer; annotations: Record<string, string> };

export class SigstoreInfra {
  private constructor(
    private readonly keyPair: KeyPair,
    private readonly ca: CA,
    private readonly tlog: TLog,
    /** A log whose clock runs a day ahead: its entries fall outside any certificate's validity. */
    private readonly lateLog: TLog,
    private readonly tsa: TSA,
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(): Promise<SigstoreInfra> {
    const keyPair = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const ctlog = await fulcio.initializeCTLog(keyPair);
    const ca = await fulcio.initializeCA(keyPair, ctlog);
    const tlog = await rekor.initializeTLog('https://rekor.test', keyPair);
    const lateLog = await rekor.initializeTLog('https://rekor.test', keyPair, new Date(Date.now() + 86_400_000));
    const tsa = await timestamp.initializeTSA(keyPair);
    const handlers = [fulcio.fulcioHandler(ca), rekor.rekorHandler(tlog), timestamp.tsaHandler(tsa)];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const h = handlers.find((x) => req.url === x.path);
        if (!h) {
          res.writeHead(404).end();
          return;
        }
        // A handler that throws answers 500 (the client under test then says so), rather than
        // leaving an unhandled rejection to take the test process down.
        h.fn(Buffer.concat(chunks).toString()).then(
          (r) => {
            res.writeHead(r.statusCode, { 'content-type': r.contentType ?? 'application/json' });
            res.end(typeof r.response === 'string' ? r.response : der(r.response));
          },
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return new SigstoreInfra(keyPair, ca, tlog, lateLog, tsa, server, url);
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  /** This instance as a trusted_root.json: the CA, the CT log and the transparency log. */
  trustedRoot(): string {
    const spki = this.keyPair.publicKey.export({ format: 'der', type: 'spki' });
    const logId = crypto.createHash('sha256').update(spki).digest('base64');
    const start = '2020-01-01T00:00:00Z';
    const log = (baseUrl: string): object => ({
      baseUrl,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: spki.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
      logId: { keyId: logId },
    });
    return (
      JSON.stringify(
        {
          mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
          tlogs: [log('https://rekor.test')],
          certificateAuthorities: [
            {
              subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
              uri: this.url,
              certChain: { certificates: [{ rawBytes: der(this.ca.rootCertificate).toString('base64') }] },
              validFor: { start },
            },
          ],
          ctlogs: [log('https://ctfe.test')],
          timestampAuthorities: [
            {
              subject: { organization: 'sigstore.mock', commonName: 'tsa' },
              uri: this.url,
              certChain: { certificates: [der(this.tsa.intCertificate), der(this.tsa.rootCertificate)].map((c) => ({ rawBytes: c.toString('base64') })) },
              validFor: { start },
            },
          ],
        },
        null,
        2,
      ) + '\n'
    );
  }

  /** A Fulcio certificate for a GitHub Actions workflow identity of `repository` (owner/name). */
  async certificate(publicKey: crypto.KeyObject, repository: string, workflow = '.github/workflows/release.yml@refs/heads/main'): Promise<{ der: Buffer; subject: string }> {
    const subject = `https://github.com/${repository}/${workflow}`;
    const cert = await this.ca.issueCertificate({
      publicKey: publicKey.export({ format: 'der', type: 'spki' }),
      subjectAltName: subject,
      extensions: [
        { oid: '1.3.6.1.4.1.57264.1.1', value: GHA_ISSUER, legacy: true },
        { oid: '1.3.6.1.4.1.57264.1.8', value: GHA_ISSUER },
        { oid: '1.3.6.1.4.1.57264.1.5', value: repository, legacy: true },
        { oid: '1.3.6.1.4.1.57264.1.12', value: `https://github.com/${repository}` },
      ],
    });
    return { der: der(cert), subject };
  }

  /** The simple-signing payload cosign signs for an image. */
  static payload(digest: string, reference: string, optional: Record<string, string> | null = null): Buffer {
    return Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' }, optional }));
  }

  /** A keyed cosign signature (no Rekor), as `cosign sign --key --tlog-upload=false` makes it. */
  static signWithKey(payload: Buffer, privateKey: crypto.KeyObject): CosignLayer {
    return { payload, annotations: { 'dev.cosignproject.cosign/signature': crypto.sign('sha256', payload, privateKey).toString('base64') } };
  }

  /** A keyless cosign signature: ephemeral key, Fulcio certificate, Rekor hashedrekord entry with its SET. */
  async signKeyless(
    payload: Buffer,
    repository: string,
    options: { lateLog?: boolean; signedPayload?: Buffer; rfc3161?: boolean; noRekor?: boolean; timestampOver?: Buffer } = {},
  ): Promise<CosignLayer & { subject: string }> {
    const ephemeral = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const cert = await this.certificate(ephemeral.publicKey, repository);
    const signed = options.signedPayload ?? payload;
    const signature = crypto.sign('sha256', signed, ephemeral.privateKey).toString('base64');
    const entries = await (options.lateLog ? this.lateLog : this.tlog).log({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: crypto.createHash('sha256').update(signed).digest('hex') } },
        signature: { content: signature, publicKey: { content: Buffer.from(pem(cert.der)).toString('base64') } },
      },
    });
    const e = Object.values(entries)[0];
    const annotations: Record<string, string> = {
      'dev.cosignproject.cosign/signature': signature,
      'dev.sigstore.cosign/certificate': pem(cert.der),
      'dev.sigstore.cosign/chain': pem(der(this.ca.rootCertificate)),
    };
    if (!options.noRekor) {
      annotations['dev.sigstore.cosign/bundle'] = JSON.stringify({
        SignedEntryTimestamp: e.verification.signedEntryTimestamp,
        Payload: { body: e.body, integratedTime: e.integratedTime, logIndex: e.logIndex, logID: e.logID },
      });
    }
    if (options.rfc3161) {
      // cosign timestamps the raw signature bytes.
      const over = options.timestampOver ?? Buffer.from(signature, 'base64');
      let tsr: ArrayBufferView | undefined;
      for (let attempt = 0; attempt < 20 && !tsr; attempt++) {
        const candidate = await this.tsa.timestamp({
          artifactHash: crypto.createHash('sha256').update(over).digest(),
          hashAlgorithmOID: '2.16.840.1.101.3.4.2.1',
          nonce: crypto.randomInt(1 << 30),
          policyOID: '1.3.6.1.4.1.57264.2',
          certReq: true,
        });
        if (parsesAsTimestamp(der(candidate))) tsr = candidate;
      }
      if (!tsr) throw new Error('the mock TSA kept producing timestamps @sigstore/core cannot parse');
      annotations['dev.sigstore.cosign/rfc3161timestamp'] = JSON.stringify({ SignedRFC3161Timestamp: der(tsr).toString('base64') });
    }
    return { payload, subject: cert.subject, annotations };
  }

  /**
   * A real Sigstore bundle from @sigstore/sign (Fulcio certificate over HTTP, Rekor intoto entry
   * over HTTP): an in-toto statement about `digest`, signed by a workflow of `repository`.
   */
  async attest(digest: string, name: string, repository: string): Promise<object> {
    const subject = `https://github.com/${repository}/.github/workflows/release.yml@refs/heads/main`;
    const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: GHA_ISSUER, sub: subject, aud: 'sigstore', repository, ref: 'refs/heads/main' })}.sig`;
    const builder = new DSSEBundleBuilder({
      signer: new FulcioSigner({ fulcioBaseURL: this.url, identityProvider: { getToken: () => Promise.resolve(token) } }),
      witnesses: [new RekorWitness({ rekorBaseURL: this.url, entryType: 'intoto' }), new TSAWitness({ tsaBaseURL: this.url })],
    });
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name, digest: { sha256: digest.replace('sha256:', '') } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: { buildDefinition: { buildType: 'test' } },
    };
    for (let attempt = 0; attempt < 20; attempt++) {
      const bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: 'application/vnd.in-toto+json' });
      const ts = bundle.verificationMaterial.timestampVerificationData?.rfc3161Timestamps ?? [];
      if (ts.every((t) => parsesAsTimestamp(Buffer.from(t.signedTimestamp)))) return bundleToJSON(bundle);
    }
    throw new Error('the mock TSA kept producing timestamps @sigstore/core cannot parse');
  }
}
