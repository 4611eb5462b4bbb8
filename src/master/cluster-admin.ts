import { randomBytes } from 'node:crypto';
import { SITE_HOSTNAME } from '../config/constants.js';
import { DEFAULT_PEER_TO_PEER, isStunRole, MAX_P2P_TIMEOUT_MS, MIN_P2P_TIMEOUT_MS, STUN_ROLES } from '../config/peer-to-peer.js';
import { readSecretFile } from '../config/secret-file.js';
import type { Logger } from '../logging/logger.js';
import { badRequest, formatProblemValue, HttpError } from '../net/http/router.js';
import { atlas, type ClusterConfig, type IClusterMember } from '../protocol/messages.js';
import { ConfigError } from '../util/errors.js';
import { isInCluster, SESSION_KEY_BYTES, type ClusterConfigStore } from './cluster-config-store.js';
import {
  checkAgainstCluster,
  checkTrafficNodeFields,
  DEFAULT_SRV_PRIORITY,
  DEFAULT_SRV_WEIGHT,
  DEFAULT_TRAFFIC_MODEL,
  describeInvalidMethod,
  describeInvalidName,
  parseNodeAddress,
  type FieldProblem,
  type HostPort,
} from './member-validation.js';

/** Cluster name of a new cluster when the request gives none. */
export const DEFAULT_CLUSTER_NAME = 'atlas-sim';
/** Method for choosing traffic nodes of a new cluster, until the administrator sets another. */
export const DEFAULT_METHOD = 'random';

export interface ClusterAdminDeps {
  logger: Logger;
  store: ClusterConfigStore;
  /** This master appliance: its GUID and model go into the primary member. */
  self: { guid: string; model: string };
  /** Key that signs session tickets in a new cluster. */
  sessionKey: () => Promise<Uint8Array>;
  /** Sends a changed accepting flag to the traffic node at once, because the flag needs no sync. */
  onAcceptingChanged: (name: string, accepting: boolean) => void;
  /** Backup master paired with this primary, which a new cluster lists next to the primary. */
  backupMember?: () => IClusterMember | undefined;
}

/** Reads the session key from its hex key file and checks its length; errors never show the key. */
export async function readSessionKey(file: string): Promise<Buffer> {
  const key = await readSecretFile(file, 'master.sessionKeyFile');
  if (key.length !== SESSION_KEY_BYTES) {
    throw new ConfigError(`master.sessionKeyFile: key file ${file} contains a ${key.length}-byte key; expected ${SESSION_KEY_BYTES} bytes (${SESSION_KEY_BYTES * 2} hex digits)`);
  }
  return key;
}

/** Returns a random session key, for a master whose config names no key file. */
export function randomSessionKey(): Promise<Uint8Array> {
  return Promise.resolve(randomBytes(SESSION_KEY_BYTES));
}

/** Throws 400 for the problems found, the first one at the top level and all of them in `problems`. */
export function throwProblems(problems: FieldProblem[]): void {
  const first = problems[0];
  if (first === undefined) return;
  const error = badRequest(first.field, first.value, first.reason);
  if (problems.length > 1) {
    error.problem.problems = problems;
    error.problem.error = problems.map((problem) => `${problem.field}: ${formatProblemValue(problem.value)} ${problem.reason}`).join('; ');
  }
  throw error;
}

function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  throw badRequest('(body)', body, 'is not a JSON object; send the fields as { "name": ..., ... }');
}

/**
 * The operations of the cluster page on the primary master: create the
 * cluster, add, edit and remove traffic nodes, and set the method. Every
 * change is validated in full before anything is stored. It raises the
 * configuration version, so "sync required" shows until the next sync. The
 * accepting flag is the exception: it takes effect at once.
 */
export class ClusterAdmin {
  constructor(private readonly deps: ClusterAdminDeps) {}

  /** Creates the cluster with this appliance as the primary master ("Create New Cluster"). */
  async create(body: unknown): Promise<ClusterConfig> {
    const request = requireObject(body);
    const { store } = this.deps;
    if (isInCluster(store.current)) {
      throw new HttpError(409, { error: `this appliance is already the primary master of cluster ${store.current.clusterName}; disband it first to create another` });
    }
    const problems: FieldProblem[] = [];
    for (const field of Object.keys(request)) {
      if (!['name', 'publicAddress', 'internalAddress', 'clusterName'].includes(field)) {
        problems.push({ field, value: request[field], reason: 'is not a field of the primary master node; the fields are name, publicAddress, internalAddress, clusterName' });
      }
    }
    const nameProblem = describeInvalidName(request.name);
    if (nameProblem !== undefined) problems.push({ field: 'name', value: request.name, reason: nameProblem });
    const publicAddress = this.address(request, 'publicAddress', problems);
    const internalAddress = this.address(request, 'internalAddress', problems);
    const clusterName = request.clusterName ?? DEFAULT_CLUSTER_NAME;
    if (typeof clusterName !== 'string' || clusterName.trim() === '' || clusterName.length > 100) {
      problems.push({ field: 'clusterName', value: clusterName, reason: 'is not a name of 1 to 100 characters' });
    }
    throwProblems(problems);

    const sessionKey = await this.deps.sessionKey();
    const primary: IClusterMember = {
      name: request.name as string,
      applianceGuid: this.deps.self.guid,
      role: 'primary',
      publicHost: publicAddress!.host,
      publicPort: publicAddress!.port,
      internalHost: internalAddress!.host,
      internalPort: internalAddress!.port,
      model: this.deps.self.model,
      accepting: false,
      prefixes: [],
      timezone: '',
    };
    const config = await store.update((draft) => {
      draft.clusterName = clusterName as string;
      draft.method = DEFAULT_METHOD;
      draft.siteHostname = SITE_HOSTNAME;
      draft.sessionKey = sessionKey;
      const backup = this.deps.backupMember?.();
      draft.members = [atlas.ClusterMember.create(primary), ...(backup === undefined ? [] : [atlas.ClusterMember.create(backup)])];
    });
    this.deps.logger.info({ cluster: config.clusterName, primary: primary.name, version: config.version }, 'cluster created');
    return config;
  }

  /** Adds a traffic node ("Add Traffic Node"). */
  async addNode(body: unknown): Promise<ClusterConfig> {
    const request = requireObject(body);
    const problems: FieldProblem[] = [];
    checkTrafficNodeFields(request, ['name', 'publicAddress', 'internalAddress'], problems);
    throwProblems(problems);

    const member = toMember(request, undefined);
    return this.change((current) => {
      checkAgainstCluster(current, member, undefined, problems);
      throwProblems(problems);
    }, (draft) => {
      draft.members.push(atlas.ClusterMember.create(member));
    }, { action: 'traffic node added', trafficNode: member.name });
  }

  /**
   * Changes the given fields of a traffic node ("Edit Node"). A change of the
   * accepting flag alone raises no version: it is stored at once and sent to
   * the node without a sync.
   */
  async editNode(name: string, body: unknown): Promise<ClusterConfig> {
    const request = requireObject(body);
    const existing = this.requireTrafficNode(name);
    const problems: FieldProblem[] = [];
    checkTrafficNodeFields(request, [], problems);
    if (Object.keys(request).length === 0) problems.push({ field: '(body)', value: {}, reason: 'changes nothing; send at least one field to change' });
    throwProblems(problems);

    const { accepting, ...rest } = request;
    // The other fields are checked against the cluster before the accepting flag changes, so a rejected request changes nothing.
    if (Object.keys(rest).length > 0) {
      checkAgainstCluster(this.deps.store.current, toMember({ ...rest }, existing), name, problems);
      throwProblems(problems);
    }
    if (typeof accepting === 'boolean' && accepting !== existing.accepting) {
      await this.deps.store.setAccepting(name, accepting);
      this.deps.onAcceptingChanged(name, accepting);
      this.deps.logger.info({ trafficNode: name, accepting }, 'accepting flag changed; no sync needed');
    }
    if (Object.keys(rest).length === 0) return this.deps.store.current;

    const updated = toMember({ ...rest }, this.requireTrafficNode(name));
    return this.change((current) => {
      checkAgainstCluster(current, updated, name, problems);
      throwProblems(problems);
    }, (draft) => {
      const index = draft.members.findIndex((member) => member.name === name);
      draft.members[index] = atlas.ClusterMember.create(updated);
    }, { action: 'traffic node changed', trafficNode: name, fields: Object.keys(rest) });
  }

  /**
   * Removes a traffic node ("Remove Node"). The next sync notifies the node
   * that it left the cluster, no longer pushes to it and drops its link.
   */
  async removeNode(name: string): Promise<ClusterConfig> {
    this.requireTrafficNode(name);
    return this.change(() => undefined, (draft) => {
      draft.members = draft.members.filter((member) => member.name !== name);
    }, { action: 'traffic node removed', trafficNode: name });
  }

  /** Sets the method for choosing traffic nodes. */
  async setMethod(body: unknown): Promise<ClusterConfig> {
    const request = requireObject(body);
    const problems: FieldProblem[] = [];
    for (const field of Object.keys(request)) {
      if (field !== 'method') problems.push({ field, value: request[field], reason: 'is not a field of this request; send { "method": "random" }' });
    }
    const reason = describeInvalidMethod(request.method);
    if (reason !== undefined) problems.push({ field: 'method', value: request.method, reason });
    throwProblems(problems);
    this.requireCluster();
    return this.change(() => undefined, (draft) => {
      draft.method = request.method as string;
    }, { action: 'method changed', method: request.method });
  }

  /**
   * Changes the peer-to-peer settings; fields the request leaves out keep
   * their values. The STUN role "public" needs a public STUN server address
   * while peer to peer is enabled.
   */
  async setPeerToPeer(body: unknown): Promise<ClusterConfig> {
    const request = requireObject(body);
    const problems: FieldProblem[] = [];
    checkPeerToPeerFields(request, problems);
    if (Object.keys(request).length === 0) problems.push({ field: '(body)', value: {}, reason: 'changes nothing; send at least one of enabled, stunRole, publicStunServer, forceRelay, timeoutMs' });
    throwProblems(problems);
    this.requireCluster();
    return this.change((current) => {
      const enabled = (request.enabled as boolean | undefined) ?? current.p2pEnabled;
      const stunRole = (request.stunRole as string | undefined) ?? (current.stunRole || DEFAULT_PEER_TO_PEER.stunRole);
      const server = (request.publicStunServer as string | undefined) ?? current.stunServer;
      if (enabled && stunRole === 'public' && server === '') {
        problems.push({ field: 'publicStunServer', value: server, reason: 'is empty, but stunRole "public" needs it; give the public STUN server as host:port, such as stun.support.example.test:3478' });
      }
      throwProblems(problems);
    }, (draft) => {
      if (typeof request.enabled === 'boolean') draft.p2pEnabled = request.enabled;
      if (typeof request.stunRole === 'string') draft.stunRole = request.stunRole;
      if (typeof request.publicStunServer === 'string') draft.stunServer = request.publicStunServer.toLowerCase();
      if (typeof request.forceRelay === 'boolean') draft.forceRelay = request.forceRelay;
      if (typeof request.timeoutMs === 'number') draft.p2pTimeoutMs = request.timeoutMs;
    }, { action: 'peer-to-peer settings changed', fields: Object.keys(request) });
  }

  private async change(check: (current: ClusterConfig) => void, apply: (draft: ClusterConfig) => void, logFields: Record<string, unknown>): Promise<ClusterConfig> {
    this.requireCluster();
    const config = await this.deps.store.update((draft) => {
      // The checks run on the configuration the change applies to, inside the store's queue.
      check(draft);
      apply(draft);
    });
    this.deps.logger.info({ ...logFields, version: config.version }, 'cluster configuration changed by administrator');
    return config;
  }

  private requireCluster(): void {
    if (!isInCluster(this.deps.store.current)) {
      throw new HttpError(409, { error: 'this appliance is not in a cluster; create the cluster first (atlas-sim cluster create)' });
    }
  }

  private requireTrafficNode(name: string): IClusterMember {
    this.requireCluster();
    const member = this.deps.store.current.members.find((candidate) => candidate.name === name);
    if (member === undefined) {
      const known = this.deps.store.current.members.filter((candidate) => candidate.role === 'traffic').map((candidate) => candidate.name);
      throw new HttpError(404, { error: `no traffic node named ${JSON.stringify(name)} in this cluster; traffic nodes: ${known.join(', ') || 'none'}` });
    }
    if (member.role !== 'traffic') {
      throw new HttpError(400, { error: `${name} is the ${member.role} master, not a traffic node; disband the cluster to change it`, field: 'name', value: name, reason: `is the ${member.role} master, not a traffic node` });
    }
    return member;
  }

  private address(request: Record<string, unknown>, field: string, problems: FieldProblem[]): HostPort | undefined {
    const parsed = parseNodeAddress(request[field]);
    if (typeof parsed !== 'string') return parsed;
    problems.push({ field, value: request[field], reason: request[field] === undefined ? 'is required' : parsed });
    return undefined;
  }
}

/** Records a problem for every unknown or invalid field of a peer-to-peer request. */
function checkPeerToPeerFields(request: Record<string, unknown>, problems: FieldProblem[]): void {
  const known = ['enabled', 'stunRole', 'publicStunServer', 'forceRelay', 'timeoutMs'];
  for (const field of Object.keys(request)) {
    if (!known.includes(field)) problems.push({ field, value: request[field], reason: `is not a peer-to-peer setting; the fields are ${known.join(', ')}` });
  }
  for (const field of ['enabled', 'forceRelay']) {
    if (request[field] !== undefined && typeof request[field] !== 'boolean') problems.push({ field, value: request[field], reason: 'is not true or false' });
  }
  if (request.stunRole !== undefined && !isStunRole(request.stunRole)) {
    problems.push({ field: 'stunRole', value: request.stunRole, reason: `is not a STUN role; use one of ${STUN_ROLES.join(', ')}` });
  }
  if (request.publicStunServer !== undefined && request.publicStunServer !== '') {
    const parsed = parseNodeAddress(request.publicStunServer, 'such as stun.support.example.test:3478');
    if (typeof parsed === 'string') problems.push({ field: 'publicStunServer', value: request.publicStunServer, reason: parsed });
  }
  const timeoutMs = request.timeoutMs;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < MIN_P2P_TIMEOUT_MS || timeoutMs > MAX_P2P_TIMEOUT_MS)) {
    problems.push({ field: 'timeoutMs', value: timeoutMs, reason: `is not an integer from ${MIN_P2P_TIMEOUT_MS} to ${MAX_P2P_TIMEOUT_MS} milliseconds` });
  }
}

/** Builds a traffic member from request fields over an existing member (edit) or the defaults (add). */
function toMember(request: Record<string, unknown>, base: IClusterMember | undefined): IClusterMember {
  const publicAddress = request.publicAddress === undefined ? undefined : (parseNodeAddress(request.publicAddress) as HostPort);
  const internalAddress = request.internalAddress === undefined ? undefined : (parseNodeAddress(request.internalAddress) as HostPort);
  return {
    name: (request.name as string | undefined) ?? base?.name ?? '',
    applianceGuid: base?.applianceGuid ?? '',
    role: 'traffic',
    publicHost: publicAddress?.host ?? base?.publicHost ?? '',
    publicPort: publicAddress?.port ?? base?.publicPort ?? 0,
    internalHost: internalAddress?.host ?? base?.internalHost ?? '',
    internalPort: internalAddress?.port ?? base?.internalPort ?? 0,
    model: (request.model as string | undefined) ?? base?.model ?? DEFAULT_TRAFFIC_MODEL,
    accepting: (request.accepting as boolean | undefined) ?? base?.accepting ?? true,
    prefixes: [...((request.prefixes as string[] | undefined) ?? base?.prefixes ?? [])],
    timezone: (request.timezone as string | undefined) ?? base?.timezone ?? '',
    srvPriority: (request.srvPriority as number | undefined) ?? base?.srvPriority ?? DEFAULT_SRV_PRIORITY,
    srvWeight: (request.srvWeight as number | undefined) ?? base?.srvWeight ?? DEFAULT_SRV_WEIGHT,
  };
}
