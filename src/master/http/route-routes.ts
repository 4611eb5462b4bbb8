import type { DelegationConfig } from '../../config/delegation-config.js';
import { ADMIN_PATHS } from '../../admin/api-types.js';
import { badRequest, type HttpRouter } from '../../net/http/router.js';
import { checkResolver, parseOffsetMinutes, parseRouteIp, RouteQueryError, type RouteExplanation, type RouteNetwork } from '../../routing/index.js';
import type { NodeSelection } from '../node-selection.js';

/** Reply of `GET /api/route`: the explanation and the master that gave it. */
export interface MasterRouteExplanation extends RouteExplanation {
  /** Master whose live chooser built the explanation. */
  answeredBy: string;
  /** Synced configuration version the chooser uses. */
  configVersion: number;
  /** Seed of the master's generator, so a run's choices can be replayed. */
  seed: string;
}

export interface RouteRoutesDeps {
  selection: NodeSelection;
  masterName: string;
  seed: string;
  /** Resolver views and anycast routes of the cluster, for the `resolver` parameter and the DNS and anycast methods. */
  network: RouteNetwork;
}

/**
 * Mounts `GET /api/route?ip=A.B.C.D&utcOffsetMinutes=N[&resolver=NAME][&at=ISO]`
 * on the primary master: the route explanation from the chooser that sessions
 * use, with the live online, accepting and configuration state of every node.
 */
export function mountRouteRoutes(router: HttpRouter, deps: RouteRoutesDeps): void {
  router.get(ADMIN_PATHS.route, (context) => {
    let explanation: RouteExplanation;
    try {
      const clientIp = parseRouteIp(context.query.get('ip'), 'ip');
      const utcOffsetMinutes = parseOffsetMinutes(context.query.get('utcOffsetMinutes'), 'utcOffsetMinutes');
      const resolver = checkResolver(context.query.get('resolver') ?? undefined, deps.network.resolvers.map((view) => view.name), 'resolver');
      const at = parseMoment(context.query.get('at'));
      explanation = deps.selection.explain({ clientIp, utcOffsetMinutes, at, ...(resolver === undefined ? {} : { resolver }) }, deps.network);
    } catch (error) {
      if (error instanceof RouteQueryError) throw badRequest(error.field, error.value, error.reason);
      throw error;
    }
    context.logger.info({ clientIp: explanation.clientIp, utcOffsetMinutes: explanation.utcOffsetMinutes, kind: explanation.kind, trafficNode: explanation.node, reason: explanation.reason.text }, 'route explained');
    const body: MasterRouteExplanation = { ...explanation, answeredBy: deps.masterName, configVersion: deps.selection.syncedConfigVersion, seed: deps.seed };
    return { status: 200, body };
  });
}

function parseMoment(value: string | null): Date {
  if (value === null || value === '') return new Date();
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw new RouteQueryError('at', value, 'is not an ISO 8601 time; give one such as 2026-07-01T12:00:00Z, or leave it out for now');
  return at;
}

/** Takes the resolver views and anycast routes from the master's delegation settings; none without them. */
export function routeNetwork(delegation: DelegationConfig | undefined): RouteNetwork {
  if (delegation === undefined) return { resolvers: [] };
  const resolvers = delegation.resolvers.map((view) => ({ name: view.name, sources: view.sources }));
  return { resolvers, ...(delegation.anycast === undefined ? {} : { anycast: { routes: delegation.anycast.routes, defaultNode: delegation.anycast.defaultNode } }) };
}
