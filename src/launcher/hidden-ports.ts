import { randomInt } from 'node:crypto';

import { canBindTcp, canBindUdp, type PortPlan } from './ports.js';

/**
 * Ports the server processes bind behind the fault layer, while its proxies
 * listen on the advertised ports. Every appliance uses the same pair on its
 * own address. They lie below the Linux ephemeral range (32768-60999 by
 * default), so a proxy's outgoing socket never takes one while its server is down.
 */
export interface HiddenPorts {
  public: number;
  internal: number;
  dns: number;
}

/** Hidden appliance public ports are drawn from HIDDEN_PORT_FIRST..HIDDEN_PORT_FIRST + HIDDEN_PORT_SPAN - 1. */
const HIDDEN_PORT_FIRST = 10_000;
const HIDDEN_PORT_SPAN = 5_000;
/** The hidden internal port is the hidden public port plus this offset. */
const HIDDEN_INTERNAL_OFFSET = 5_000;
const HIDDEN_DNS_FIRST = 5_000;
const HIDDEN_ATTEMPTS = 50;

/**
 * Chooses hidden ports free on every address and distinct from the
 * advertised ports. The internal one is also checked on the DNS address,
 * where the DNS claim channel binds it. Throws after HIDDEN_ATTEMPTS draws
 * without a free choice.
 */
export async function chooseHiddenPorts(applianceAddresses: readonly string[], dnsAddress: string, advertised: PortPlan): Promise<HiddenPorts> {
  const taken = new Set([advertised.public, advertised.internal, advertised.dns]);
  let pair: [number, number] | undefined;
  for (let attempt = 0; attempt < HIDDEN_ATTEMPTS && pair === undefined; attempt += 1) {
    const publicPort = HIDDEN_PORT_FIRST + randomInt(HIDDEN_PORT_SPAN);
    const internalPort = publicPort + HIDDEN_INTERNAL_OFFSET;
    if (taken.has(publicPort) || taken.has(internalPort)) continue;
    if ((await freeOnEveryAddress(applianceAddresses, [publicPort, internalPort])) && (await canBindTcp(dnsAddress, internalPort))) pair = [publicPort, internalPort];
  }
  if (pair === undefined) {
    throw new Error(`no free hidden port pair for the fault layer on ${applianceAddresses.join(', ')} after ${HIDDEN_ATTEMPTS} attempts; free ports ${HIDDEN_PORT_FIRST}-${HIDDEN_PORT_FIRST + HIDDEN_PORT_SPAN + HIDDEN_INTERNAL_OFFSET - 1} or start the cluster with faultLayer: false`);
  }

  for (let attempt = 0; attempt < HIDDEN_ATTEMPTS; attempt += 1) {
    const dnsPort = HIDDEN_DNS_FIRST + randomInt(HIDDEN_PORT_SPAN);
    if (taken.has(dnsPort)) continue;
    if ((await canBindTcp(dnsAddress, dnsPort)) && (await canBindUdp(dnsAddress, dnsPort))) return { public: pair[0], internal: pair[1], dns: dnsPort };
  }
  throw new Error(`no free hidden DNS port for the fault layer on ${dnsAddress} after ${HIDDEN_ATTEMPTS} attempts; free ports ${HIDDEN_DNS_FIRST}-${HIDDEN_DNS_FIRST + HIDDEN_PORT_SPAN - 1} or start the cluster with faultLayer: false`);
}

async function freeOnEveryAddress(addresses: readonly string[], ports: readonly number[]): Promise<boolean> {
  for (const address of addresses) {
    for (const port of ports) {
      if (!(await canBindTcp(address, port))) return false;
    }
  }
  return true;
}
