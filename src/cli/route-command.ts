import { parseCommandLine } from '../util/argv.js';
import { AdminApiError } from '../admin/admin-client.js';
import { loadTopology } from '../config/topology-validation.js';
import { parseOffsetOption, parseRouteIp, type RouteQuery } from '../routing/index.js';
import { ConfigError, errorMessage } from '../util/errors.js';
import { describeAdminError } from './admin-target.js';
import { formatRouteExplanation } from './route-format.js';
import { explainOnCluster, explainOnTopology, type SourcedExplanation } from './route-sources.js';

export const ROUTE_USAGE = `usage: atlas-sim route --ip A.B.C.D [options]

Explains which traffic node the rules pick for a client, and why: the prefix
that matched and its length, or the method, the candidates and how many tied.
No session is started. For a running cluster the primary master answers from
the chooser its sessions use, with every node's live online, accepting and
configuration state (the backup master answers once it has taken over). With
--topology the choice is made offline, as a freshly started cluster of that
topology would make it.

options:
  --ip A.B.C.D       client source address (required)
  --tz OFFSET        client UTC offset: ±HH:MM (+05:30), whole minutes east of
                     UTC (+540) or an IANA zone name (Asia/Tokyo); default: the
                     offset of this machine's time zone now, as a client started
                     here would report it
  --at TIME          ISO 8601 moment at which zones are evaluated (default: now)
  --resolver NAME    resolver view the client uses under the DNS methods
  --run-dir DIR      run folder of the cluster (default: the newest running cluster under runs/)
  --topology FILE    explain offline from a topology file instead of a running cluster
  --seed S           with --topology: seed of the tie pick (default: the topology's)
  --json             print the explanation as JSON
  --help             print this text

Offsets are minutes east of Greenwich: Asia/Tokyo is +540, America/New_York
in winter -300.
`;

interface RouteArgs {
  query: RouteQuery;
  runDir?: string;
  topologyFile?: string;
  seed?: string;
  json: boolean;
}

/** `atlas-sim route`: exit code 0 with an explanation, 1 when no master responded, 2 on invalid input. */
export async function main(argv: string[]): Promise<number> {
  let args: RouteArgs | 'help';
  try {
    args = parseRouteArgs(argv);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`atlas-sim route: ${error.message}`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(ROUTE_USAGE);
    return 0;
  }

  let explanation: SourcedExplanation;
  try {
    explanation = await explain(args);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`atlas-sim route: ${error.message}`);
      return 2;
    }
    if (error instanceof AdminApiError && error.status === 400) {
      console.error(`atlas-sim route: ${describeAdminError(error)}`);
      return 2;
    }
    console.error(`atlas-sim route: ${errorMessage(error)}`);
    return 1;
  }
  if (args.json) console.log(JSON.stringify(explanation, null, 2));
  else console.log(formatRouteExplanation(explanation).join('\n'));
  return 0;
}

/** Parses and checks the flags; throws ConfigError naming the flag, its value and the fix. */
export function parseRouteArgs(argv: string[]): RouteArgs | 'help' {
  let values;
  try {
    ({ values } = parseCommandLine({
      args: argv,
      strict: true,
      options: {
        ip: { type: 'string' },
        tz: { type: 'string' },
        at: { type: 'string' },
        resolver: { type: 'string' },
        'run-dir': { type: 'string' },
        topology: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new ConfigError(`${errorMessage(error)}; run \`atlas-sim route --help\` for the options`);
  }
  if (values.help === true) return 'help';

  const clientIp = parseRouteIp(values.ip, '--ip');
  const at = parseAt(values.at);
  // getTimezoneOffset() is positive west of Greenwich; routing counts east as positive.
  const utcOffsetMinutes = values.tz === undefined ? -at.getTimezoneOffset() : parseOffsetOption(values.tz, '--tz', at);
  if (values.topology !== undefined && values['run-dir'] !== undefined) {
    throw new ConfigError('--topology and --run-dir exclude each other; give --topology FILE to explain offline, or --run-dir DIR for a running cluster');
  }
  if (values.seed !== undefined && values.topology === undefined) {
    throw new ConfigError('--seed applies only with --topology; a running cluster uses the seed it was started with');
  }
  const query: RouteQuery = { clientIp, utcOffsetMinutes, at, ...(values.resolver === undefined ? {} : { resolver: values.resolver }) };
  return { query, runDir: values['run-dir'], topologyFile: values.topology, seed: values.seed, json: values.json === true };
}

async function explain(args: RouteArgs): Promise<SourcedExplanation> {
  if (args.topologyFile === undefined) return explainOnCluster(args.runDir, args.query);
  const { topology } = await loadTopology(args.topologyFile);
  return explainOnTopology(topology, args.topologyFile, args.query, args.seed);
}

function parseAt(value: string | undefined): Date {
  if (value === undefined) return new Date();
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw new ConfigError(`--at ${JSON.stringify(value)} is not an ISO 8601 time; give one such as 2026-07-01T12:00:00Z`);
  return at;
}
