// Shared parts of the CLI commands that call an appliance's admin API:
// finding the cluster from its run folder, building an HTTPS client that
// verifies the appliance against the cluster CA, and printing results.
import { AdminApiError, AdminClient } from '../admin/admin-client.js';
import { readAdminCredentials } from '../admin/credentials.js';
import { loadClusterCa } from '../client/connector.js';
import type { ClusterInfo } from '../config/cluster-info.js';
import { findRun, NoRunningClusterError } from '../launcher/run-lookup.js';
import { silentLogger } from '../logging/logger.js';
import { createClusterLookup } from '../net/lookup.js';
import { formatProblemValue } from '../net/http/router.js';
import { ConfigError, errorMessage } from '../util/errors.js';

/** Exit codes of the admin commands. */
export const EXIT_OK = 0;
/** The appliance rejected the request, could not be reached, or some node failed. */
export const EXIT_FAILED = 1;
/** The command line is invalid. */
export const EXIT_USAGE = 2;

/** Command-line spelling of the admin API's request fields, so errors name the flag a person typed. */
const FLAG_OF_FIELD: Record<string, string> = {
  name: '--name',
  publicAddress: '--public-address',
  internalAddress: '--internal-address',
  model: '--model',
  accepting: '--accepting',
  prefixes: '--prefix',
  timezone: '--timezone',
  srvPriority: '--srv-priority',
  srvWeight: '--srv-weight',
  clusterName: '--cluster-name',
  method: 'method',
  preSharedKey: '--key-file',
  enabled: '--enabled',
  stunRole: '--stun-role',
  publicStunServer: '--public-stun-server',
  forceRelay: '--force-relay',
  timeoutMs: '--timeout-ms',
};

/** A running cluster as the CLI finds it: its cluster.json, CA and admin credentials. */
export interface AdminTarget {
  info: ClusterInfo;
  /** Client of the primary master at the site hostname. */
  site: AdminClient;
  /** Client of one appliance's own admin API, by name. */
  node(name: string): AdminClient;
}

/**
 * Finds a cluster by its run folder (`--run-dir`, else the newest running
 * cluster under runs/) and builds admin clients for it. Throws ConfigError
 * naming the missing file or option.
 */
export async function openAdminTarget(runDir: string | undefined): Promise<AdminTarget> {
  const run = await findRun({ runDir });
  const info = run.info;
  const ca = await loadClusterCa(info.certsDir);
  const credentials = await readAdminCredentials(run.dir);
  const lookup = createClusterLookup({ server: info.dns, logger: silentLogger() });
  const client = (host: string, port: number): AdminClient => new AdminClient({ host, port, ca, lookup, credentials });

  return {
    info,
    site: client(info.site.host, info.site.port),
    node(name: string): AdminClient {
      const entry = info.nodes.find((node) => node.name === name && (node.role === 'master' || node.role === 'traffic'));
      if (entry === undefined) {
        const known = info.nodes.filter((node) => node.role === 'master' || node.role === 'traffic').map((node) => node.name);
        throw new ConfigError(`no appliance named "${name}" in ${run.dir}; appliances: ${known.join(', ')}`);
      }
      return client(entry.hostname, entry.ports.public ?? info.site.port);
    },
  };
}

/** Describes a failed admin request for people: the field with its command-line flag, the value and the reason. */
export function describeAdminError(error: unknown): string {
  if (!(error instanceof AdminApiError)) return errorMessage(error);
  const { problem } = error;
  const problems = problem.problems ?? (problem.field === undefined ? [] : [{ field: problem.field, value: problem.value, reason: problem.reason ?? '' }]);
  if (problems.length === 0) return `${problem.error} (HTTP ${error.status})`;
  return describeFieldProblems(problems);
}

/** Describes invalid request fields, one a line: the field with its command-line flag, the value and the reason. */
export function describeFieldProblems(problems: readonly { field: string; value: unknown; reason: string }[]): string {
  return problems
    .map((entry) => {
      const base = entry.field.replace(/\[\d+\]$/, '');
      const flag = FLAG_OF_FIELD[base];
      const label = flag === undefined || flag === entry.field ? entry.field : `${entry.field} (${flag})`;
      return `${label}: ${formatProblemValue(entry.value)} ${entry.reason}`;
    })
    .join('\n');
}

/** Prints an admin command's failure to stderr, or as JSON with --json, and returns the exit code. */
export function reportFailure(command: string, error: unknown, json: boolean): number {
  if (error instanceof ConfigError && !(error instanceof NoRunningClusterError)) {
    console.error(`atlas-sim ${command}: ${error.message}`);
    return EXIT_USAGE;
  }
  if (json) {
    const body = error instanceof AdminApiError ? { status: error.status, ...error.problem } : { error: errorMessage(error) };
    console.log(JSON.stringify(body, null, 2));
  } else {
    console.error(`atlas-sim ${command}: ${describeAdminError(error)}`);
  }
  return EXIT_FAILED;
}

/** Prints a value as indented JSON. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Formats a time as `YYYY-MM-DD HH:MM:SS UTC`. */
export function formatUtc(atMs: number): string {
  return `${new Date(atMs).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
