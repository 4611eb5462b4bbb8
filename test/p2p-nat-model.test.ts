import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { pino } from 'pino';
import t from 'tap';
import { NAT_TYPES, type NatType } from '../src/config/peer-to-peer.js';
import { ConnectivityChecks, type Endpoint } from '../src/client/p2p/connectivity-checks.js';
import { checksConnect, NatFilter, predictPath } from '../src/client/p2p/nat-model.js';

const logger = pino({ level: 'silent' });
/** Checks run this long at most; generous for a loaded machine, and pairs that never connect wait it out. */
const CHECK_WINDOW_MS = 5000;

async function bindSocket(address: string): Promise<Socket> {
  const socket = createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port: 0 }, () => resolve());
  });
  return socket;
}

interface Side {
  natType: NatType;
  address: string;
  socket: Socket;
  id: string;
}

/** Runs checks between two clients over real UDP sockets; returns whether each side received the other's checks. */
async function runPair(customer: Side, representative: Side): Promise<{ customerReceived: boolean; representativeReceived: boolean }> {
  const key = randomBytes(32);
  const reflexive = (side: Side): Endpoint => ({ address: side.address, port: side.socket.address().port });
  const make = (self: Side, peer: Side): ConnectivityChecks =>
    new ConnectivityChecks({ logger, natType: self.natType, localAddress: self.address, stunSocket: self.socket, stunFilter: new NatFilter(self.natType), key, selfId: self.id, peerId: peer.id, peer: reflexive(peer) });
  const customerChecks = make(customer, representative);
  const representativeChecks = make(representative, customer);
  customerChecks.start();
  representativeChecks.start();
  try {
    const [customerOutcome, representativeOutcome] = await Promise.all([customerChecks.settle(CHECK_WINDOW_MS), representativeChecks.settle(CHECK_WINDOW_MS)]);
    return { customerReceived: customerOutcome.received, representativeReceived: representativeOutcome.received };
  } finally {
    customerChecks.close();
    representativeChecks.close();
  }
}

void t.test('nat filter rules', (t) => {
  const cases: Array<[NatType, boolean, boolean, boolean]> = [
    // NAT type, admits an unknown source, a known address with another port, the known address and port.
    ['open', true, true, true],
    ['full-cone', true, true, true],
    ['restricted', false, true, true],
    ['port-restricted', false, false, true],
    ['symmetric', false, false, true],
  ];
  for (const [natType, unknown, otherPort, samePort] of cases) {
    const filter = new NatFilter(natType);
    filter.recordOutbound('127.41.0.2', 5000);
    t.equal(filter.admits('127.41.0.9', 5000), unknown, `${natType} unknown source`);
    t.equal(filter.admits('127.41.0.2', 5001), otherPort, `${natType} known address, other port`);
    t.equal(filter.admits('127.41.0.2', 5000), samePort, `${natType} known address and port`);
  }
  t.end();
});

void t.test('checks match the rule for every NAT pair', async (t) => {
  const pairs = NAT_TYPES.flatMap((customer) => NAT_TYPES.map((representative) => ({ customer, representative })));
  const sockets: Socket[] = [];
  t.teardown(() => {
    for (const socket of sockets) socket.close();
  });
  const results = await Promise.all(
    pairs.map(async ({ customer, representative }, index) => {
      const customerAddress = `127.41.${index + 1}.1`;
      const representativeAddress = `127.41.${index + 1}.2`;
      const [customerSocket, representativeSocket] = await Promise.all([bindSocket(customerAddress), bindSocket(representativeAddress)]);
      sockets.push(customerSocket, representativeSocket);
      const outcome = await runPair(
        { natType: customer, address: customerAddress, socket: customerSocket, id: `customer-${index}` },
        { natType: representative, address: representativeAddress, socket: representativeSocket, id: `rep-${index}` },
      );
      return { customer, representative, ...outcome };
    }),
  );
  for (const result of results) {
    const expected = checksConnect(result.customer, result.representative);
    t.equal(result.representativeReceived, expected, `${result.customer} customer to ${result.representative} representative: representative receives checks`);
    t.equal(result.customerReceived, expected, `${result.customer} customer to ${result.representative} representative: customer receives checks`);
  }
});

void t.test('checks ignore a wrong key', async (t) => {
  const [first, second] = await Promise.all([bindSocket('127.41.100.1'), bindSocket('127.41.100.2')]);
  t.teardown(() => {
    first.close();
    second.close();
  });
  const make = (socket: Socket, selfId: string, peerId: string, peer: Socket, address: string, peerAddress: string): ConnectivityChecks =>
    new ConnectivityChecks({ logger, natType: 'open', localAddress: address, stunSocket: socket, stunFilter: new NatFilter('open'), key: randomBytes(32), selfId, peerId, peer: { address: peerAddress, port: peer.address().port } });
  const a = make(first, 'a', 'b', second, '127.41.100.1', '127.41.100.2');
  const b = make(second, 'b', 'a', first, '127.41.100.2', '127.41.100.1');
  a.start();
  b.start();
  const [outcomeA, outcomeB] = await Promise.all([a.settle(500), b.settle(500)]);
  a.close();
  b.close();
  t.equal(outcomeA.received, false, 'a received no check signed with its key');
  t.equal(outcomeB.received, false, 'b received no check signed with its key');
  t.equal(outcomeA.answered, false, 'no check of a was answered');
});

void t.test('path rule table', (t) => {
  const open = { natType: 'open' as const, blockInbound: false };
  const base = { p2pEnabled: true, forceRelay: false, stunAnswers: true, customer: open, representative: open };
  const cases: Array<[string, Parameters<typeof predictPath>[0], 'direct' | 'relay', RegExp]> = [
    ['open pair', base, 'direct', /customer \(open\) dials the representative/],
    ['peer to peer off', { ...base, p2pEnabled: false }, 'relay', /off/],
    ['force relay', { ...base, forceRelay: true }, 'relay', /force relay/],
    ['STUN down', { ...base, stunAnswers: false }, 'relay', /STUN server does not answer/],
    ['both block inbound', { ...base, customer: { ...open, blockInbound: true }, representative: { ...open, blockInbound: true } }, 'relay', /both clients' firewalls/],
    ['representative blocks inbound', { ...base, representative: { ...open, blockInbound: true } }, 'direct', /representative \(open\) dials the customer \(open\) back/],
    ['customer blocks inbound', { ...base, customer: { ...open, blockInbound: true } }, 'direct', /customer \(open\) dials/],
    ['symmetric pair', { ...base, customer: { natType: 'symmetric', blockInbound: false }, representative: { natType: 'symmetric', blockInbound: false } }, 'relay', /no connectivity check passes/],
    ['symmetric representative', { ...base, representative: { natType: 'symmetric', blockInbound: false } }, 'direct', /customer \(open\) dials the representative \(symmetric\)/],
    ['port-restricted pair', { ...base, customer: { natType: 'port-restricted', blockInbound: false }, representative: { natType: 'port-restricted', blockInbound: false } }, 'direct', /dials/],
    ['symmetric and port-restricted', { ...base, customer: { natType: 'symmetric', blockInbound: false }, representative: { natType: 'port-restricted', blockInbound: false } }, 'relay', /no connectivity check/],
    ['symmetric and restricted', { ...base, customer: { natType: 'symmetric', blockInbound: false }, representative: { natType: 'restricted', blockInbound: false } }, 'direct', /customer \(symmetric\) dials/],
  ];
  for (const [name, input, path, reason] of cases) {
    const predicted = predictPath(input);
    t.equal(predicted.path, path, `${name}: path`);
    t.match(predicted.reason, reason, `${name}: reason`);
  }
  t.end();
});
