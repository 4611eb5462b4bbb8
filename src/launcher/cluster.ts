import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { AdminClient } from '../admin/admin-client.js';
import type { SyncReport } from '../admin/api-types.js';
import { buildCluster } from '../admin/cluster-builder.js';
import { createAdminCredentials, type AdminCredentials } from '../admin/credentials.js';
import type { ClusterInfo, ClusterProcessInfo } from '../config/cluster-info.js';
import { DEFAULT_TOPOLOGY } from '../config/default-topology.js';
import { writeRandomSecretFile } from '../config/secret-file.js';
import type { FramesSpec, HeartbeatSpec, Topology } from '../config/topology.js';
import { validateClientSpec, validateTopology } from '../config/topology-validation.js';
import { nodeHostname } from '../config/constants.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { ensureClusterCerts, type ClusterCerts } from '../net/certs.js';
import { createClusterLookup } from '../net/lookup.js';
import { errorMessage } from '../util/errors.js';
import { writeApiAccountFile } from './api-account-file.js';
import { allocateAddressBlock, HOST_OCTETS, type AddressBlock } from './address-block.js';
import { DEFAULT_READY_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, describeExit, forkChild, stopChildren, type ChildEvent, type ChildExit, type ChildHandle, type ChildSpec } from './child-process.js';
import { startSession, waitFor, waitForEvent, type EventMatch, type StartedSession, type StartSessionOptions, type WaitOptions } from './cluster-driver.js';
import { ControlServer, controlSocketPath } from './control-server.js';
import { FAULT_LAYER_PROCESS_NAME, FaultLayer } from './fault-layer.js';
import { chooseHiddenPorts, type HiddenPorts } from './hidden-ports.js';
import { applyProcessSignal, stopForRestart, type ProcessFault } from './process-faults.js';
import { applianceAddresses, clientTimezoneEnv, clusterBlueprint, DNS_PROCESS_NAME, STUN_PROCESS_NAME, nodeInfo, planClient, planCluster, type ClientStart, type ClusterPlan, type PlannedNode } from './cluster-plan.js';
import { ANYCAST_PROCESS_NAME } from './delegation-plan.js';
import { findPrimaryMaster, waitForBackup } from './failover-formation.js';
import { waitForFormation, DEFAULT_FORMATION_TIMEOUT_MS } from './formation.js';
import { choosePorts, chooseStunPort, findFreeUdpPort, type PortPlan } from './ports.js';
import { assertCliBuilt } from './project-root.js';
import type { ConnectedClientReport, MasterStatusReport } from '../master/status-report.js';
import type { ConnectedClient as SessionClientReport } from '../traffic/client-registry.js';
import { prepareRunFolder, removeRunFolder, type RunFolder } from './run-folder.js';
import { Watchdog, WATCHDOG_PROCESS_NAME } from './watchdog.js';

/** Time a process gets between SIGTERM and SIGKILL when the cluster closes. */
export const STOP_GRACE_MS = 8_000;
/** Name of the launcher's own log file in the run folder's logs/, and of the launcher in timeline events. */
export const LAUNCHER_LOG_NAME = 'launcher';
/** Timeline events a cluster keeps for `events`; older ones are dropped first. */
export const MAX_KEPT_EVENTS = 10_000;

export interface StartClusterOptions {
  /** Topology object or parsed JSON; validated and completed with defaults. The default cluster when absent. */
  topology?: Topology | Record<string, unknown>;
  /** Run folder; `<project root>/runs/<timestamp>-<id>` when absent. */
  runDir?: string;
  /** Seed of every random choice; overrides the topology's. Random when neither gives one. */
  seed?: string;
  /** Frame settings that override the topology's. */
  frames?: Partial<FramesSpec>;
  /** Start the topology's clients once the cluster has formed (default true). */
  startClients?: boolean;
  /**
   * Try ports 443/8443 and 53 first (default true). False goes straight to
   * fallback ports, as a process without root or CAP_NET_BIND_SERVICE does.
   */
  standardPorts?: boolean;
  /** Certificate folder; certs/ at the project root when absent. */
  certsDir?: string;
  /** Heartbeat settings that override the topology's, such as { intervalMs: 250, timeoutMs: 1000 }. */
  heartbeat?: Partial<HeartbeatSpec>;
  /**
   * Front every server's listeners with the userspace fault layer (default
   * true), so link faults can be applied. False connects clients straight to
   * the servers and makes `faults.link()` throw.
   */
  faultLayer?: boolean;
  readyTimeoutMs?: number;
  formationTimeoutMs?: number;
  /**
   * Delete the run folder when the cluster closes, and also when the process
   * that started it dies without closing it (the watchdog process does that).
   */
  removeRunDir?: boolean;
  /** Open the control socket that `atlas-sim chaos` uses (default true). */
  controlSocket?: boolean;
}

export interface CloseOptions {
  /**
   * Delete the run folder after every process has exited (only its contents
   * when the caller gave the folder); the start option removeRunDir by default.
   */
  removeRunDir?: boolean;
}

/** A process that exited while the cluster was running, not during close(). */
export interface UnexpectedExit {
  name: string;
  role: string;
  status: ChildExit;
  /** The process fault that made it exit (kill, stop, restart), when a caller asked for one. */
  fault?: ProcessFault;
}

/**
 * A running cluster: every process the launcher started, reachable over IPC.
 * Emits 'event' for each timeline event a process reports and 'exit' for
 * each process that exits before close().
 */
export class Cluster extends EventEmitter<{ event: [ChildEvent]; exit: [UnexpectedExit] }> {
  /** DNS server, traffic nodes and master, by name, in start order. */
  readonly nodes = new Map<string, ChildHandle>();
  /** Clients by name, in start order. */
  readonly clients = new Map<string, ChildHandle>();
  /** Timeline events of every process and of the launcher, oldest first, at most MAX_KEPT_EVENTS. */
  readonly events: ChildEvent[] = [];
  readonly warnings: string[];
  ports: PortPlan | undefined;
  plan: ClusterPlan | undefined;
  /** Outcome of the sync that built the cluster through the admin API. */
  firstSync: SyncReport | undefined;
  /** Time the admin requests that built the cluster took, from "create" to the end of the first sync, in ms. */
  adminBuildMs: number | undefined;

  private block: AddressBlock | undefined;
  private closing: Promise<void> | undefined;
  private certsDir = '';
  private certs: ClusterCerts | undefined;
  private credentials: AdminCredentials | undefined;
  private adminClient: AdminClient | undefined;
  private readonly nodeInfos: ClusterProcessInfo[] = [];
  private readonly clientInfos: ClusterProcessInfo[] = [];
  /** Start arguments of each process, so restart() starts it the same way. */
  private readonly specs = new Map<string, Omit<ChildSpec, 'cliPath'>>();
  /** Process fault requested per PID, so its exit is reported with the cause. */
  private readonly requestedExits = new Map<number, ProcessFault>();
  private faultLayer: FaultLayer | undefined;
  private watchdog: Watchdog | undefined;
  private control: ControlServer | undefined;

  constructor(
    readonly topology: Topology,
    readonly seed: string,
    readonly folder: RunFolder,
    readonly logger: Logger,
    private readonly cliPath: string,
    private readonly options: StartClusterOptions,
    warnings: string[],
  ) {
    super();
    this.warnings = warnings;
  }

  get runDir(): string {
    return this.folder.dir;
  }

  /** Lock file of the loopback /24 the cluster holds; undefined before it is reserved. */
  get addressBlockLockFile(): string | undefined {
    return this.block?.lockFile;
  }

  /** The cluster's /24 of loopback, such as 127.104.5, and the lock file that reserves it. */
  get addressBlock(): { network: string; lockFile: string } {
    const block = this.requireBlock();
    return { network: block.network, lockFile: block.lockFile };
  }

  /** Link faults: add with `faults.link({ a, b, kind, ... })`, remove with `faults.heal(id?)`. */
  get faults(): FaultLayer {
    if (this.faultLayer === undefined) throw new Error('the cluster has not started yet; await startCluster() first');
    return this.faultLayer;
  }

  /** Contents of cluster.json as last written. */
  get info(): ClusterInfo {
    const plan = this.requirePlan();
    return {
      clusterName: this.topology.clusterName,
      seed: this.seed,
      runDir: this.folder.dir,
      site: plan.site,
      dns: plan.dns.service,
      certsDir: this.certsDir,
      heartbeat: this.topology.heartbeat,
      frames: this.topology.frames,
      nodes: this.sortedNodeInfos(),
      clients: [...this.clientInfos],
      ...(this.control === undefined ? {} : { controlSocket: this.control.path }),
    };
  }

  /** Returns the process of that name (node or client); throws listing the known names. */
  process(name: string): ChildHandle {
    const handle = this.nodes.get(name) ?? this.clients.get(name);
    if (handle === undefined) {
      throw new Error(`no process named "${name}" in this cluster; known: ${[...this.nodes.keys(), ...this.clients.keys()].join(', ')}`);
    }
    return handle;
  }

  /**
   * Client of the primary master's admin API at the site hostname, with the
   * run's admin credentials: what `atlas-sim cluster ...` uses.
   */
  get admin(): AdminClient {
    this.adminClient ??= this.adminClientFor(this.requirePlan().site.host, this.requirePlan().site.port);
    return this.adminClient;
  }

  /** Client of one appliance's own admin API (the Security page, `node leave`), by process name. */
  nodeAdmin(name: string): AdminClient {
    const plan = this.requirePlan();
    const node = [plan.master, ...(plan.backup === undefined ? [] : [plan.backup]), ...plan.trafficNodes].find((candidate) => candidate.name === name);
    if (node === undefined) throw new Error(`no appliance named "${name}" in this cluster`);
    return this.adminClientFor(node.config.public.host, node.config.public.port);
  }

  /** Records an event of the launcher (or of `source`, such as an experiment) in the timeline and emits it. */
  report(event: string, data: Record<string, unknown> = {}, source = LAUNCHER_LOG_NAME): void {
    this.record({ name: source, event, atMs: Date.now(), data });
  }

  /** Sends SIGKILL and waits for the exit. */
  kill(name: string): Promise<void> {
    return this.processFault(name, 'kill');
  }

  /** Sends SIGTERM (a clean shutdown) and waits for the exit. */
  stop(name: string): Promise<void> {
    return this.processFault(name, 'stop');
  }

  /** Sends SIGSTOP: the process keeps its sockets but runs no code until resume(). */
  pause(name: string): Promise<void> {
    return this.processFault(name, 'pause');
  }

  /** Sends SIGCONT to a paused process. */
  resume(name: string): Promise<void> {
    return this.processFault(name, 'resume');
  }

  /** Applies one process fault by name; restart keeps the process's identity and data folder. */
  async processFault(name: string, fault: ProcessFault): Promise<void> {
    if (fault === 'restart') {
      await this.restart(name);
      return;
    }
    const handle = this.process(name);
    this.requestedExits.set(handle.pid, fault);
    this.report(fault, { process: name, pid: handle.pid });
    await applyProcessSignal(handle, fault, this.logger);
  }

  /**
   * Stops a process (SIGTERM, or SIGKILL with `hard`) if it runs, then starts
   * it again with the same arguments and config file, so a node keeps its
   * GUID and data folder. Resolves with the new handle once it is ready.
   */
  async restart(name: string, options: { hard?: boolean } = {}): Promise<ChildHandle> {
    const old = this.process(name);
    const spec = this.specs.get(name);
    if (spec === undefined) throw new Error(`${name} has no recorded start arguments; it cannot be restarted`);
    this.requestedExits.set(old.pid, 'restart');
    this.report('restart', { process: name, pid: old.pid, hard: options.hard === true });
    await stopForRestart(old, STOP_GRACE_MS, options.hard === true);
    const handle = await this.launch(this.nodes.has(name) ? this.nodes : this.clients, spec);
    for (const info of [...this.nodeInfos, ...this.clientInfos]) {
      if (info.name === name) info.pid = handle.pid;
    }
    await this.writeClusterInfo();
    this.report('restarted', { process: name, pid: handle.pid });
    return handle;
  }

  /** Starts a support session between a customer and a representative client; resolves once both are in it. */
  startSession(options: StartSessionOptions): Promise<StartedSession> {
    return startSession(this, options);
  }

  /** Calls `check` until it returns a value other than undefined, null or false, or throws after the deadline. */
  waitFor<T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, options?: WaitOptions): Promise<T> {
    return waitFor(check, options);
  }

  /** Resolves with the first matching timeline event at or after `sinceMs` (default now), or throws after the deadline. */
  waitForEvent(match: EventMatch, options?: { timeoutMs?: number; sinceMs?: number }): Promise<ChildEvent> {
    return waitForEvent(this, match, options);
  }

  /** Every client online on the primary master, with its session's connections and the reason for each node. */
  async connectedClients(): Promise<ConnectedClientReport[]> {
    return (await this.request(await this.primaryMaster(), 'connected-clients')) as ConnectedClientReport[];
  }

  /** Clients connected to one traffic node: only those in sessions through it. */
  async nodeClients(node: string): Promise<SessionClientReport[]> {
    return (await this.request(node, 'connected-clients')) as SessionClientReport[];
  }

  /** The primary master's view: every traffic node with online, accepting and configuration version. */
  async status(): Promise<MasterStatusReport> {
    return (await this.request(await this.primaryMaster(), 'status')) as MasterStatusReport;
  }

  /** Resolves once the primary master reports `node` online (or offline, with `online: false`); throws after the deadline. */
  async waitForNode(node: string, options: { online?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const online = options.online ?? true;
    await waitFor(async () => (await this.status()).nodes.find((entry) => entry.name === node)?.online === online, {
      timeoutMs: options.timeoutMs,
      description: `the primary master to report ${node} ${online ? 'online' : 'offline'}`,
    });
  }

  /** Sends a request to a node or client over IPC, such as request('master1', 'status'). */
  request(name: string, command: string, args: Record<string, unknown> = {}, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<unknown> {
    return this.process(name).request(command, args, timeoutMs);
  }

  /**
   * Returns the name of the master that serves as the primary now: the one
   * of highest term among the running masters that report the primary role.
   * Throws when none does, as during a takeover.
   */
  async primaryMaster(): Promise<string> {
    const masters = this.topology.masters.map((spec) => this.nodes.get(spec.name)).filter((handle) => handle !== undefined);
    return findPrimaryMaster(masters);
  }

  /** Starts every process in order, or stops whatever started and rethrows. */
  async start(): Promise<void> {
    try {
      await this.startNodes();
      if (this.options.startClients !== false) {
        await Promise.all(this.topology.clients.map((client) => this.startClient(client)));
      }
      if (this.options.controlSocket !== false) {
        this.control = new ControlServer({ logger: this.logger, target: this }, controlSocketPath(this.runDir));
        await this.control.listen();
        await this.writeClusterInfo();
      }
      this.logger.info({ runDir: this.runDir, nodes: [...this.nodes.keys()], clients: [...this.clients.keys()] }, 'cluster started');
    } catch (error) {
      this.logger.error({ err: errorMessage(error) }, 'cluster start failed; stopping every process started so far');
      await this.close();
      throw error;
    }
  }

  /** Starts one more client once the cluster runs; the name must be new. */
  async startClient(start: ClientStart): Promise<ChildHandle> {
    const spec = validateClientSpec(start, `client ${start.name}`);
    if (this.nodes.has(spec.name) || this.clients.has(spec.name)) throw new Error(`a process named "${spec.name}" already exists in this cluster; choose another client name`);
    const plan = this.requirePlan();
    const config = planClient({ ...start, ...spec }, {
      site: plan.site,
      dns: plan.dns.service,
      certsDir: this.certsDir,
      heartbeat: this.topology.heartbeat,
      frames: this.topology.frames,
      folder: this.folder,
      seed: this.seed,
    });
    const configFile = this.folder.configFile(spec.name);
    await writeJson(configFile, config);

    this.faults.register(spec.name, spec.address);
    const handle = await this.launch(this.clients, {
      name: spec.name,
      role: spec.role,
      args: ['client', spec.role === 'representative' ? 'rep' : 'customer', '--config', configFile],
      logFile: config.logFile ?? this.folder.logFile(spec.name),
      env: { ...process.env, TZ: clientTimezoneEnv(spec.timezone) },
    });
    this.clientInfos.push({ name: spec.name, role: spec.role, hostname: '', address: spec.address, ports: {}, pid: handle.pid, logFile: handle.logFile });
    await this.writeClusterInfo();
    return handle;
  }

  /**
   * Stops every process: SIGTERM, then SIGKILL for any still running after
   * STOP_GRACE_MS; then releases the address block. Clients stop first so the
   * nodes log their departure. Safe to call more than once.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.stopAll();
    return this.closing.then(async () => {
      if (options.removeRunDir ?? this.options.removeRunDir === true) await removeRunFolder(this.folder);
    });
  }

  private async stopAll(): Promise<void> {
    this.adminClient?.close();
    await this.control?.close();
    // A paused process handles SIGTERM only once it runs again.
    for (const handle of [...this.clients.values(), ...this.nodes.values()]) handle.kill('SIGCONT');
    await stopChildren([...this.clients.values()], STOP_GRACE_MS, this.logger);
    await stopChildren([...this.nodes.values()].reverse(), STOP_GRACE_MS, this.logger);
    if (this.faultLayer?.handle !== undefined) await stopChildren([this.faultLayer.handle], STOP_GRACE_MS, this.logger);
    await this.block?.release();
    await this.watchdog?.stop();
    this.logger.info('cluster stopped');
  }

  private async startNodes(): Promise<void> {
    this.block = await allocateAddressBlock();
    this.logger.info({ network: `${this.block.network}.0/24`, lockFile: this.block.lockFile }, 'address block reserved');

    // The anycast router listens on the traffic nodes' public port too, so that port must be free on its address.
    const anycastAddresses = this.topology.anycast === undefined ? [] : [this.block.address(HOST_OCTETS.anycast)];
    this.ports = await choosePorts([...applianceAddresses(this.topology, this.block), ...anycastAddresses], this.block.address(HOST_OCTETS.dns), { standardPorts: this.options.standardPorts });
    if (this.ports.fallbackReason !== undefined) this.logger.warn({ ports: this.ports }, this.ports.fallbackReason);

    // Hashing the admin password takes a scrypt run, so it overlaps with the certificates.
    const credentials = createAdminCredentials(this.folder.dir);
    credentials.catch(() => undefined);
    // The watchdog and the fault layer start while the launcher writes keys and certificates.
    const infrastructure = Promise.allSettled([this.startWatchdog(this.block), this.startFaultLayer()]);
    this.certs = await ensureClusterCerts(this.options.certsDir);
    this.certsDir = this.certs.dir;
    await writeRandomSecretFile(this.folder.pskFile);
    await writeRandomSecretFile(this.folder.sessionKeyFile);
    this.credentials = await credentials;

    const apiAccount = await writeApiAccountFile(this.folder.apiAccountFile);

    const [watchdogStart, faultLayerStart] = await infrastructure;
    if (watchdogStart.status === 'rejected') throw watchdogStart.reason;
    if (faultLayerStart.status === 'rejected') throw faultLayerStart.reason;
    const hiddenPorts = faultLayerStart.value;
    if (this.faultLayer?.handle !== undefined) this.watchdog?.track(FAULT_LAYER_PROCESS_NAME, this.faultLayer.handle.pid);
    const plan = planCluster({ topology: this.topology, seed: this.seed, block: this.block, ports: this.ports, folder: this.folder, certsDir: this.certsDir, ...(hiddenPorts === undefined ? {} : { hiddenPorts }) });
    // Both masters get the API account at launch, as both get the admin password hash, so the
    // backup accepts the run's account once it takes over. No admin request adds accounts later.
    for (const master of [plan.master, ...(plan.backup === undefined ? [] : [plan.backup])]) {
      master.config.apiAccounts = [apiAccount];
      master.config.stun = { port: await chooseStunPort(master.config.public.address) };
    }
    this.plan = plan;
    await writeJson(plan.dns.configFile, plan.dns.config);
    const backup = plan.backup === undefined ? [] : [plan.backup];
    for (const node of [...plan.trafficNodes, ...backup, plan.master]) await writeJson(node.configFile, node.config);

    const claimPort = plan.dns.config.claim === undefined ? undefined : { advertised: this.ports.internal, bound: plan.dns.config.claim.port };
    await this.faults.frontDns(DNS_PROCESS_NAME, plan.dns.service, plan.dns.config.port, claimPort);
    const dns = await this.launch(this.nodes, { name: DNS_PROCESS_NAME, role: 'dns', args: ['dns', '--config', plan.dns.configFile], logFile: plan.dns.config.logFile ?? '' });
    this.nodeInfos.push({ name: DNS_PROCESS_NAME, role: 'dns', hostname: `${DNS_PROCESS_NAME}.${plan.site.host}`, address: plan.dns.config.address, ports: { dns: plan.dns.service.port }, pid: dns.pid, logFile: dns.logFile });

    await Promise.all([
      ...[...plan.trafficNodes, ...backup].map((node) => this.launchAppliance(node)),
      this.topology.publicStun ? this.launchStun() : Promise.resolve(),
      this.launchAnycastRouter(plan),
    ]);
    await this.launchAppliance(plan.master);
    const formationTimeoutMs = this.options.formationTimeoutMs ?? DEFAULT_FORMATION_TIMEOUT_MS;
    // A backup that has joined before the cluster is created is listed in it from the start.
    if (plan.backup !== undefined) await waitForBackup(this.process(plan.master.name), plan.backup.name, formationTimeoutMs);
    await this.buildThroughAdminApi(plan);

    const formation = await waitForFormation(this.process(plan.master.name), plan.trafficNodes.map((node) => node.name), formationTimeoutMs);
    this.logger.info({ master: plan.master.name, backup: plan.backup?.name, nodes: formation.online, elapsedMs: formation.elapsedMs }, 'cluster formed');
    await this.writeClusterInfo();
  }

  private async startWatchdog(block: AddressBlock): Promise<void> {
    this.watchdog = await Watchdog.start({
      cliPath: this.cliPath,
      logFile: this.folder.logFile(WATCHDOG_PROCESS_NAME),
      runDir: this.runDir,
      removeRunDir: this.options.removeRunDir === true,
      runDirCreated: this.folder.created,
      lockFile: block.lockFile,
    }, this.logger);
  }

  /**
   * Builds the cluster the way an administrator does, through the master's
   * admin API: create it, add the traffic nodes, set the method, sync.
   * Throws when a step is rejected or a node fails the sync.
   */
  private async buildThroughAdminApi(plan: ClusterPlan): Promise<void> {
    const startedMs = Date.now();
    const blueprint = clusterBlueprint(plan, this.topology);
    const p2p = this.topology.peerToPeer;
    if (p2p.enabled) {
      const stunPort = this.nodeInfos.find((info) => info.name === STUN_PROCESS_NAME)?.ports.stun;
      const publicStunServer = stunPort === undefined ? '' : `${nodeHostname(STUN_PROCESS_NAME)}:${stunPort}`;
      blueprint.peerToPeer = { enabled: true, stunRole: p2p.stunRole, forceRelay: p2p.forceRelay, timeoutMs: p2p.timeoutMs, publicStunServer };
    }
    const built = await buildCluster(this.admin, blueprint);
    this.firstSync = built.sync;
    this.adminBuildMs = Date.now() - startedMs;
    const failed = built.sync.nodes.filter((node) => !node.ok);
    if (failed.length > 0) {
      throw new Error(`the first sync failed for ${failed.map((node) => `${node.name} (${node.codeName}: ${node.message})`).join(', ')}; see the logs in ${this.folder.dir}/logs`);
    }
    this.logger.info({ version: built.sync.version, nodes: built.sync.succeeded, syncMs: built.sync.durationMs, elapsedMs: this.adminBuildMs }, 'cluster built through the admin API');
  }

  private adminClientFor(host: string, port: number): AdminClient {
    const plan = this.requirePlan();
    if (this.certs === undefined || this.credentials === undefined) throw new Error('the cluster has not started yet; await startCluster() first');
    const lookup = createClusterLookup({ server: plan.dns.service, logger: this.logger.child({ component: 'dns' }) });
    return new AdminClient({ host, port, ca: this.certs.ca, lookup, credentials: this.credentials });
  }

  /**
   * Starts the fault layer process unless the options turn it off, and
   * chooses the hidden ports the servers bind behind it.
   */
  private async startFaultLayer(): Promise<HiddenPorts | undefined> {
    const report = (event: string, data: Record<string, unknown>): void => this.report(event, data);
    if (this.options.faultLayer === false) {
      this.faultLayer = new FaultLayer({ logger: this.logger, handle: undefined, report });
      return undefined;
    }
    const block = this.requireBlock();
    const ports = this.ports!;
    const hidden = await chooseHiddenPorts(applianceAddresses(this.topology, block), block.address(HOST_OCTETS.dns), ports);
    const logFile = this.folder.logFile(FAULT_LAYER_PROCESS_NAME);
    const handle = forkChild({ name: FAULT_LAYER_PROCESS_NAME, role: 'netfault', cliPath: this.cliPath, args: ['netfault', '--name', FAULT_LAYER_PROCESS_NAME, '--log-file', logFile, '--seed', this.seed], logFile });
    this.faultLayer = new FaultLayer({ logger: this.logger, handle, report });
    handle.once('exit', (status) => {
      if (this.closing === undefined) this.logger.error({ childPid: handle.pid, exit: describeExit(status) }, 'fault layer process exited; connections to servers behind it fail');
    });
    // readyTimeoutMs applies to the cluster's own processes; the fault layer gets the default.
    await handle.waitForReady(DEFAULT_READY_TIMEOUT_MS);
    this.logger.info({ childPid: handle.pid, hiddenPorts: hidden }, 'fault layer ready');
    return hidden;
  }

  /**
   * Starts the public STUN server. Behind the fault layer it binds a hidden
   * port of its own and the proxy listens on the advertised one (3478 when
   * free), writing each client's own port into the Binding responses.
   * Without a fault layer it binds 3478 itself, or a free port when 3478 is taken.
   */
  private async launchStun(): Promise<void> {
    const address = this.requireBlock().address(HOST_OCTETS.stun);
    const logFile = this.folder.logFile(STUN_PROCESS_NAME);
    const standard = await chooseStunPort(address);
    const fronted = this.faults.enabled;
    // A fixed hidden port, so that restart() binds the same port behind the proxy.
    const port = fronted ? await findFreeUdpPort(address) : standard;
    const handle = await this.launch(this.nodes, {
      name: STUN_PROCESS_NAME,
      role: 'stun',
      args: ['stun', '--address', address, '--port', String(port), '--log-file', logFile, '--name', STUN_PROCESS_NAME],
      logFile,
    });
    const boundPort = typeof handle.readyInfo.port === 'number' ? handle.readyInfo.port : port;
    let advertisedPort = boundPort;
    if (fronted) {
      advertisedPort = standard === 0 ? await findFreeUdpPort(address) : standard;
      await this.faults.frontStun(STUN_PROCESS_NAME, { address, port: advertisedPort }, boundPort);
    } else {
      this.faults.register(STUN_PROCESS_NAME, address);
    }
    this.nodeInfos.push({ name: STUN_PROCESS_NAME, role: 'stun', hostname: nodeHostname(STUN_PROCESS_NAME), address, ports: { stun: advertisedPort }, pid: handle.pid, logFile });
  }

  /**
   * Starts the anycast router when the plan has one.
   * NOTE: the fault layer does not front the router, so link faults that name "anycast" cannot act.
   */
  private async launchAnycastRouter(plan: ClusterPlan): Promise<void> {
    const anycast = plan.anycast;
    if (anycast === undefined) return;
    await writeJson(anycast.configFile, anycast.config);
    const handle = await this.launch(this.nodes, { name: ANYCAST_PROCESS_NAME, role: 'anycast', args: ['anycast', '--config', anycast.configFile], logFile: anycast.config.logFile });
    this.faults.register(ANYCAST_PROCESS_NAME, anycast.config.address);
    this.nodeInfos.push({ name: ANYCAST_PROCESS_NAME, role: 'anycast', hostname: '', address: anycast.config.address, ports: { public: anycast.config.port }, pid: handle.pid, logFile: handle.logFile });
  }

  private async launchAppliance(node: PlannedNode): Promise<void> {
    await this.faults.frontAppliance(node.name, [node.config.public, node.config.internal]);
    const handle = await this.launch(this.nodes, { name: node.name, role: node.role, args: ['node', '--config', node.configFile], logFile: node.config.logFile ?? '' });
    this.nodeInfos.push(nodeInfo(node, handle.pid));
  }

  /** Forks a process, registers it before waiting so close() always finds it, and waits for its ready message. */
  private async launch(group: Map<string, ChildHandle>, spec: Omit<ChildSpec, 'cliPath'>): Promise<ChildHandle> {
    const handle = forkChild({ ...spec, cliPath: this.cliPath });
    group.set(spec.name, handle);
    this.specs.set(spec.name, spec);
    this.watchdog?.track(spec.name, handle.pid);
    this.logger.info({ process: spec.name, role: spec.role, childPid: handle.pid, args: spec.args }, 'process started');
    handle.on('event', (event) => this.record(event));
    handle.once('exit', (status) => {
      if (this.closing !== undefined) return;
      const fault = this.requestedExits.get(handle.pid);
      this.requestedExits.delete(handle.pid);
      const fields = { process: spec.name, role: spec.role, childPid: handle.pid, exit: describeExit(status) };
      if (fault === undefined) this.logger.warn(fields, 'process exited unexpectedly');
      else this.logger.info({ ...fields, fault }, 'process exited after a process fault');
      this.report('exited', { process: spec.name, pid: handle.pid, exit: describeExit(status), ...(fault === undefined ? {} : { fault }) });
      this.emit('exit', { name: spec.name, role: spec.role, status, ...(fault === undefined ? {} : { fault }) });
    });
    await handle.waitForReady(this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    this.logger.info({ process: spec.name, info: handle.readyInfo }, 'process ready');
    return handle;
  }

  /** Node entries in a fixed order: DNS, master, then traffic nodes as the topology lists them. */
  private sortedNodeInfos(): ClusterProcessInfo[] {
    const order = [DNS_PROCESS_NAME, STUN_PROCESS_NAME, ANYCAST_PROCESS_NAME, ...this.topology.masters.map((node) => node.name), ...this.topology.trafficNodes.map((node) => node.name)];
    return [...this.nodeInfos].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  }

  private record(event: ChildEvent): void {
    this.events.push(event);
    if (this.events.length > MAX_KEPT_EVENTS) this.events.splice(0, this.events.length - MAX_KEPT_EVENTS);
    this.emit('event', event);
  }

  private async writeClusterInfo(): Promise<void> {
    await writeJson(this.folder.clusterInfoFile, this.info);
  }

  private requireBlock(): AddressBlock {
    if (this.block === undefined) throw new Error('no address block is reserved yet; await startCluster() first');
    return this.block;
  }

  private requirePlan(): ClusterPlan {
    if (this.plan === undefined) throw new Error('the cluster has not been planned yet; await startCluster() first');
    return this.plan;
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Starts a cluster: validates the topology, reserves a loopback /24, writes
 * the run folder, then starts the DNS server, the traffic nodes and the
 * master, waits until the master reports every traffic node online, and starts
 * the clients. On failure every process already started is stopped before the
 * error is thrown.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<Cluster> {
  const cliPath = assertCliBuilt();
  const { topology: validated, warnings } = validateTopology(options.topology ?? DEFAULT_TOPOLOGY, 'topology');
  const topology: Topology = { ...validated, frames: { ...validated.frames, ...options.frames }, heartbeat: { ...validated.heartbeat, ...options.heartbeat } };
  if (options.frames !== undefined || options.heartbeat !== undefined) validateTopology({ ...topology }, 'topology');
  const seed = options.seed ?? topology.seed ?? randomBytes(4).toString('hex');

  const folder = await prepareRunFolder(options.runDir);
  const logger = createLogger({ name: LAUNCHER_LOG_NAME, file: folder.logFile(LAUNCHER_LOG_NAME) });
  logger.info({ clusterName: topology.clusterName, seed, runDir: folder.dir }, 'starting cluster');
  for (const warning of warnings) logger.warn(warning);

  const cluster = new Cluster(topology, seed, folder, logger, cliPath, options, warnings);
  await cluster.start();
  return cluster;
}
