import { SITE_HOSTNAME } from '../config/constants.js';
import { readSecretFile } from '../config/secret-file.js';
import type { Logger } from '../logging/logger.js';
import { ensureClusterCerts } from '../net/certs.js';
import { WsServer } from '../net/ws-server.js';
import { reportEvent } from '../util/ipc.js';
import { DNS_CLAIM_PATH, DnsClaimEndpoint } from './claim-endpoint.js';
import type { DnsClaimConfig } from './dns-config.js';
import type { ClusterDnsServer } from './server.js';

/** A running claim listener of the DNS process. */
export interface ClaimListener {
  port: number;
  endpoint: DnsClaimEndpoint;
  close(): Promise<void>;
}

/**
 * Opens the DNS claim channel on the DNS server's address: masters that
 * prove the pre-shared key may claim the site hostname. Each granted move of
 * the record is reported to the launcher as a `dns-claim-granted` event.
 */
export async function startClaimListener(
  deps: { logger: Logger; server: ClusterDnsServer },
  options: { name: string; address: string; claim: DnsClaimConfig },
): Promise<ClaimListener> {
  const { logger, server } = deps;
  const psk = await readSecretFile(options.claim.pskFile, 'claim.pskFile');
  const certs = await ensureClusterCerts(options.claim.certsDir);
  const siteAddress = server.currentZone().lookup(SITE_HOSTNAME).a[0] ?? '';
  const endpoint = new DnsClaimEndpoint(
    {
      logger: logger.child({ component: 'dns-claim' }),
      psk,
      setRecord: (hostname, addresses) => server.setRecord(hostname, addresses),
      onGranted: (record) => reportEvent(options.name, 'dns-claim-granted', { ...record }),
    },
    { name: options.name, claimable: { [SITE_HOSTNAME]: siteAddress }, channel: { heartbeat: options.claim.heartbeat } },
  );
  const listener = new WsServer({ logger }, {
    host: options.address,
    port: options.claim.port,
    tls: { cert: certs.cert, key: certs.key },
    paths: { [DNS_CLAIM_PATH]: (ws) => endpoint.accept(ws) },
  });
  const port = await listener.listen();
  logger.info({ address: options.address, port, path: DNS_CLAIM_PATH }, 'DNS claim channel listening');
  return {
    port,
    endpoint,
    async close() {
      endpoint.close('DNS process stopping');
      await listener.close();
    },
  };
}
