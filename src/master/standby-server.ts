import type { IncomingMessage, ServerResponse } from 'node:http';
import { createAdminRouter } from '../admin/admin-router.js';
import { ADMIN_PATHS } from '../admin/api-types.js';
import { SITE_HOSTNAME } from '../config/constants.js';
import { bindPort } from '../config/node-config.js';
import { mountSecurityRoutes } from '../admin/security-routes.js';
import { HttpError, type HttpRouter } from '../net/http/router.js';
import { WsServer } from '../net/ws-server.js';
import { rejectCommandApiRequest } from './command-api/backup-refusal.js';
import type { MasterContext } from './primary-services.js';

/**
 * The backup master's public listener: its own Security page, so the
 * pre-shared key can be set on it as on every appliance, and a 409 naming
 * the primary for every request of the cluster page and of the command API
 * (token endpoint included). It accepts no control channel, so a
 * client that reaches a backup fails to connect and tries the site hostname
 * again. The primary services take the same address and port after a takeover.
 */
export class StandbyServer {
  private server: WsServer | undefined;

  constructor(
    private readonly context: MasterContext,
    /** Name of the primary this backup follows, for the 409 message; empty when none is linked. */
    private readonly primaryName: () => string,
  ) {}

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const { config, logger, certs, keys } = this.context;
    const router = await createAdminRouter({ logger }, config.admin);
    mountSecurityRoutes(router, keys);
    this.mountClusterRedirect(router);
    const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
      if (!rejectCommandApiRequest(request, response, this.notPrimaryMessage('command API'))) router.handle(request, response);
    };
    const server = new WsServer({ logger }, { host: config.public.address, port: bindPort(config.public), tls: { cert: certs.cert, key: certs.key }, paths: {}, onRequest });
    await server.listen();
    this.server = server;
    logger.info({ address: config.public.address, port: config.public.port }, 'backup master listening for its admin API only');
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }

  private mountClusterRedirect(router: HttpRouter): void {
    const reject = (): never => {
      throw new HttpError(409, { error: this.notPrimaryMessage('cluster') });
    };
    router.get(ADMIN_PATHS.cluster, reject);
    router.post(ADMIN_PATHS.cluster, reject);
    router.post(ADMIN_PATHS.clusterNodes, reject);
    router.patch(`${ADMIN_PATHS.clusterNodes}/:name`, reject);
    router.delete(`${ADMIN_PATHS.clusterNodes}/:name`, reject, { body: 'none' });
    router.put(ADMIN_PATHS.method, reject);
    router.post(ADMIN_PATHS.sync, reject, { body: 'none' });
    router.post(ADMIN_PATHS.disband, reject, { body: 'none' });
    router.get(ADMIN_PATHS.history, reject);
    router.get(ADMIN_PATHS.route, reject);
  }

  /** Message of a 409: this master is the backup, and where `kind` requests go instead. */
  private notPrimaryMessage(kind: string): string {
    const primary = this.primaryName();
    const destination = primary === '' ? 'the primary master' : `the primary master ${primary}`;
    return `master ${this.context.config.name} is the backup master; send ${kind} requests to ${destination} at the site hostname ${SITE_HOSTNAME}`;
  }
}
