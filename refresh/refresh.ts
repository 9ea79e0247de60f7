/**
 * `tuf-mirror refresh-cluster`: keep the objects a job file names as the mirror hands them out.
 * For each output: fetch it from the mirror (from every replica, when it has several, and go on
 * only when they agree), read the object in the cluster, and apply it only when its content
 * changed — the `tuf-mirror.dev/content-sha256` annotation against the mirror's digest, which
 * moves with the content (a new trusted_root.json, root or mirrorFS timestamp), not with every
 * generation. Then report what the cluster holds back to the mirror, so its watch can tell when a
 * cluster lags.
 *
 * Never touched: an object the job file does not name (the fetched document must be exactly the
 * object expected), an object the mirror would roll back to an older TUF state, an object an
 * installation creates (a PolicyServer) that does not exist yet.
 */
import { lookup } from 'node:dns/promises';
import YAML from 'yaml';
import { z } from 'zod';
import { type ClusterReport, type HoldingReport, type Outcome, type OutputReport } from '../lib/cluster-report';
import { systemCode, TufMirrorError } from '../lib/errors';
import { isPatchOnly } from '../trust/formats';
import { ANNOTATION, describeObject } from '../trust/k8s';
import type { Job, JobOutput } from './job';
import { KubeError, type KubeClient, type LiveObject } from './kube';

export const CONTENT_ANNOTATION = `${ANNOTATION}/content-sha256`;
const MAX_OUTPUT = 4 * 1024 * 1024;
const TIMEOUT_MS = 20_000;

export type OutputResult = Omit<OutputReport, 'outcome'> & { outcome: Outcome | 'would-apply' };
export type ReportDelivery = { url: string; ok: boolean; message: string };
export type RefreshResult = { cluster: string; at: string; dryRun: boolean; outputs: OutputResult[]; reports: ReportDelivery[] };

export type RefreshOptions = {
  kube: KubeClient;
  /** Fetch, compare, apply nothing, report nothing. */
  dryRun?: boolean;
  /** The bearer token reports are sent with; none: no report. */
  reportToken?: string;
  now?: () => Date;
};

type Fetched = { url: string; body: Buffer; contentSha256: string; generation?: number; expires?: string };

/** The mirror (or a replica) did not answer what an output needs. */
class FetchError extends TufMirrorError<'FETCH_FAILED'> {
  constructor(message: string) {
    super('FETCH_FAILED', message);
  }
}

/** The base URLs outputs come from: the mirror, or each replica. */
export async function sourceUrls(job: Pick<Job, 'mirror' | 'replicas'>): Promise<string[]> {
  if (!job.replicas) return [job.mirror];
  if (job.replicas.urls) return job.replicas.urls;
  const mirror = new URL(job.mirror);
  const host = job.replicas.dns ?? '';
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch (err) {
    throw new FetchError(`cannot resolve the replicas ${host}: ${systemCode(err) ?? (err as Error).message}`);
  }
  const port = mirror.port ? `:${mirror.port}` : '';
  const urls = [...new Set(addresses.map((a) => `${mirror.protocol}//${a.family === 6 ? `[${a.address}]` : a.address}${port}${mirror.pathname.replace(/\/+$/, '')}`))];
  if (!urls.length) throw new FetchError(`the replicas ${host} resolve to no address (no ready replica)`);
  return urls.sort();
}

async function readBounded(res: Response, url: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_OUTPUT) throw new FetchError(`${url}: the answer is ${declared} bytes, over ${MAX_OUTPUT}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_OUTPUT) throw new FetchError(`${url}: the answer is over ${MAX_OUTPUT} bytes`);
  return body;
}

async function fetchOutput(base: string, job: Job, output: JobOutput): Promise<Fetched> {
  const url = `${base}/api/v1/repositories/${encodeURIComponent(job.repository)}/trustroot?${output.query}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
  } catch (err) {
    // fetch() says "fetch failed"; what failed (ECONNREFUSED, a timeout) is its cause.
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    throw new FetchError(`${base}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  const body = await readBounded(res, base);
  if (res.status !== 200) {
    let detail = body.toString('utf8').slice(0, 300);
    try {
      const e = JSON.parse(detail) as { error?: { code?: string; message?: string } };
      if (e.error?.code) detail = `${e.error.code}: ${e.error.message ?? ''}`;
    } catch {
      // not the API's JSON error: the text itself says what
    }
    throw new FetchError(`${base}: ${res.status} ${detail}`);
  }
  const contentSha256 = res.headers.get('x-tuf-mirror-content-sha256') ?? '';
  if (!/^[0-9a-f]{64}$/.test(contentSha256)) throw new FetchError(`${base}: no X-TUF-Mirror-Content-Sha256 header (a tuf-mirror older than refresh-cluster?)`);
  const generation = Number(res.headers.get('x-tuf-mirror-generation'));
  const expires = res.headers.get('x-tuf-mirror-expires') ?? undefined;
  return { url: base, body, contentSha256, ...(Number.isInteger(generation) ? { generation } : {}), ...(expires ? { expires } : {}) };
}

/** What the job reads of an object, the fetched one or the live one: kind, name, annotations. */
const objectSchema = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional(), annotations: z.record(z.string(), z.string()).optional() }),
});
type Doc = z.output<typeof objectSchema>;

const annotationsOf = (o: unknown): Record<string, string> => {
  const parsed = objectSchema.safeParse(o);
  return parsed.success ? (parsed.data.metadata.annotations ?? {}) : {};
};
const intOf = (v: string | undefined): number | undefined => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);

/** What an object holds, as its annotations say; undefined for one the job never applied. */
function holdingOf(o: unknown): HoldingReport | undefined {
  const a = annotationsOf(o);
  const contentSha256 = a[CONTENT_ANNOTATION];
  if (!contentSha256 || !/^[0-9a-f]{64}$/.test(contentSha256)) return undefined;
  const generation = intOf(a[`${ANNOTATION}/generation`]);
  const rootVersion = intOf(a[`${ANNOTATION}/root-version`]);
  const timestampVersion = intOf(a[`${ANNOTATION}/timestamp-version`]);
  const expires = a[`${ANNOTATION}/expires`];
  return {
    contentSha256,
    ...(generation !== undefined ? { generation } : {}),
    ...(rootVersion !== undefined ? { rootVersion } : {}),
    ...(timestampVersion !== undefined ? { timestampVersion } : {}),
    ...(expires && !Number.isNaN(Date.parse(expires)) ? { expires } : {}),
  };
}

/** Exactly the object the job file names, or why not. */
function mismatch(doc: Doc, output: JobOutput): string | undefined {
  const want = output.object;
  const got = { apiVersion: doc.apiVersion, kind: doc.kind, namespace: doc.metadata.namespace, name: doc.metadata.name };
  if (got.apiVersion !== want.apiVersion || got.kind !== want.kind || got.name !== want.name || got.namespace !== want.namespace) {
    return `the mirror answered ${describeObject(got)} (${got.apiVersion}), not ${describeObject(want)}: not applied`;
  }
  return undefined;
}

/** The mirror would hand the cluster an older TUF state of the same repository than it holds. */
function rollback(live: unknown, doc: Doc): string | undefined {
  const l = annotationsOf(live);
  const n = doc.metadata.annotations ?? {};
  if (!l[`${ANNOTATION}/repository`] || l[`${ANNOTATION}/repository`] !== n[`${ANNOTATION}/repository`]) return undefined;
  const version = (a: Record<string, string>) => [intOf(a[`${ANNOTATION}/root-version`]) ?? 0, intOf(a[`${ANNOTATION}/timestamp-version`]) ?? 0];
  const [lr, lt] = version(l);
  const [nr, nt] = version(n);
  if (nr < lr || (nr === lr && nt < lt)) return `the mirror serves root v${nr}, timestamp v${nt}, older than the cluster's root v${lr}, timestamp v${lt}: not rolled back`;
  return undefined;
}

async function refreshOne(job: Job, output: JobOutput, sources: string[], options: RefreshOptions): Promise<OutputResult> {
  const base = {
    format: output.format,
    query: output.query,
    object: { apiVersion: output.object.apiVersion, kind: output.object.kind, ...(output.object.namespace ? { namespace: output.object.namespace } : {}), name: output.object.name },
  };
  let live: LiveObject | undefined;
  const result = (outcome: OutputResult['outcome'], message: string | undefined, mirror?: HoldingReport, object: unknown = live): OutputResult => {
    const cluster = holdingOf(object);
    return { ...base, outcome, ...(message ? { message } : {}), ...(mirror ? { mirror } : {}), ...(cluster ? { cluster } : {}) };
  };

  let fetched: Fetched[];
  try {
    live = await options.kube.get(output.object);
    fetched = await Promise.all(sources.map((s) => fetchOutput(s, job, output)));
  } catch (err) {
    if (err instanceof FetchError || err instanceof KubeError) return result('failed', err.message);
    throw err;
  }
  const [first] = fetched;
  const served: HoldingReport = {
    contentSha256: first.contentSha256,
    ...(first.generation !== undefined ? { generation: first.generation } : {}),
    ...(first.expires ? { expires: first.expires } : {}),
  };
  let parsed: unknown;
  try {
    parsed = YAML.parse(first.body.toString('utf8'));
  } catch (err) {
    return result('refused', `${first.url} answered something that is not YAML: ${err instanceof Error ? err.message : String(err)}`, served);
  }
  const object = objectSchema.safeParse(parsed);
  if (!object.success) return result('refused', `${first.url} answered no Kubernetes object (apiVersion, kind, metadata.name)`, served);
  const doc = object.data;
  const versions = doc.metadata.annotations ?? {};
  const rootVersion = intOf(versions[`${ANNOTATION}/root-version`]);
  const timestampVersion = intOf(versions[`${ANNOTATION}/timestamp-version`]);
  if (rootVersion !== undefined) served.rootVersion = rootVersion;
  if (timestampVersion !== undefined) served.timestampVersion = timestampVersion;
  const digests = new Set(fetched.map((f) => f.contentSha256));
  if (digests.size > 1) {
    // Replicas that share nothing converge within their sync jitter; applying one then another could move the cluster back and forth.
    const which = fetched.map((f) => `${f.url} ${f.contentSha256.slice(0, 12)}`).join(', ');
    return result('waiting', `the replicas do not agree yet (${which}): the cluster keeps what it holds until they do`, served);
  }
  const wrong = mismatch(doc, output);
  if (wrong) return result('refused', wrong, served);
  const held = holdingOf(live);
  if (held?.contentSha256 === first.contentSha256) return result('unchanged', undefined, served);
  if (!live && isPatchOnly(output.format)) return result('failed', `${describeObject(output.object)} does not exist: it is a patch of an object the consumer's installation creates`, served);
  const back = live && rollback(live, doc);
  if (back) return result('refused', back, served);
  if (options.dryRun)
    return result(
      'would-apply',
      held ? `the cluster holds content ${held.contentSha256.slice(0, 12)}, the mirror serves ${first.contentSha256.slice(0, 12)}` : 'not applied by refresh-cluster yet',
      served,
    );

  const body = { ...doc, metadata: { ...doc.metadata, annotations: { ...(doc.metadata.annotations ?? {}), [CONTENT_ANNOTATION]: first.contentSha256 } } };
  try {
    const applied = await options.kube.apply(output.object, body, job.fieldManager);
    return result('applied', live ? `was ${held ? held.contentSha256.slice(0, 12) : 'not applied by refresh-cluster'}` : 'created', served, applied);
  } catch (err) {
    if (err instanceof KubeError) return result('failed', err.message, served);
    throw err;
  }
}

async function deliver(url: string, job: Job, report: ClusterReport, token: string): Promise<ReportDelivery> {
  const target = `${url}/api/v1/repositories/${encodeURIComponent(job.repository)}/cluster-reports`;
  try {
    const res = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'error',
    });
    const text = (await res.text()).slice(0, 300);
    return res.ok ? { url, ok: true, message: 'reported' } : { url, ok: false, message: `${res.status} ${text}` };
  } catch (err) {
    return { url, ok: false, message: (err as Error).message };
  }
}

export async function refreshCluster(job: Job, options: RefreshOptions): Promise<RefreshResult> {
  const now = options.now ?? (() => new Date());
  let sources: string[] | undefined;
  let unreachable: string | undefined;
  try {
    sources = await sourceUrls(job);
  } catch (err) {
    if (!(err instanceof FetchError)) throw err;
    unreachable = err.message;
  }
  const outputs: OutputResult[] = [];
  // One at a time: a handful of small objects, and a clear order in the API server's audit log.
  for (const output of job.outputs) {
    if (!sources) {
      const { object } = output;
      outputs.push({
        format: output.format,
        query: output.query,
        object: { apiVersion: object.apiVersion, kind: object.kind, ...(object.namespace ? { namespace: object.namespace } : {}), name: object.name },
        outcome: 'failed',
        message: unreachable,
      });
      continue;
    }
    outputs.push(await refreshOne(job, output, sources, options));
  }
  const at = now().toISOString();
  const reports: ReportDelivery[] = [];
  if (!options.dryRun && job.report && options.reportToken) {
    const report: ClusterReport = { cluster: job.cluster, at, outputs: outputs.filter((o): o is OutputReport => o.outcome !== 'would-apply') };
    for (const url of sources ?? [job.mirror]) reports.push(await deliver(url, job, report, options.reportToken));
  }
  return { cluster: job.cluster, at, dryRun: options.dryRun === true, outputs, reports };
}

/** Every output applied or unchanged (or waiting for replicas to agree), every report delivered. */
export function refreshSucceeded(r: RefreshResult): boolean {
  const fine: OutputResult['outcome'][] = r.dryRun ? ['unchanged', 'waiting'] : ['applied', 'unchanged', 'waiting'];
  return r.outputs.every((o) => fine.includes(o.outcome)) && r.reports.every((d) => d.ok);
}

/** One line per output and per report, as the CronJob's log shows them. */
export function formatRefresh(r: RefreshResult): string {
  const lines = r.outputs.map((o) => {
    const object = `${o.object.kind} ${o.object.namespace ? `${o.object.namespace}/` : ''}${o.object.name}`;
    const held = o.cluster
      ? `; holds generation ${o.cluster.generation ?? '?'}${o.cluster.timestampVersion !== undefined ? ` (timestamp v${o.cluster.timestampVersion})` : ''}${o.cluster.expires ? `, valid until ${o.cluster.expires}` : ''}`
      : '';
    return `${object}: ${o.outcome}${o.message ? `: ${o.message}` : ''}${held}`;
  });
  for (const d of r.reports) lines.push(`report to ${d.url}: ${d.ok ? 'delivered' : `FAILED: ${d.message}`}`);
  return lines.join('\n') + '\n';
}
