import type { ClusterProcessInfo } from '../config/cluster-info.js';
import type { AutoActions, ClientProcessConfig } from '../config/client-config.js';
import { SITE_HOSTNAME, ZONE, nodeHostname } from '../config/constants.js';
import { ADMIN_USERNAME } from '../admin/credentials.js';
import type { ClusterBlueprint } from '../admin/cluster-builder.js';
import type { NodeProcessConfig } from '../config/node-config.js';
import type { ClientSpec, FramesSpec, Topology } from '../config/topology.js';
import type { DnsProcessConfig } from '../dns/dns-config.js';
import type { ZoneDefinition } from '../dns/zone.js';
import { HOST_OCTETS, MAX_TRAFFIC_NODES, type AddressBlock } from './address-block.js';
import { addTrafficRecords, ANYCAST_PROCESS_NAME, anycastFile, delegationConfig, type AnycastFile } from './delegation-plan.js';
import type { HiddenPorts } from './hidden-ports.js';
import type { PortPlan } from './ports.js';
import type { RunFolder } from './run-folder.js';

/** Name and hostname label of the cluster DNS server process. */
export const DNS_PROCESS_NAME = 'dns';
/** Name and hostname label of the public STUN server process. */
export const STUN_PROCESS_NAME = 'stun';

/** One appliance process: its config file content and where it is written. */
export interface PlannedNode {
  name: string;
  role: 'master' | 'traffic';
  configFile: string;
  config: NodeProcessConfig;
}

/** Every process of a cluster before it starts, with the files the launcher writes for it. */
export interface ClusterPlan {
  /** `service` is the address and port clients query; the server binds `config.port`, hidden behind the fault layer when there is one. */
  dns: { configFile: string; config: DnsProcessConfig; service: { address: string; port: number } };
  master: PlannedNode;
  /** Backup master of the failover pair (masters[1] of the topology), if any. */
  backup?: PlannedNode;
  trafficNodes: PlannedNode[];
  site: { host: string; port: number };
  /** Anycast router, when the topology has an anycast routing table. */
  anycast?: { configFile: string; config: AnycastFile };
}

export interface PlanInputs {
  topology: Topology;
  seed: string;
  block: AddressBlock;
  ports: PortPlan;
  folder: RunFolder;
  certsDir: string;
  /** Ports the servers bind behind the fault layer; absent when the cluster runs without one. */
  hiddenPorts?: HiddenPorts;
}

/** Addresses of the appliances in a block, in topology order, masters first; used to check ports before planning. */
export function applianceAddresses(topology: Topology, block: AddressBlock): string[] {
  const backup = topology.masters.length > 1 ? [block.address(HOST_OCTETS.backup)] : [];
  return [block.address(HOST_OCTETS.master), ...backup, ...topology.trafficNodes.map((_node, position) => block.trafficNodeAddress(position))];
}

/**
 * Lays out the cluster: addresses from the block (master .1, backup master
 * .2, anycast router .4, traffic nodes from .10, DNS .53), one port pair for
 * every appliance, the DNS zone, and the config of every process.
 */
export function planCluster(inputs: PlanInputs): ClusterPlan {
  const { topology, block, ports, folder, hiddenPorts } = inputs;
  if (topology.trafficNodes.length > MAX_TRAFFIC_NODES) {
    throw new Error(`trafficNodes lists ${topology.trafficNodes.length} nodes; one cluster supports at most ${MAX_TRAFFIC_NODES}; split them into several clusters`);
  }
  const dnsAddress = block.address(HOST_OCTETS.dns);
  const shared = {
    dns: { address: dnsAddress, port: ports.dns },
    certsDir: inputs.certsDir,
    pskFile: folder.pskFile,
    heartbeat: topology.heartbeat,
    admin: { username: ADMIN_USERNAME, passwordHashFile: folder.adminPasswordHashFile },
  };

  const trafficNodes = topology.trafficNodes.map((spec, position): PlannedNode => {
    const address = block.trafficNodeAddress(position);
    return {
      name: spec.name,
      role: 'traffic',
      configFile: folder.configFile(spec.name),
      config: {
        role: 'traffic',
        name: spec.name,
        model: spec.model,
        ...endpoints(spec.name, address, ports, hiddenPorts),
        ...shared,
        dataDir: folder.dataDir(spec.name),
        logFile: folder.logFile(spec.name),
      },
    };
  });

  const trafficEndpoints = trafficNodes.map((node) => ({ name: node.name, host: node.config.public.host, address: node.config.public.address, port: node.config.public.port }));
  const anycastListen = topology.anycast === undefined ? undefined : { address: block.address(HOST_OCTETS.anycast), port: ports.public };
  const anycast = anycastListen === undefined ? undefined : anycastFile(topology, trafficEndpoints, anycastListen, folder.logFile(ANYCAST_PROCESS_NAME));

  const masterSpec = topology.masters[0];
  if (masterSpec === undefined) throw new Error('masters is empty; list one master');
  const masterAddress = block.address(HOST_OCTETS.master);
  const master: PlannedNode = {
    name: masterSpec.name,
    role: 'master',
    configFile: folder.configFile(masterSpec.name),
    config: {
      role: 'master',
      name: masterSpec.name,
      model: masterSpec.model,
      ...endpoints(masterSpec.name, masterAddress, ports, hiddenPorts),
      ...shared,
      dataDir: folder.dataDir(masterSpec.name),
      logFile: folder.logFile(masterSpec.name),
      master: { seed: inputs.seed, sessionKeyFile: folder.sessionKeyFile },
      delegation: delegationConfig(topology, ports.public, anycastListen),
    },
  };

  const backup = planBackup(topology, master, block.address(HOST_OCTETS.backup), ports, folder, hiddenPorts);
  const baseZone = buildZone(dnsAddress, master, backup === undefined ? trafficNodes : [backup, ...trafficNodes], topology.publicStun ? block.address(HOST_OCTETS.stun) : undefined);
  const zone = addTrafficRecords(baseZone, topology, trafficEndpoints);
  // The DNS claim channel listens on the internal port of the DNS server's own address
  // (the hidden internal port behind the fault layer, whose proxy takes the internal port).
  const claim = backup === undefined ? {} : { claim: { port: hiddenPorts?.internal ?? ports.internal, pskFile: folder.pskFile, certsDir: inputs.certsDir, heartbeat: topology.heartbeat } };
  return {
    dns: {
      configFile: folder.configFile(DNS_PROCESS_NAME),
      service: shared.dns,
      config: { name: DNS_PROCESS_NAME, address: dnsAddress, port: hiddenPorts?.dns ?? ports.dns, zone, logFile: folder.logFile(DNS_PROCESS_NAME), ...claim },
    },
    master,
    ...(backup === undefined ? {} : { backup }),
    trafficNodes,
    site: { host: SITE_HOSTNAME, port: ports.public },
    ...(anycast === undefined ? {} : { anycast: { configFile: folder.configFile(ANYCAST_PROCESS_NAME), config: anycast } }),
  };
}

/**
 * Returns the cluster as an administrator enters it on the master's cluster
 * page: the master with its public and internal addresses, every traffic
 * node with the topology's settings, and the method.
 */
export function clusterBlueprint(plan: ClusterPlan, topology: Topology): ClusterBlueprint {
  const address = (endpoint: { host: string; port: number }): string => `${endpoint.host}:${endpoint.port}`;
  const master = plan.master.config;
  return {
    master: { name: master.name, publicAddress: address(master.public), internalAddress: address(master.internal), clusterName: topology.clusterName },
    trafficNodes: topology.trafficNodes.map((spec, position) => {
      const node = plan.trafficNodes[position]!.config;
      return {
        name: spec.name,
        publicAddress: address(node.public),
        internalAddress: address(node.internal),
        model: spec.model,
        accepting: spec.accepting,
        prefixes: spec.prefixes,
        timezone: spec.timezone,
        srvPriority: spec.srvPriority,
        srvWeight: spec.srvWeight,
      };
    }),
    method: topology.method,
  };
}

/**
 * Plans the backup master of masters[1], if the topology has one, and makes
 * the two masters a failover pair: each names the other as its peer, and
 * both hold the site hostname through the DNS claim channel.
 */
function planBackup(topology: Topology, master: PlannedNode, address: string, ports: PortPlan, folder: RunFolder, hidden?: HiddenPorts): PlannedNode | undefined {
  const spec = topology.masters[1];
  if (spec === undefined) return undefined;
  const dnsClaim = { address: master.config.dns.address, port: ports.internal };
  const own = endpoints(spec.name, address, ports, hidden);
  master.config.failover = { initialRole: 'primary', peer: { name: spec.name, public: own.public, internal: own.internal }, dnsClaim };
  return {
    name: spec.name,
    role: 'master',
    configFile: folder.configFile(spec.name),
    config: {
      ...master.config,
      name: spec.name,
      model: spec.model,
      ...own,
      dataDir: folder.dataDir(spec.name),
      logFile: folder.logFile(spec.name),
      failover: { initialRole: 'backup', peer: { name: master.name, public: { ...master.config.public }, internal: { ...master.config.internal } }, dnsClaim },
    },
  };
}

function endpoints(name: string, address: string, ports: PortPlan, hidden?: HiddenPorts): Pick<NodeProcessConfig, 'public' | 'internal'> {
  const host = nodeHostname(name);
  if (hidden === undefined) return { public: { host, address, port: ports.public }, internal: { host, address, port: ports.internal } };
  return {
    public: { host, address, port: ports.public, listenPort: hidden.public },
    internal: { host, address, port: ports.internal, listenPort: hidden.internal },
  };
}

/** Builds the zone: the site hostname points to the master, every node hostname to its own address. */
export function buildZone(dnsAddress: string, master: PlannedNode, trafficNodes: PlannedNode[], stunAddress?: string): ZoneDefinition {
  const a: Record<string, string[]> = {
    [SITE_HOSTNAME]: [master.config.public.address],
    [nodeHostname(DNS_PROCESS_NAME)]: [dnsAddress],
  };
  if (stunAddress !== undefined) a[nodeHostname(STUN_PROCESS_NAME)] = [stunAddress];
  for (const node of [master, ...trafficNodes]) a[node.config.public.host] = [node.config.public.address];
  return { origin: ZONE, a };
}

/**
 * A client to start: its topology entry plus what the launcher or a test may
 * set for this process only. NAT type and firewall default to none.
 */
export interface ClientStart extends Omit<ClientSpec, 'natType' | 'blockInbound'>, Partial<Pick<ClientSpec, 'natType' | 'blockInbound'>> {
  /** Actions the client takes by itself; none by default, so a test or the demo drives it over IPC. */
  auto?: AutoActions;
  /** Frames of this client; the cluster's frames by default. */
  frames?: FramesSpec;
  /** Customer only: a session key from the session generation API. */
  sessionKey?: string;
}

/** Builds the config file content of one client of a running cluster. */
export function planClient(start: ClientStart, cluster: { site: ClusterPlan['site']; dns: { address: string; port: number }; certsDir: string; heartbeat: Topology['heartbeat']; frames: FramesSpec; folder: RunFolder; seed: string }): ClientProcessConfig {
  return {
    role: start.role,
    name: start.name,
    displayName: start.displayName,
    address: start.address,
    site: cluster.site,
    dns: cluster.dns,
    certsDir: cluster.certsDir,
    logFile: cluster.folder.logFile(start.name),
    heartbeat: cluster.heartbeat,
    frames: start.frames ?? cluster.frames,
    auto: start.auto ?? {},
    ...(start.sessionKey === undefined ? {} : { sessionKey: start.sessionKey }),
    // Each client gets its own stream of the cluster's seed, so one client's draws do not shift another's.
    seed: `${cluster.seed}/${start.name}`,
    network: { natType: start.natType ?? 'open', blockInbound: start.blockInbound ?? false },
  };
}

/**
 * TZ environment value that makes a client process report this timezone's
 * current offset. ICU (which Node.js uses for time zones) ignores POSIX TZ
 * strings such as `UTC-05:30`, so whole-hour fixed offsets map to the IANA
 * `Etc/GMT` zones, whose sign is inverted: +02:00 is `Etc/GMT-2`.
 */
export function clientTimezoneEnv(timezone: string): string {
  const fixed = /^([+-])(\d{2}):00$/.exec(timezone);
  if (fixed === null) return timezone;
  const hours = Number(fixed[2]);
  if (hours === 0) return 'Etc/UTC';
  return `Etc/GMT${fixed[1] === '+' ? '-' : '+'}${hours}`;
}

/** Entry of cluster.json for a planned appliance. */
export function nodeInfo(node: PlannedNode, pid: number): ClusterProcessInfo {
  return {
    name: node.name,
    role: node.role,
    hostname: node.config.public.host,
    address: node.config.public.address,
    ports: { public: node.config.public.port, internal: node.config.internal.port },
    pid,
    logFile: node.config.logFile ?? '',
  };
}
