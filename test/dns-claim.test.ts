import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SITE_HOSTNAME, nodeHostname } from '../src/config/constants.js';
import { DnsClaimClient } from '../src/dns/claim-client.js';
import { DNS_CLAIM_PATH, DnsClaimEndpoint, type ClaimRecord } from '../src/dns/claim-endpoint.js';
import { ClusterDnsServer } from '../src/dns/server.js';
import { silentLogger } from '../src/logging/logger.js';
import { ensureClusterCerts } from '../src/net/certs.js';
import { createClusterLookup, resolveClusterAddresses } from '../src/net/lookup.js';
import { WsServer } from '../src/net/ws-server.js';

const HEARTBEAT = { intervalMs: 200, timeoutMs: 1000 };

const dir = await mkdtemp(join(tmpdir(), 'atlas-dns-claim-test-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
// 127.200.0.0-127.249.255.255 is outside the launcher's blocks, so parallel test files rarely meet.
const network = `127.${randomInt(200, 250)}.${randomInt(0, 256)}`;
const dnsAddress = `${network}.53`;
const certs = await ensureClusterCerts(join(dir, 'certs'));
const psk = randomBytes(32);

const dns = new ClusterDnsServer({ logger: silentLogger() }, { address: dnsAddress, port: 0, zone: { a: { [SITE_HOSTNAME]: [`${network}.1`] } } });
const dnsBound = await dns.listen();
t.teardown(() => dns.close());

const granted: ClaimRecord[] = [];
const endpoint = new DnsClaimEndpoint(
  { logger: silentLogger(), psk, setRecord: (hostname, addresses) => dns.setRecord(hostname, addresses), onGranted: (record) => granted.push(record) },
  { name: 'dns', claimable: { [SITE_HOSTNAME]: `${network}.1` }, channel: { heartbeat: HEARTBEAT } },
);
// Connections from these source addresses are dropped, as if the link to the DNS server were cut.
const cutOff = new Set<string>();
const listener = new WsServer({ logger: silentLogger() }, {
  host: dnsAddress,
  port: 0,
  tls: { cert: certs.cert, key: certs.key },
  paths: { [DNS_CLAIM_PATH]: (ws, request) => (cutOff.has(request.socket.remoteAddress ?? '') ? ws.terminate() : endpoint.accept(ws)) },
});
const claimPort = await listener.listen();
t.teardown(async () => {
  endpoint.close('test finished');
  await listener.close();
});

const lookup = createClusterLookup({ server: dnsBound, logger: silentLogger() });

function client(name: string, hostOctet: number, key: Uint8Array = psk): DnsClaimClient {
  const claims = new DnsClaimClient(
    { logger: silentLogger(), psk: key, ca: certs.ca, lookup },
    {
      server: { address: dnsAddress, port: claimPort },
      tlsName: nodeHostname('dns'),
      self: { name, guid: 'a'.repeat(32) },
      localAddress: `${network}.${hostOctet}`,
      heartbeat: HEARTBEAT,
      reclaimDelaysMs: [50],
    },
  );
  t.teardown(() => claims.stop('test finished'));
  return claims;
}

async function siteAddresses(): Promise<string[]> {
  return resolveClusterAddresses({ server: dnsBound, logger: silentLogger() }, SITE_HOSTNAME);
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const site = (address: string, term: number): { hostname: string; address: string; term: number } => ({ hostname: SITE_HOSTNAME, address, term });
const master1 = client('master1', 1);
const master2 = client('master2', 2);

void t.test('claim moves the site record', async (t) => {
  const outcome = await master1.claim(site(`${network}.1`, 1));
  t.equal(outcome.granted, true, 'first claim granted');
  t.equal(outcome.owner, 'master1', 'owner');
  t.same(await siteAddresses(), [`${network}.1`], 'site hostname resolves to master1');
  t.equal(granted.at(-1)?.term, 1, 'grant reported with its term');
});

void t.test('live holder keeps the record', async (t) => {
  const outcome = await master2.claim(site(`${network}.2`, 2));
  t.equal(outcome.granted, false, 'newer term refused while master1 holds the record');
  t.equal(outcome.owner, 'master1', 'refusal names the holder');
  t.match(outcome.message, /claim channel is open/, 'refusal says why');
  t.same(await siteAddresses(), [`${network}.1`], 'record unchanged');
});

void t.test('holder gone lets a newer term in', async (t) => {
  master1.release('stepping down');
  await until('the DNS server to free the record', () => endpoint.records().every((record) => !record.live));
  const outcome = await master2.claim(site(`${network}.2`, 2));
  t.equal(outcome.granted, true, 'granted once master1 left');
  t.same(await siteAddresses(), [`${network}.2`], 'site hostname resolves to master2');
});

void t.test('older term refused', async (t) => {
  const outcome = await master1.claim(site(`${network}.1`, 1));
  t.equal(outcome.granted, false, 'term 1 refused');
  t.equal(outcome.term, 2, 'refusal carries the newer term');
  t.match(outcome.message, /older than term 2/, 'reason');
});

void t.test('term never granted twice', async (t) => {
  master2.release('leaving');
  await until('the DNS server to free the record', () => endpoint.records().every((record) => !record.live));
  const outcome = await master1.claim(site(`${network}.1`, 2));
  t.equal(outcome.granted, false, 'same term refused for another master');
  t.match(outcome.message, /already granted to master2/, 'reason');
  const newer = await master1.claim(site(`${network}.1`, 3));
  t.equal(newer.granted, true, 'next term granted');
});

void t.test('dropped channel is claimed again', async (t) => {
  const record = endpoint.records()[0];
  t.equal(record?.owner, 'master1', 'master1 holds the record');
  let reclaimed = false;
  master1.once('reclaimed', () => (reclaimed = true));
  endpoint.close('simulated restart of the claim listener');
  await until('master1 to claim again', () => reclaimed);
  t.equal(endpoint.records()[0]?.live, true, 'record held again');
});

void t.test('lost claim is reported', async (t) => {
  const lost = new Promise<{ owner: string; term: number }>((resolve) => master1.once('lost', resolve));
  cutOff.add(`${network}.1`);
  endpoint.close('master1 cut off');
  await until('the DNS server to free the record', () => endpoint.records().every((record) => !record.live));
  const outcome = await master2.claim(site(`${network}.2`, 4));
  t.equal(outcome.granted, true, 'master2 took term 4 while master1 was cut off');
  cutOff.clear();
  const loss = await lost;
  t.equal(loss.owner, 'master2', 'loss names the new holder');
  t.equal(loss.term, 4, 'loss names the new term');
  t.equal(master1.holding, undefined, 'master1 no longer holds a claim');
});

void t.test('wrong key rejected', async (t) => {
  const stranger = client('master9', 9, randomBytes(32));
  await t.rejects(stranger.claim(site(`${network}.9`, 9)), /inter-appliance key does not match|MAC does not verify|rejected/, 'claim without the key fails');
  t.not(endpoint.records()[0]?.owner, 'master9', 'record not taken');
});

void t.test('address outside loopback rejected', async (t) => {
  const other = client('master3', 3);
  await t.rejects(other.claim(site('10.0.0.1', 9)), /not an IPv4 loopback address/, 'claim fails with the reason');
});
