/**
 * Verification benchmark: cold image verifications against a local registry (Debian's
 * docker-registry when installed, else the in-process registry stub), cached verifications per
 * second (by tag: one manifest request each; by digest: none), and @sigstore/verify alone on the
 * same signature, for scale. It prints figures; it never asserts a time.
 *
 *   npm run build && node dist/bench/verify.js
 *   BENCH_SECONDS=5 BENCH_COLD=100 node dist/bench/verify.js
 *
 * Keyless cosign signature (Fulcio certificate + SCT + Rekor SET) from a private @sigstore/mock
 * instance; everything on 127.0.0.1; every process started here is stopped at the end.
 */
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, Verifier } from '@sigstore/verify';
import { performance } from 'node:perf_hooks';
import { DockerRegistry, dockerRegistryBinary } from '../testing/docker-registry';
import { cosignSigManifest, OciStub } from '../testing/oci-stub';
import { GHA_ISSUER, SigstoreInfra } from '../testing/sigstore-infra';
import { toSigstoreBundle } from '../verifier/cosign';
import { ImageVerifier } from '../verifier/image';
import { RegistryClient } from '../verifier/oci';
import { parsePolicy } from '../lib/policy';
import { parseTrustRoot } from '../verifier/trust-root';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const COLD = Number(process.env.BENCH_COLD ?? 50);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function rate(fn: () => unknown, seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    await fn();
    n++;
  }
  return n / seconds;
}

async function main(): Promise<void> {
  const infra = await SigstoreInfra.start();
  const binary = dockerRegistryBinary();
  let registryName: string;
  let host: string;
  let stop: () => Promise<void>;
  let digest: string;
  const payloadFor = (d: string, h: string): Buffer => SigstoreInfra.payload(d, `${h}/acme/app`);
  let layer;
  if (binary) {
    const registry = await DockerRegistry.start(binary);
    registryName = `docker-registry (${binary})`;
    host = registry.host;
    const image = await registry.pushImage('acme/app', '1.0');
    digest = image.digest;
    layer = await infra.signKeyless(payloadFor(digest, host), 'acme/app');
    await registry.pushCosignSignatures('acme/app', digest, [layer]);
    stop = () => registry.stop();
  } else {
    const stub = await new OciStub().start();
    registryName = 'registry stub (docker-registry not installed)';
    host = stub.host;
    stub.addBlob('{}');
    digest = stub.addManifest(
      'acme/app',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: 2, digest: `sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a` },
        layers: [],
      },
      ['1.0'],
    );
    layer = await infra.signKeyless(payloadFor(digest, host), 'acme/app');
    const blob = stub.addBlob(layer.payload);
    stub.addManifest('acme/app', cosignSigManifest([{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', size: layer.payload.length, digest: blob, annotations: layer.annotations }]), [
      `${digest.replace(':', '-')}.sig`,
    ]);
    stop = () => stub.close();
  }
  const trustRoot = parseTrustRoot(infra.trustedRoot(), { repository: 'bench', generation: 1, timestampVersion: 1 });
  const registry = new RegistryClient({ registries: [{ host, insecure: true, allowPrivateAddresses: true }], timeoutMs: 5000, maxManifestBytes: 1 << 22, maxBlobBytes: 1 << 24 });
  const policy = parsePolicy({ apiVersion: 'v1', allOf: [{ kind: 'genericIssuer', issuer: GHA_ISSUER, subject: { urlPrefix: 'https://github.com/acme' } }] });
  const image = `${host}/acme/app:1.0`;
  const pinned = `${host}/acme/app@${digest}`;

  try {
    // Cold: no cache, every verification resolves, discovers, fetches and verifies.
    const cold = new ImageVerifier({ registry, trustRoots: () => trustRoot, cacheTtlSeconds: 0 });
    const first = await cold.verify(image, policy);
    if (!first.verified) throw new Error(`the benchmark image does not verify: ${JSON.stringify(first)}`);
    const times: number[] = [];
    for (let i = 0; i < COLD; i++) {
      const t = performance.now();
      await cold.verify(image, policy);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);

    const cached = new ImageVerifier({ registry, trustRoots: () => trustRoot, cacheTtlSeconds: 3600 });
    await cached.verify(image, policy);
    await cached.verify(pinned, policy);
    const byTag = await rate(() => cached.verify(image, policy), SECONDS);
    const byDigest = await rate(() => cached.verify(pinned, policy), SECONDS);

    const bundle = bundleFromJSON(toSigstoreBundle(layer));
    const verifier = new Verifier(trustRoot.material, { tlogThreshold: 0 });
    const alone = await rate(() => verifier.verify(toSignedEntity(bundle, layer.payload)), SECONDS);

    const f = (n: number): string => n.toFixed(n < 10 ? 2 : 0);
    process.stdout.write(
      [
        `registry: ${registryName}; keyless cosign signature (Fulcio cert + SCT + Rekor SET); node ${process.version}`,
        `cold verification (${COLD} runs, no cache): p50 ${f(pct(times, 50))} ms, p95 ${f(pct(times, 95))} ms, max ${f(times[times.length - 1])} ms`,
        `cached, by tag (one manifest request each): ${f(byTag)} verifications/s`,
        `cached, by digest (no request):            ${f(byDigest)} verifications/s`,
        `@sigstore/verify alone, same signature:     ${f(alone)} verifications/s`,
        '',
      ].join('\n'),
    );
  } finally {
    registry.close();
    await stop();
    await infra.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/verify: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
