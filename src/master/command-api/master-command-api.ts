import type { ServerResponse } from 'node:http';
import type { NodeProcessConfig } from '../../config/node-config.js';
import type { Logger } from '../../logging/logger.js';
import type { ClusterConfig } from '../../protocol/messages.js';
import type { ApplianceLinks } from '../appliance-links.js';
import type { ClientRegistry } from '../client-registry.js';
import type { SessionBroker } from '../session-broker.js';
import type { SessionKeyStore } from '../session-keys.js';
import { AccessTokenStore } from './access-tokens.js';
import { ApiAccountStore } from './api-accounts.js';
import { CommandApi } from './command-api.js';
import type { ApplianceRef } from './connected-clients.js';
import { checkApplianceHealth } from './health.js';
import { generateSessionKeyAction } from './session-key-action.js';

export interface MasterCommandApiDeps {
  logger: Logger;
  registry: ClientRegistry;
  broker: SessionBroker;
  links: ApplianceLinks;
  /** Configuration as last synced: traffic node hostnames and the failover pair. */
  syncedConfig: () => ClusterConfig;
  /** Keys of the session generation API, which the control channel redeems. */
  sessionKeys: SessionKeyStore;
  /** This master's failover role; from the synced configuration's members when absent. */
  failoverRole?: () => 'none' | 'primary' | 'backup';
}

/** Builds the master's command API: loads the API accounts from the data folder and the node config. */
export async function createMasterCommandApi(deps: MasterCommandApiDeps, config: NodeProcessConfig, guid: string): Promise<CommandApi> {
  const logger = deps.logger.child({ component: 'command-api' });
  const accounts = await ApiAccountStore.open({ logger }, { dataDir: config.dataDir, seeds: config.apiAccounts });
  const master: ApplianceRef = { guid, name: config.name, hostname: config.public.host, role: 'primary' };

  const onlineTrafficNodes = (): ApplianceRef[] => {
    const members = deps.syncedConfig().members;
    return deps.links
      .states()
      .filter((state) => state.online && state.applianceGuid !== '')
      .map((state) => ({ guid: state.applianceGuid, name: state.name, hostname: members.find((member) => member.name === state.name)?.publicHost ?? '', role: 'traffic' }));
  };

  const api = new CommandApi({
    logger,
    accounts,
    tokens: new AccessTokenStore(),
    clients: {
      master,
      onlineTrafficNodes,
      clients: () => deps.registry.list(),
      session: (sessionId) => deps.broker.get(sessionId),
    },
    health: () =>
      checkApplianceHealth({
        dataDir: config.dataDir,
        guid,
        hostname: config.public.host,
        failoverRole: deps.failoverRole?.() ?? (deps.syncedConfig().members.some((member) => member.role === 'backup') ? 'primary' : 'none'),
      }),
  });
  api.addAction('generate_session_key', generateSessionKeyAction(deps.sessionKeys));
  return api;
}

/** Sends 404 for a request no handler took. */
export function sendNotFound(response: ServerResponse): void {
  response.writeHead(404, { 'content-type': 'text/plain; charset=UTF-8', connection: 'close' }).end('not found\n');
}
