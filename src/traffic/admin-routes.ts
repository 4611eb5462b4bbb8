import { ADMIN_PATHS, type LeaveReport, type NodeView } from '../admin/api-types.js';
import { HttpError, type HttpRouter } from '../net/http/router.js';
import type { StateStore } from './state-store.js';
import type { TrafficNode } from './traffic-node.js';

/** Builds the reply of `GET /api/node`: this traffic node's own view of its cluster membership. */
export function nodeView(node: TrafficNode, store: StateStore): NodeView {
  const status = node.status();
  return {
    name: status.name,
    role: 'traffic',
    applianceGuid: status.guid,
    appliedConfigVersion: status.appliedConfigVersion,
    inCluster: store.config !== undefined,
    accepting: status.accepting,
    masterConnected: status.masterConnected,
  };
}

/**
 * Mounts the node's own admin pages: `GET /api/node` and
 * `POST /api/node/leave`, which removes the node from its cluster when the
 * master could not tell it of a disband.
 */
export function mountNodeRoutes(router: HttpRouter, node: TrafficNode, store: StateStore): void {
  router.get(ADMIN_PATHS.node, () => ({ status: 200, body: nodeView(node, store) }));
  router.post(ADMIN_PATHS.leave, async (context) => {
    if (store.config === undefined) {
      throw new HttpError(409, { error: `${node.status().name} holds no cluster configuration, so it is in no cluster; nothing to leave` });
    }
    const forgottenVersion = await node.leaveCluster();
    context.logger.info({ principal: context.principal, forgottenVersion }, 'node left its cluster');
    const report: LeaveReport = { name: node.status().name, forgottenVersion };
    return { status: 200, body: report };
  }, { body: 'none' });
}
