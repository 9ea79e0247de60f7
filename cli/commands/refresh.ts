import { InvalidArgumentError, Option, type Command } from 'commander';
import { ConfigError } from '../../config/config';
import { loadJob } from '../../refresh/job';
import { inClusterConnection, KubeClient } from '../../refresh/kube';
import { DEFAULT_SERVICE_ACCOUNT, rbacYaml, type ServiceAccountRef } from '../../refresh/rbac';
import { formatRefresh, refreshCluster, refreshSucceeded } from '../../refresh/refresh';
import { EXIT } from '../options';
import { printJson } from '../report';
import { systemCode } from '../../lib/errors';

type RefreshCliOptions = { job: string; dryRun?: boolean; rbac?: boolean; serviceAccount?: ServiceAccountRef; json?: boolean };

function parseServiceAccount(value: string): ServiceAccountRef {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(value);
  if (!m) throw new InvalidArgumentError('must be NAMESPACE/NAME');
  return { namespace: m[1], name: m[3] };
}

/**
 * `tuf-mirror refresh-cluster --job FILE`: what the CronJob of deploy/kubernetes/refresh runs (the
 * tuf-mirror image, the pod's service account). `--dry-run` tells whether the cluster lags;
 * `--rbac` prints the RBAC the job file needs.
 */
export function registerRefresh(program: Command): void {
  program
    .command('refresh-cluster')
    .description('apply each output a job file names from the mirror to this cluster, only when its content changed; report back (deploy/kubernetes/refresh)')
    .addOption(new Option('--job <file>', 'the job file: mirror, repository, cluster, outputs').env('TUF_MIRROR_REFRESH_JOB').makeOptionMandatory())
    .option('--dry-run', 'compare only: apply and report nothing; exit 1 when an object lags the mirror')
    .option('--rbac', 'print the ClusterRole, Roles and bindings the job needs (exactly its objects), and exit')
    .option('--service-account <namespace/name>', `--rbac: the job's service account (default ${DEFAULT_SERVICE_ACCOUNT.namespace}/${DEFAULT_SERVICE_ACCOUNT.name})`, parseServiceAccount)
    .option('--json', 'print the result as JSON')
    .action(async (opts: RefreshCliOptions) => {
      const job = loadJob(opts.job);
      if (opts.rbac) {
        process.stdout.write(rbacYaml(job, opts.serviceAccount ?? DEFAULT_SERVICE_ACCOUNT));
        process.exitCode = EXIT.ok;
        return;
      }
      const connection = job.kubernetes ?? inClusterConnection();
      if (!connection) throw new ConfigError('INVALID_CONFIG', 'no Kubernetes API: run refresh-cluster in a pod (its service account), or name one under kubernetes: in the job file');
      let kube: KubeClient;
      try {
        kube = new KubeClient(connection);
      } catch (err) {
        throw new ConfigError(
          'INVALID_CONFIG',
          `cannot read the service account's token or CA (${systemCode(err) ?? (err as Error).message}): ${connection.tokenFile}${connection.caFile ? `, ${connection.caFile}` : ''}`,
        );
      }
      // Set but empty is unset.
      const envToken = process.env.TUF_MIRROR_REPORT_TOKEN;
      const reportToken = envToken === '' ? undefined : envToken;
      if (job.report && !reportToken && !opts.dryRun)
        process.stderr.write('tuf-mirror: warning: TUF_MIRROR_REPORT_TOKEN is not set: nothing is reported to the mirror (its watch cannot tell whether this cluster lags)\n');
      const result = await refreshCluster(job, { kube, dryRun: opts.dryRun, reportToken });
      if (opts.json) printJson(result);
      else process.stdout.write(formatRefresh(result));
      process.exitCode = refreshSucceeded(result) ? EXIT.ok : EXIT.failed;
    });
}
