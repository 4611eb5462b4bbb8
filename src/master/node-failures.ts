import type { Logger } from '../logging/logger.js';
import type { ApplianceLinks } from './appliance-links.js';
import type { SessionBroker } from './session-broker.js';

export interface NodeFailureDeps {
  logger: Logger;
  links: ApplianceLinks;
  broker: SessionBroker;
  /** Sends a timeline event to the launcher. */
  report: (event: string, data: Record<string, unknown>) => void;
}

/**
 * Follows every traffic node's online state. When a node goes offline, the
 * sessions with a connection through it end for both participants, because
 * their streams cannot continue. Such a session must be restarted, and the
 * chooser already skips offline nodes. Reports `node-offline` and
 * `node-online` to the launcher on each transition.
 */
export function watchNodeFailures(deps: NodeFailureDeps): void {
  const online = new Map<string, boolean>();
  deps.links.on('change', (state) => {
    const was = online.get(state.name) ?? false;
    online.set(state.name, state.online);
    if (was === state.online) return;
    if (state.online) {
      deps.report('node-online', { node: state.name });
      return;
    }
    const reason = `traffic node ${state.name} went offline (${state.offlineReason || 'appliance link closed'}); start a new session`;
    const ended = deps.broker.endSessionsThrough(state.name, reason);
    deps.report('node-offline', { node: state.name, reason: state.offlineReason, sessionsEnded: ended.length });
    if (ended.length > 0) deps.logger.warn({ node: state.name, sessions: ended }, 'sessions through the offline node ended');
  });
}
