import { badRequest, type HttpRouter } from '../net/http/router.js';
import { describeInvalidPreSharedKey, type PreSharedKeyStore } from '../storage/pre-shared-key-store.js';
import { ADMIN_PATHS, type SecurityView } from './api-types.js';

/** Returns the Security page's view of the key: whether one is set and where it came from, never the key. */
export function securityView(keys: PreSharedKeyStore): SecurityView {
  const info = keys.info;
  return { preSharedKeySet: keys.key.length > 0, source: info.source, ...(info.changedAtMs === undefined ? {} : { changedAtMs: info.changedAtMs }) };
}

/**
 * Mounts the Security page of one appliance: `GET /api/security` and
 * `PUT /api/security/pre-shared-key` with `{ "preSharedKey": "..." }`. Every
 * appliance link uses the new key from then on. The store's 'change' event
 * lets the appliance drop links made with the old key.
 */
export function mountSecurityRoutes(router: HttpRouter, keys: PreSharedKeyStore): void {
  router.get(ADMIN_PATHS.security, () => ({ status: 200, body: securityView(keys) }));

  router.put(ADMIN_PATHS.preSharedKey, async (context) => {
    const body = context.body as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest('(body)', body, 'is not a JSON object; send { "preSharedKey": "..." }');
    }
    const unknown = Object.keys(body).filter((field) => field !== 'preSharedKey');
    if (unknown.length > 0) throw badRequest(unknown[0]!, body[unknown[0]!], 'is not a field of the Security page; send only preSharedKey');
    const problem = describeInvalidPreSharedKey(body.preSharedKey);
    // The value of a rejected key is never echoed back, not even in the 400.
    if (problem !== undefined) throw badRequest('preSharedKey', '(hidden)', problem);
    await keys.set(body.preSharedKey as string);
    context.logger.info({ principal: context.principal }, 'pre-shared key changed');
    return { status: 200, body: securityView(keys) };
  });
}
