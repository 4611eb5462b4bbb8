import { isIP } from 'node:net';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import type { ClusterCerts } from './certs.js';

/** Oldest TLS version any cluster process accepts. */
export const MIN_TLS_VERSION = 'TLSv1.2';

/** TLS settings for every cluster server: the cluster leaf certificate and its key. */
export function serverTlsOptions(certs: ClusterCerts): TlsOptions {
  return { key: certs.key, cert: certs.cert, minVersion: MIN_TLS_VERSION };
}

/**
 * TLS settings for a client of a cluster server. Only the cluster CA is
 * trusted (the system store is not), SNI is `servername`, and Node.js checks
 * the certificate chain and that the certificate covers `servername`
 * (`rejectUnauthorized` keeps its default, true).
 */
export function clientTlsOptions(certs: ClusterCerts, servername: string): ConnectionOptions {
  if (servername === '' || isIP(servername) !== 0) {
    throw new Error(`TLS server name must be a hostname such as "us-traffic1.support.example.test", got ${JSON.stringify(servername)}; connect by hostname, not by IP address`);
  }
  return { ca: certs.ca, servername, minVersion: MIN_TLS_VERSION };
}
