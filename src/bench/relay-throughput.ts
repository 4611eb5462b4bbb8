import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { startCluster, type Cluster } from '../launcher/cluster.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { Channel } from '../net/channel.js';
import { ensureClusterCerts } from '../net/certs.js';
import { connectChannel } from '../net/ws-client.js';
import { WsServer } from '../net/ws-server.js';
import { createClusterLookup } from '../net/lookup.js';
import { readSecretFile } from '../config/secret-file.js';
import { issueTicket } from '../protocol/tickets.js';
import { Role, StreamDirection, type ISessionTicket } from '../protocol/messages.js';
import { awaitFrames, publishFrames } from './stream-link.js';
import { formatNumber } from './stats.js';
import type { BenchResult } from './types.js';

/** Frame size the relay target is stated for. */
export const RELAY_FRAME_BYTES = 64 * 1024;
/** Frames per measured run: 64 MiB at 64 KiB. */
export const RELAY_FRAME_COUNT = 1024;
/** Address of the in-process baseline server; inside 127.0.0.0/8, outside every cluster block. */
const BASELINE_ADDRESS = '127.99.0.1';
const STREAM = 'customer-screen';

interface Endpoint {
  host: string;
  port: number;
  connect(path: string): Promise<Channel>;
}

/**
 * Compares stream throughput customer -> traffic node -> representative with
 * the same frames over one direct TLS WebSocket in the same run. The relay
 * does twice the TLS work of the direct pair, so about 0.5 is the ceiling.
 */
export async function benchRelayThroughput(options: { frames?: number; cluster?: Cluster } = {}): Promise<BenchResult> {
  const count = options.frames ?? RELAY_FRAME_COUNT;
  const logger = silentLogger();
  const cluster = options.cluster ?? (await startCluster({ startClients: false, topology: singleNodeTopology() }));
  try {
    const direct = await measureDirect(logger, cluster, count);
    const relay = await measureRelay(logger, cluster, count);
    const megabytes = (count * RELAY_FRAME_BYTES) / (1024 * 1024);
    const directRate = megabytes / (direct / 1000);
    const relayRate = megabytes / (relay / 1000);
    const ratio = relayRate / directRate;
    return {
      name: 'relay throughput',
      lines: [
        `${count} frames of ${RELAY_FRAME_BYTES / 1024} KiB (${formatNumber(megabytes, 0)} MiB)`,
        `direct TLS WebSocket pair: ${formatNumber(directRate, 1)} MiB/s`,
        `customer -> traffic node -> representative: ${formatNumber(relayRate, 1)} MiB/s`,
        `ratio relay/direct: ${formatNumber(ratio)} (target >= 0.45)`,
      ],
      metrics: { directMiBps: directRate, relayMiBps: relayRate, ratio },
    };
  } finally {
    if (options.cluster === undefined) await cluster.close({ removeRunDir: true });
  }
}

/** Milliseconds to carry `count` frames over one TLS WebSocket inside this process. */
async function measureDirect(logger: Logger, cluster: Cluster, count: number): Promise<number> {
  const certs = await ensureClusterCerts(cluster.info.certsDir);
  let resolveAccepted: (channel: Channel) => void = () => undefined;
  const accepted = new Promise<Channel>((resolve) => {
    resolveAccepted = resolve;
  });
  const server = new WsServer({ logger }, {
    host: BASELINE_ADDRESS,
    port: 0,
    tls: { cert: certs.cert, key: certs.key },
    paths: { '/direct': (ws: WebSocket, _request: IncomingMessage) => resolveAccepted(new Channel(ws, { logger })) },
  });
  const port = await server.listen();
  try {
    // The host is an IP address, so the lookup is never called; the TLS name is still verified.
    const lookup = createClusterLookup({ server: cluster.info.dns, logger });
    const sender = await connectChannel({ logger }, { host: BASELINE_ADDRESS, port, path: '/direct', ca: certs.ca, tlsName: 'direct.support.example.test', lookup });
    const receiver = await accepted;
    const done = awaitFrames(receiver, count, logger);
    const started = performance.now();
    await publishFrames(sender, STREAM, count, RELAY_FRAME_BYTES);
    const finished = await done;
    sender.close();
    receiver.close();
    return finished - started;
  } finally {
    await server.close();
  }
}

/** Milliseconds to carry `count` frames from a publisher through a real traffic node process to a subscriber. */
async function measureRelay(logger: Logger, cluster: Cluster, count: number): Promise<number> {
  const info = cluster.info;
  const node = info.nodes.find((candidate) => candidate.role === 'traffic');
  if (node === undefined || node.ports.public === undefined) throw new Error('the benchmark cluster has no traffic node');
  const certs = await ensureClusterCerts(info.certsDir);
  const sessionKey = await readSecretFile(cluster.folder.sessionKeyFile, 'session key');
  const lookup = createClusterLookup({ server: info.dns, logger });
  const endpoint: Endpoint = {
    host: node.hostname,
    port: node.ports.public,
    connect: (path) => connectChannel({ logger }, { host: node.hostname, port: node.ports.public ?? 0, path, ca: certs.ca, lookup }),
  };

  const ticket = (direction: StreamDirection, participant: string): ISessionTicket =>
    issueTicket(sessionKey, { sessionId: 'bench-relay', participantId: participant, role: direction === StreamDirection.DIRECTION_PUBLISH ? Role.ROLE_CUSTOMER : Role.ROLE_REPRESENTATIVE, stream: STREAM, direction, node: node.name, reason: 'benchmark' });

  const subscriber = await joinSession(endpoint, ticket(StreamDirection.DIRECTION_SUBSCRIBE, 'bench-rep'), 'bench-rep');
  const publisher = await joinSession(endpoint, ticket(StreamDirection.DIRECTION_PUBLISH, 'bench-customer'), 'bench-customer');
  await waitForDemand(publisher);
  const done = awaitFrames(subscriber, count, logger);
  const started = performance.now();
  await publishFrames(publisher, STREAM, count, RELAY_FRAME_BYTES);
  const finished = await done;
  publisher.close();
  subscriber.close();
  return finished - started;
}

async function joinSession(endpoint: Endpoint, ticket: ISessionTicket, clientId: string): Promise<Channel> {
  const channel = await endpoint.connect('/session');
  const joined = new Promise<void>((resolve, reject) => {
    channel.onMessage((envelope) => {
      if (envelope.body === 'sessionJoined') resolve();
      if (envelope.body === 'error') reject(new Error(`traffic node rejected the benchmark ticket: ${envelope.error?.message ?? ''}`));
    });
  });
  channel.send({ sessionJoin: { ticket, clientId } });
  await joined;
  return channel;
}

function waitForDemand(publisher: Channel): Promise<void> {
  return new Promise<void>((resolve) => {
    publisher.onMessage((envelope) => {
      if (envelope.body === 'streamDemand' && (envelope.streamDemand?.subscribers ?? 0) > 0) resolve();
    });
  });
}

/** The default cluster cut to one traffic node and no clients: the benchmark drives the streams itself. */
function singleNodeTopology(): Record<string, unknown> {
  return {
    clusterName: 'bench-relay',
    masters: [{ name: 'master1', model: 'Virtual' }],
    trafficNodes: [{ name: 'bench-traffic1', model: 'Virtual', prefixes: ['127.20.0.0/16'], timezone: 'UTC' }],
    clients: [],
  };
}
