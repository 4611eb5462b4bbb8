import type { parseArgs } from 'node:util';
import { parseCommandLine } from '../util/argv.js';
import { ADMIN_PATHS, type ClusterView, type DisbandReport, type HistoryEntryView, type PeerToPeerRequest, type SyncReport, type TrafficNodeRequest } from '../admin/api-types.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { checkTrafficNodeFields, type FieldProblem } from '../master/member-validation.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, describeFieldProblems, openAdminTarget, printJson, reportFailure } from './admin-target.js';
import { formatCluster, formatDisband, formatHistory, formatSync } from './cluster-format.js';

export const CLUSTER_USAGE = `usage: atlas-sim cluster <subcommand> [options] [--run-dir DIR]

Administers a running cluster through the primary master's admin HTTPS API,
as the cluster management page does. Every change raises the configuration
version and shows a "sync required" warning until \`cluster sync\`; the
accepting flag is the exception and takes effect at once.

subcommands:
  show                          the cluster, its warnings and every node's state
  create                        create the cluster with this master as primary:
                                  --name NAME --public-address HOST:PORT
                                  --internal-address HOST:PORT [--cluster-name NAME]
  add-node                      add a traffic node: --name, --public-address and
                                  --internal-address are required
  edit-node NODE                change the given fields of traffic node NODE
  remove-node NODE              remove traffic node NODE; the next sync no longer
                                includes it (the node keeps its configuration
                                until \`atlas-sim node leave\`)
  method NAME                   set the method for choosing traffic nodes:
                                  random, timezone, srv, a-record or anycast
  peer-to-peer                  change the peer-to-peer settings given:
                                  --enabled true|false, --stun-role public|master,
                                  --public-stun-server HOST:PORT,
                                  --force-relay true|false, --timeout-ms N
  sync                          Sync Now: push the configuration to every traffic node
  history [--limit N]           the status history, newest first
  disband                       remove every node from the cluster and notify each

traffic node fields (add-node, edit-node):
  --name NAME                   unique among all nodes, such as us-traffic3
  --public-address HOST:PORT    hostname clients use, never an IP address or the
                                site hostname
  --internal-address HOST:PORT  hostname other appliances use (may equal the public one)
  --model MODEL                 B300, B400 or Virtual (default Virtual)
  --accepting true|false        accepting new client connections (default true)
  --prefix LINE                 network address prefix a.b.c.d[/mask]; repeat for
                                each line
  --no-prefixes                 edit-node only: remove every prefix line
  --timezone ZONE               IANA zone such as Europe/Berlin or offset +05:30
  --srv-priority N, --srv-weight N   SRV record priority and weight (0-65535)

options of every subcommand:
  --run-dir DIR                 run folder of the cluster (default: the newest
                                running cluster under runs/)
  --json                        print the API's JSON reply instead of text
  --help                        print this text

Exit status: 0 on success, 1 when the master rejects the request, cannot be
reached, or a node failed the sync or was not told of its removal or of the
disband, 2 for an invalid command line. add-node and edit-node check each
node option as the master does (a missing or invalid address, model, prefix,
timezone or SRV number exits 2 before any request); the master alone checks
rules that span the cluster, such as a name already in use (exit 1).
`;

const OPTIONS = {
  'run-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
  name: { type: 'string' },
  'public-address': { type: 'string' },
  'internal-address': { type: 'string' },
  'cluster-name': { type: 'string' },
  model: { type: 'string' },
  accepting: { type: 'string' },
  prefix: { type: 'string', multiple: true },
  'no-prefixes': { type: 'boolean' },
  timezone: { type: 'string' },
  'srv-priority': { type: 'string' },
  'srv-weight': { type: 'string' },
  limit: { type: 'string' },
  enabled: { type: 'string' },
  'stun-role': { type: 'string' },
  'public-stun-server': { type: 'string' },
  'force-relay': { type: 'string' },
  'timeout-ms': { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** Flags each subcommand takes besides --run-dir, --json and --help. */
const FLAGS: Record<string, readonly string[]> = {
  show: [],
  create: ['name', 'public-address', 'internal-address', 'cluster-name'],
  'add-node': ['name', 'public-address', 'internal-address', 'model', 'accepting', 'prefix', 'timezone', 'srv-priority', 'srv-weight'],
  'edit-node': ['name', 'public-address', 'internal-address', 'model', 'accepting', 'prefix', 'no-prefixes', 'timezone', 'srv-priority', 'srv-weight'],
  'remove-node': [],
  method: [],
  'peer-to-peer': ['enabled', 'stun-role', 'public-stun-server', 'force-relay', 'timeout-ms'],
  sync: [],
  history: ['limit'],
  disband: [],
};
/** Number of positional arguments after the subcommand. */
const POSITIONALS: Record<string, number> = { 'edit-node': 1, 'remove-node': 1, method: 1 };

/** Converts a numeric flag; a value that is not a number is sent as given, so the master's 400 names it. */
function numberOrText(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  return /^-?\d+$/.test(text) ? Number(text) : text;
}

/** Converts --accepting; a value other than true or false is sent as given, so the master's 400 names it. */
function booleanOrText(text: string | undefined): boolean | string | undefined {
  if (text === 'true') return true;
  if (text === 'false') return false;
  return text;
}

/** Builds the peer-to-peer settings from the flags given; absent flags are left out. */
export function peerToPeerFields(values: Values): PeerToPeerRequest {
  const fields: Record<string, unknown> = {
    enabled: booleanOrText(values.enabled),
    stunRole: values['stun-role'],
    publicStunServer: values['public-stun-server'],
    forceRelay: booleanOrText(values['force-relay']),
    timeoutMs: numberOrText(values['timeout-ms']),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/** Builds the traffic node fields from the flags given; absent flags are left out. */
export function trafficNodeFields(values: Values): TrafficNodeRequest {
  const fields: Record<string, unknown> = {
    name: values.name,
    publicAddress: values['public-address'],
    internalAddress: values['internal-address'],
    model: values.model,
    accepting: booleanOrText(values.accepting),
    prefixes: values['no-prefixes'] === true ? [] : values.prefix,
    timezone: values.timezone,
    srvPriority: numberOrText(values['srv-priority']),
    srvWeight: numberOrText(values['srv-weight']),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

function parse(argv: string[]): { subcommand: string; values: Values; positionals: string[] } | 'help' {
  let parsed;
  try {
    parsed = parseCommandLine({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}; run \`atlas-sim cluster --help\` for the options`);
  }
  const [subcommand, ...positionals] = parsed.positionals;
  if (parsed.values.help === true || subcommand === undefined) return 'help';
  const allowed = FLAGS[subcommand];
  if (allowed === undefined) throw new ConfigError(`unknown subcommand "${subcommand}"; use one of ${Object.keys(FLAGS).join(', ')}`);

  for (const [flag, value] of Object.entries(parsed.values)) {
    if (value === undefined || ['run-dir', 'json', 'help'].includes(flag)) continue;
    if (!allowed.includes(flag)) throw new ConfigError(`--${flag} is not an option of \`cluster ${subcommand}\`; run \`atlas-sim cluster --help\``);
  }
  const expected = POSITIONALS[subcommand] ?? 0;
  if (positionals.length !== expected) {
    const argumentName = subcommand === 'method' ? 'the method name' : 'the traffic node name';
    throw new ConfigError(expected === 0 ? `\`cluster ${subcommand}\` takes no arguments, got ${positionals.join(' ')}` : `\`cluster ${subcommand}\` takes ${argumentName}, such as \`atlas-sim cluster ${subcommand} ${subcommand === 'method' ? 'timezone' : 'us-traffic1'}\``);
  }
  if (parsed.values['no-prefixes'] === true && parsed.values.prefix !== undefined) throw new ConfigError('--no-prefixes and --prefix contradict each other; pass one of them');
  return { subcommand, values: parsed.values, positionals };
}

/**
 * Applies the master's own rules for one traffic node to the flags, so that a
 * missing or invalid value is a command-line error (exit 2) before any
 * request. Rules that span the cluster, such as a name already in use, only
 * the master can check.
 */
function checkTrafficNodeFlags(subcommand: 'add-node' | 'edit-node', values: Values): void {
  const problems: FieldProblem[] = [];
  const required = subcommand === 'add-node' ? (['name', 'publicAddress', 'internalAddress'] as const) : [];
  checkTrafficNodeFields({ ...trafficNodeFields(values) }, required, problems);
  if (problems.length > 0) throw new ConfigError(describeFieldProblems(problems));
}

/** `atlas-sim cluster ...`: one request to the primary master's admin API per run. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    return reportFailure('cluster', error, false);
  }
  if (parsed === 'help') {
    process.stdout.write(CLUSTER_USAGE);
    return argv.includes('--help') ? EXIT_OK : EXIT_USAGE;
  }
  const { subcommand, values, positionals } = parsed;
  const json = values.json === true;
  try {
    if (subcommand === 'add-node' || subcommand === 'edit-node') checkTrafficNodeFlags(subcommand, values);
  } catch (error) {
    return reportFailure(`cluster ${subcommand}`, error, false);
  }
  try {
    const target = await openAdminTarget(values['run-dir']);
    return await run(subcommand, values, positionals, target.site, json);
  } catch (error) {
    return reportFailure(`cluster ${subcommand}`, error, json);
  }
}

async function run(subcommand: string, values: Values, positionals: string[], site: Awaited<ReturnType<typeof openAdminTarget>>['site'], json: boolean): Promise<number> {
  const show = (view: ClusterView): number => {
    if (json) printJson(view);
    else console.log(formatCluster(view).join('\n'));
    return EXIT_OK;
  };
  const argument = positionals[0] ?? '';

  switch (subcommand) {
    case 'show':
      return show(await site.get<ClusterView>(ADMIN_PATHS.cluster));
    case 'create': {
      const body = { name: values.name, publicAddress: values['public-address'], internalAddress: values['internal-address'], clusterName: values['cluster-name'] };
      return show(await site.post<ClusterView>(ADMIN_PATHS.cluster, body));
    }
    case 'add-node':
      return show(await site.post<ClusterView>(ADMIN_PATHS.clusterNodes, trafficNodeFields(values)));
    case 'edit-node':
      return show(await site.patch<ClusterView>(ADMIN_PATHS.clusterNode(argument), trafficNodeFields(values)));
    case 'remove-node':
      return show(await site.delete<ClusterView>(ADMIN_PATHS.clusterNode(argument)));
    case 'method':
      return show(await site.put<ClusterView>(ADMIN_PATHS.method, { method: argument }));
    case 'peer-to-peer':
      return show(await site.put<ClusterView>(ADMIN_PATHS.peerToPeer, peerToPeerFields(values)));
    case 'sync': {
      const report = await site.post<SyncReport>(ADMIN_PATHS.sync);
      if (json) printJson(report);
      else console.log(formatSync(report).join('\n'));
      return report.failed === 0 && report.removed.every((node) => node.notified) ? EXIT_OK : EXIT_FAILED;
    }
    case 'history': {
      const limit = values.limit === undefined ? '' : `?limit=${encodeURIComponent(values.limit)}`;
      const entries = await site.get<HistoryEntryView[]>(`${ADMIN_PATHS.history}${limit}`);
      if (json) printJson(entries);
      else console.log(formatHistory(entries).join('\n'));
      return EXIT_OK;
    }
    case 'disband': {
      const report = await site.post<DisbandReport>(ADMIN_PATHS.disband);
      if (json) printJson(report);
      else console.log(formatDisband(report).join('\n'));
      return report.unreachable.length === 0 ? EXIT_OK : EXIT_FAILED;
    }
    default:
      return EXIT_USAGE;
  }
}
