/**
 * The worker thread that answers verification and admission requests (server/verification.ts
 * starts it). Everything a caller's body can make expensive runs here, on its own thread and heap:
 * parsing, policy checks, registry I/O, signature cryptography. The main thread only serves TUF
 * files and passes bytes. Trust roots come with each request, from the generation the main
 * thread is serving at that moment.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { Config } from '../config/config';
import { createVerifierService } from '../verifier/service';
import { trustRootProvider } from '../verifier/trust-root';
import { answerVerifyRequest, type VerifyEndpoint } from './api/verify';

export type TrustSnapshot = { name: string; generation: number; timestampVersion: number; trustedRoot: Uint8Array | undefined }[];
export type WorkerRequest = { id: number; endpoint: VerifyEndpoint; body: Uint8Array; contentType: string | undefined; trust: TrustSnapshot };

const port = parentPort;
if (!port) throw new Error('verify-worker runs as a worker thread');
const config = (workerData as { config: Config }).config;

// Below the main thread's priority (Linux): when both want the CPU, TUF files go first.
try {
  const tid = Number(/task\/(\d+)$/.exec(fs.readlinkSync('/proc/thread-self'))?.[1]);
  if (tid) os.setPriority(tid, 10);
} catch {
  // not Linux, or not allowed: same priority
}

let current = new Map<string, TrustSnapshot[number]>();
const trustRoots = trustRootProvider({
  repositories: config.repositories.map((r) => r.name),
  defaultRepository: config.repositories.find((r) => r.default)?.name,
  generationOf: (name) => current.get(name)?.generation,
  load: (name) => {
    const s = current.get(name);
    return s && { generation: s.generation, timestampVersion: s.timestampVersion, trustedRoot: s.trustedRoot && Buffer.from(s.trustedRoot) };
  },
});
const service = createVerifierService(config, trustRoots);

port.on('message', (m: WorkerRequest) => {
  current = new Map(m.trust.map((t) => [t.name, t]));
  void answerVerifyRequest(service, m.endpoint, Buffer.from(m.body), m.contentType).then((reply) => port.postMessage({ id: m.id, ...reply }));
});
