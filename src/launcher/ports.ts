import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** Client-facing port of masters and traffic nodes, as in the real product. */
export const STANDARD_PUBLIC_PORT = 443;
/** Appliance channel port, as in the real product. */
export const STANDARD_INTERNAL_PORT = 8443;
export const STANDARD_DNS_PORT = 53;
/** STUN port of RFC 5389; unprivileged, so only another process on the same address can hold it. */
export const STANDARD_STUN_PORT = 3478;

/** Fallback ports are drawn from FALLBACK_PORT_FIRST..FALLBACK_PORT_FIRST + FALLBACK_PORT_SPAN - 1. */
const FALLBACK_PORT_FIRST = 20_000;
const FALLBACK_PORT_SPAN = 10_000;
/** The internal port of a fallback pair is the public port plus this offset. */
const FALLBACK_INTERNAL_OFFSET = 10_000;
const FALLBACK_DNS_FIRST = 40_000;
const FALLBACK_ATTEMPTS = 50;

/** Ports of one cluster: every appliance listens on the same pair on its own address. */
export interface PortPlan {
  public: number;
  internal: number;
  dns: number;
  /** Reason fallback ports were chosen; absent when the standard ports are used. */
  fallbackReason?: string;
}

/**
 * Chooses the cluster's ports. Uses 443/8443 and 53 when this process can bind
 * them on every address (root or CAP_NET_BIND_SERVICE), otherwise one fallback
 * pair and one DNS port checked free on every address. `standardPorts: false`
 * skips the standard ports, as a process without that privilege would.
 */
export async function choosePorts(applianceAddresses: string[], dnsAddress: string, options: { standardPorts?: boolean } = {}): Promise<PortPlan> {
  const tryStandard = options.standardPorts !== false;
  const reasons: string[] = [];

  let publicPort = STANDARD_PUBLIC_PORT;
  let internalPort = STANDARD_INTERNAL_PORT;
  if (!tryStandard || !(await canBindTcpEverywhere(applianceAddresses, [STANDARD_PUBLIC_PORT, STANDARD_INTERNAL_PORT]))) {
    [publicPort, internalPort] = await findFallbackPair(applianceAddresses);
    const unavailableReason = tryStandard ? 'cannot be bound (they need root or CAP_NET_BIND_SERVICE)' : 'were not requested';
    reasons.push(`ports ${STANDARD_PUBLIC_PORT}/${STANDARD_INTERNAL_PORT} ${unavailableReason}, so appliances use ${publicPort}/${internalPort}`);
  }

  let dnsPort = STANDARD_DNS_PORT;
  if (!tryStandard || !(await canBindDns(dnsAddress, STANDARD_DNS_PORT))) {
    dnsPort = await findFallbackDnsPort(dnsAddress);
    reasons.push(`DNS port ${STANDARD_DNS_PORT} ${tryStandard ? 'cannot be bound' : 'was not requested'}, so the DNS server uses ${dnsPort}`);
  }

  return reasons.length === 0
    ? { public: publicPort, internal: internalPort, dns: dnsPort }
    : { public: publicPort, internal: internalPort, dns: dnsPort, fallbackReason: reasons.join('; ') };
}

async function findFallbackPair(addresses: string[]): Promise<[number, number]> {
  for (let attempt = 0; attempt < FALLBACK_ATTEMPTS; attempt += 1) {
    const publicPort = FALLBACK_PORT_FIRST + randomInt(FALLBACK_PORT_SPAN);
    const internalPort = publicPort + FALLBACK_INTERNAL_OFFSET;
    if (await canBindTcpEverywhere(addresses, [publicPort, internalPort])) return [publicPort, internalPort];
  }
  throw new Error(`no free fallback port pair found on ${addresses.join(', ')} after ${FALLBACK_ATTEMPTS} attempts; run as root or free ports ${FALLBACK_PORT_FIRST}-${FALLBACK_PORT_FIRST + FALLBACK_PORT_SPAN + FALLBACK_INTERNAL_OFFSET - 1}`);
}

async function findFallbackDnsPort(address: string): Promise<number> {
  for (let attempt = 0; attempt < FALLBACK_ATTEMPTS; attempt += 1) {
    const port = FALLBACK_DNS_FIRST + randomInt(FALLBACK_PORT_SPAN);
    if (await canBindDns(address, port)) return port;
  }
  throw new Error(`no free fallback DNS port found on ${address} after ${FALLBACK_ATTEMPTS} attempts; run as root or free ports ${FALLBACK_DNS_FIRST}-${FALLBACK_DNS_FIRST + FALLBACK_PORT_SPAN - 1}`);
}

async function canBindTcpEverywhere(addresses: string[], ports: number[]): Promise<boolean> {
  for (const address of addresses) {
    for (const port of ports) {
      if (!(await canBindTcp(address, port))) return false;
    }
  }
  return true;
}

async function canBindDns(address: string, port: number): Promise<boolean> {
  return (await canBindTcp(address, port)) && (await canBindUdp(address, port));
}

/** Returns 3478 when it is free on `address`, else 0 so the STUN server picks a free port and reports it. */
export async function chooseStunPort(address: string): Promise<number> {
  return (await canBindUdp(address, STANDARD_STUN_PORT)) ? STANDARD_STUN_PORT : 0;
}

/** Listens on address:port and closes again; false on EACCES, EADDRINUSE or any other bind error. */
export function canBindTcp(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: address, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/**
 * Returns a UDP port that was free on `address` a moment ago: the kernel's
 * choice for port 0, released again. Another process may take it before the
 * caller binds it, so the caller's bind error names the port.
 */
export function findFreeUdpPort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', (error) => reject(new Error(`no free UDP port on ${address}: ${error.message}`)));
    socket.bind({ address, port: 0, exclusive: true }, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

export function canBindUdp(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      try {
        socket.close();
      } catch {
        // A socket that never bound may already count as closed.
      }
      resolve(false);
    });
    socket.bind({ address, port, exclusive: true }, () => {
      socket.close(() => resolve(true));
    });
  });
}
