import { errorMessage } from '../util/errors.js';
import type { Cluster } from './cluster.js';

/** Time every traffic node gets to report its master link connected, after the master reported the cluster formed. */
export const DEFAULT_CONNECTED_TIMEOUT_MS = 30_000;
const POLL_MS = 200;
const REQUEST_TIMEOUT_MS = 5_000;

/**
 * Waits until every traffic node reports itself connected to the master
 * (its own `status` reply has masterConnected set). The master's side is checked by
 * startCluster already. Throws naming the nodes still not connected.
 */
export async function waitForEveryNodeConnected(cluster: Cluster, timeoutMs = DEFAULT_CONNECTED_TIMEOUT_MS): Promise<void> {
  const names = cluster.info.nodes.filter((node) => node.role === 'traffic').map((node) => node.name);
  const deadline = Date.now() + timeoutMs;
  let waiting = names;
  let lastError = '';

  while (Date.now() < deadline) {
    const replies = await Promise.all(
      waiting.map(async (name) => {
        try {
          const reply = (await cluster.request(name, 'status', {}, REQUEST_TIMEOUT_MS)) as { masterConnected?: boolean };
          return reply.masterConnected === true ? undefined : name;
        } catch (error) {
          lastError = `${name}: ${errorMessage(error)}`;
          return name;
        }
      }),
    );
    waiting = replies.filter((name): name is string => name !== undefined);
    if (waiting.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`traffic node(s) ${waiting.join(', ')} did not report a connected master link within ${timeoutMs} ms${lastError === '' ? '' : ` (last error: ${lastError})`}`);
}
