import type { AdminAccountConfig } from '../config/node-config.js';
import type { Logger } from '../logging/logger.js';
import { createBasicAuthenticator } from '../net/http/basic-auth.js';
import { readPasswordHashFile } from '../net/http/password.js';
import { HttpRouter, type HttpRouterOptions } from '../net/http/router.js';

/**
 * Creates the router of an appliance's admin HTTPS API: every route needs
 * the admin account's HTTP Basic credentials unless it sets its own
 * authenticator. Without an account in the node config, every admin
 * request gets 401.
 */
export async function createAdminRouter(deps: { logger: Logger }, account: AdminAccountConfig | undefined, options: Pick<HttpRouterOptions, 'afterHandler'> = {}): Promise<HttpRouter> {
  const logger = deps.logger.child({ component: 'admin-api' });
  const passwordHash = account === undefined ? undefined : await readPasswordHashFile(account.passwordHashFile, 'admin.passwordHashFile');
  const authenticator = createBasicAuthenticator({ logger }, account === undefined || passwordHash === undefined ? undefined : { username: account.username, passwordHash });
  if (account === undefined) logger.warn('no admin account in the node config; every admin API request gets 401');
  return new HttpRouter({ logger }, { defaultAuth: authenticator, ...options });
}
