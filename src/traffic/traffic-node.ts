import { bindPort, type Endpoint } from '../config/node-config.js';
import type { Logger } from '../logging/logger.js';
import type { HeartbeatOptions } from '../net/channel.js';
import { WsServer, type RequestHandler, type TlsServerCredentials } from '../net/ws-server.js';
import { StreamDirection, type atlas } from '../protocol/messages.js';
import { reportEvent } from '../util/ipc.js';
import { ApplianceEndpoint } from './appliance-channel.js';
import { ClientRegistry, roleCode, type ConnectedClient } from './client-registry.js';
import { ConfigApplier } from './config-apply.js';
import { SessionEndpoint } from './session-channel.js';
import { DEFAULT_RELAY_HIGH_WATER_BYTES, DEFAULT_RELAY_LOW_WATER_BYTES, RelayHub, type RelayWatermarks } from './session-relay.js';
import type { StateStore } from './state-store.js';

/** WebSocket paths of the two channels a traffic node serves. */
export const APPLIANCE_PATH = '/appliance';
export const SESSION_PATH = '/session';

export interface TrafficNodeDeps {
  logger: Logger;
  store: StateStore;
  /** Inter-appliance pre-shared key in use now. */
  psk: () => Uint8Array;
  tls: TlsServerCredentials;
  /** Plain HTTPS requests on the public address: the node's admin API. 404 when absent. */
  onRequest?: RequestHandler;
}

export interface TrafficNodeOptions {
  name: string;
  public: Endpoint;
  internal: Endpoint;
  heartbeat: HeartbeatOptions;
  statusIntervalMs?: number;
  relay?: Partial<RelayWatermarks>;
}

/** Result of the launcher's `status` request. */
export interface TrafficNodeStatus {
  name: string;
  guid: string;
  appliedConfigVersion: number;
  accepting: boolean;
  masterConnected: boolean;
  /** Master linked now; empty when none is. */
  masterName: string;
  /** Highest master term this node has seen, and the master that holds it. */
  term: number;
  termMaster: string;
  activeSessions: number;
  connectedClients: number;
}

/** Ports the two listeners are bound to. */
export interface TrafficNodePorts {
  public: number;
  internal: number;
}

/**
 * A traffic node: the appliance channel on the internal address, where the
 * master authenticates and pushes configuration, and the session channel on
 * the public address, where clients present tickets and stream frames are
 * relayed between participants.
 */
export class TrafficNode {
  private readonly clients = new ClientRegistry();
  private readonly hub: RelayHub;
  private readonly appliance: ApplianceEndpoint;
  private readonly sessions: SessionEndpoint;
  private readonly servers: WsServer[] = [];

  constructor(private readonly deps: TrafficNodeDeps, private readonly options: TrafficNodeOptions) {
    const { logger, store } = deps;
    const channel = { heartbeat: options.heartbeat };
    this.hub = new RelayHub({ logger }, {
      highWaterBytes: options.relay?.highWaterBytes ?? DEFAULT_RELAY_HIGH_WATER_BYTES,
      lowWaterBytes: options.relay?.lowWaterBytes ?? DEFAULT_RELAY_LOW_WATER_BYTES,
    });
    const applier = new ConfigApplier({ logger, store }, { nodeName: options.name });
    this.appliance = new ApplianceEndpoint(
      {
        logger,
        store,
        applier,
        psk: deps.psk,
        counters: () => ({ activeSessions: this.hub.activeSessions, connectedClients: this.clients.size }),
        currentClients: () => this.clients.list().map((client) => clientReport(client, true)),
        onMasterJoined: (master, term) => reportEvent(options.name, 'master-joined', { master, term }),
      },
      { nodeName: options.name, channel, statusIntervalMs: options.statusIntervalMs },
    );
    this.sessions = new SessionEndpoint(
      { logger, store, hub: this.hub, clients: this.clients, onClientChange: (client, connected) => this.appliance.report(clientReport(client, connected)) },
      { nodeName: options.name, channel },
    );
  }

  /** Opens both listeners; on failure closes whatever was opened and throws. */
  async start(): Promise<TrafficNodePorts> {
    const { logger, tls } = this.deps;
    const internal = new WsServer({ logger }, { host: this.options.internal.address, port: bindPort(this.options.internal), tls, paths: { [APPLIANCE_PATH]: (ws) => this.appliance.accept(ws) } });
    const sessions = new WsServer({ logger }, { host: this.options.public.address, port: bindPort(this.options.public), tls, paths: { [SESSION_PATH]: (ws) => this.sessions.accept(ws) }, onRequest: this.deps.onRequest });
    try {
      this.servers.push(internal);
      const internalPort = await internal.listen();
      this.servers.push(sessions);
      const publicPort = await sessions.listen();
      this.appliance.start();
      logger.info({ internal: `${this.options.internal.address}:${internalPort}${APPLIANCE_PATH}`, public: `${this.options.public.address}:${publicPort}${SESSION_PATH}` }, 'listening');
      return { public: publicPort, internal: internalPort };
    } catch (error) {
      await this.stop('start failed');
      throw error;
    }
  }

  /** Closes every connection and both listeners, then waits for pending state writes. */
  async stop(reason: string): Promise<void> {
    this.appliance.stop(reason);
    this.sessions.closeAll(reason);
    await Promise.all(this.servers.map((server) => server.close()));
    this.servers.length = 0;
    await this.deps.store.flush();
  }

  status(): TrafficNodeStatus {
    const { store } = this.deps;
    return {
      name: this.options.name,
      guid: store.guid,
      appliedConfigVersion: store.appliedVersion,
      accepting: store.accepting,
      masterConnected: this.appliance.masterConnected,
      masterName: this.appliance.master?.name ?? '',
      term: store.term,
      termMaster: store.termMaster,
      activeSessions: this.hub.activeSessions,
      connectedClients: this.clients.size,
    };
  }

  connectedClients(): ConnectedClient[] {
    return this.clients.list();
  }

  /** Leaves the cluster by itself (`atlas-sim node leave`); returns the configuration version it held. */
  leaveCluster(): Promise<number> {
    return this.appliance.leave();
  }

  /** Drops the master's appliance link so it authenticates again with the current key. */
  dropApplianceLinks(reason: string): void {
    this.appliance.dropLinks(reason);
  }
}

function clientReport(client: ConnectedClient, connected: boolean): atlas.ISessionClientReport {
  return {
    sessionId: client.sessionId,
    participantId: client.participantId,
    role: roleCode(client.role),
    stream: client.stream,
    direction: client.direction === 'publish' ? StreamDirection.DIRECTION_PUBLISH : StreamDirection.DIRECTION_SUBSCRIBE,
    clientIp: client.sourceIp,
    connected,
  };
}
