// Sources of the `atlas-sim route` explanation: the primary master of a
// running cluster (the backup when the primary does not respond), or a
// chooser built offline from a topology file.
import { randomBytes } from 'node:crypto';
import { AdminApiError, type AdminClient } from '../admin/admin-client.js';
import { ADMIN_PATHS } from '../admin/api-types.js';
import type { ClusterInfo } from '../config/cluster-info.js';
import { TRAFFIC_HOSTNAME } from '../config/constants.js';
import type { Topology } from '../config/topology.js';
import { masterCandidates } from '../launcher/master-candidates.js';
import { silentLogger } from '../logging/logger.js';
import { resolveClusterAddresses } from '../net/lookup.js';
import { errorMessage } from '../util/errors.js';
import type { MasterRouteExplanation } from '../master/http/route-routes.js';
import { checkResolver, createRng, explainRoute, NodeChooser, type DelegationView, type RouteExplanation, type RouteQuery } from '../routing/index.js';
import { describeAdminError, openAdminTarget } from './admin-target.js';

/** An explanation with where it came from. */
export type SourcedExplanation =
  | (MasterRouteExplanation & { source: 'cluster'; runDir: string })
  | (RouteExplanation & { source: 'topology'; topologyFile: string; seed: string; seedSource: 'option' | 'topology' | 'random' });

/** No master of the cluster responded; the message lists every attempt. */
export class RouteUnavailableError extends Error {
  override name = 'RouteUnavailableError';
}

/**
 * Asks the primary master at the site hostname, then each master by its own
 * hostname, for the explanation. A master that cannot be reached, or the
 * backup (409), is skipped. Throws AdminApiError for a rejected query and
 * RouteUnavailableError when no master responded.
 */
export async function explainOnCluster(runDir: string | undefined, query: RouteQuery): Promise<SourcedExplanation> {
  const target = await openAdminTarget(runDir);
  const attempts = masterCandidates(target.info).map((candidate) => ({
    label: candidate.label,
    client: (): AdminClient => (candidate.name === undefined ? target.site : target.node(candidate.name)),
  }));
  const failures: string[] = [];
  for (const attempt of attempts) {
    const client = attempt.client();
    try {
      const explanation = await client.get<MasterRouteExplanation>(routePath(query));
      if (explanation.delegation?.method === 'a-record' && query.resolver === undefined) {
        explanation.delegation = await resolveAsClient(target.info, query.clientIp, explanation.delegation);
      }
      return { ...explanation, source: 'cluster', runDir: target.info.runDir };
    } catch (error) {
      if (error instanceof AdminApiError && error.status !== 409 && error.status !== 404) throw error;
      failures.push(`${attempt.label}: ${describeAdminError(error)}`);
    } finally {
      client.close();
    }
  }
  throw new RouteUnavailableError(
    `no master responded to the route explanation request; check that the cluster runs with \`atlas-sim status\`, or explain offline with --topology FILE:\n  ${failures.join('\n  ')}`,
  );
}

/**
 * Asks the cluster DNS server for the shared traffic hostname from the
 * client's own source address, as the client does, because the server picks
 * the resolver view by source address. Keeps the master's text when the
 * address cannot be bound or the lookup fails, and adds the reason.
 */
async function resolveAsClient(info: ClusterInfo, clientIp: string, delegation: DelegationView): Promise<DelegationView> {
  let addresses: string[];
  try {
    addresses = await resolveClusterAddresses({ server: info.dns, localAddress: clientIp, logger: silentLogger() }, TRAFFIC_HOSTNAME);
  } catch (error) {
    return { ...delegation, text: `${delegation.text} (looking up ${TRAFFIC_HOSTNAME} from ${clientIp} failed: ${errorMessage(error)})` };
  }
  const names = addresses.map((address) => info.nodes.find((node) => node.role === 'traffic' && node.address === address)?.name ?? address);
  const first = names[0];
  return {
    ...delegation,
    text: `the cluster DNS server resolves ${TRAFFIC_HOSTNAME} for source ${clientIp} (resolver view ${delegation.resolver ?? 'default'}) to ${names.join(', ') || 'no address'}; the client connects to the first that accepts`,
    ...(first === undefined ? {} : { node: first }),
  };
}

function routePath(query: RouteQuery): string {
  const parameters = new URLSearchParams({ ip: query.clientIp, utcOffsetMinutes: String(query.utcOffsetMinutes), at: query.at.toISOString() });
  if (query.resolver !== undefined) parameters.set('resolver', query.resolver);
  return `${ADMIN_PATHS.route}?${parameters.toString()}`;
}

/**
 * Explains the choice offline, as a freshly started cluster of the topology
 * would make it: every traffic node online and on the current configuration,
 * accepting as the topology sets it. A tie shows the first draw of the seed.
 * Throws RouteQueryError for an unknown resolver.
 */
export function explainOnTopology(topology: Topology, topologyFile: string, query: RouteQuery, seedOption: string | undefined): SourcedExplanation {
  const resolvers = topology.resolvers ?? [];
  checkResolver(query.resolver, resolvers.map((view) => view.name), '--resolver');
  let seedSource: 'option' | 'topology' | 'random' = 'random';
  if (seedOption !== undefined) seedSource = 'option';
  else if (topology.seed !== undefined) seedSource = 'topology';
  const seed = seedOption ?? topology.seed ?? randomBytes(4).toString('hex');
  const rng = createRng(seed);
  const chooser = new NodeChooser({ rng }, { method: topology.method });
  chooser.setNodes(topology.trafficNodes.map((node) => ({ name: node.name, online: true, accepting: node.accepting, configCurrent: true, prefixes: node.prefixes, timezone: node.timezone })));
  const network = { resolvers, ...(topology.anycast === undefined ? {} : { anycast: topology.anycast }) };
  const explanation = explainRoute(chooser, topology.method, topology.trafficNodes, query, rng.fork(), network);
  return { ...explanation, source: 'topology', topologyFile, seed, seedSource };
}
