import type { Logger } from '../logging/logger.js';
import type { ClusterConfig, IChoiceReason } from '../protocol/messages.js';
import {
  NodeChooser,
  createRng,
  explainRoute,
  parseMethod,
  type Choice,
  type ChoiceReason,
  type Method,
  type Rng,
  type RouteExplanation,
  type RouteNetwork,
  type RouteNodeConfig,
  type RouteQuery,
} from '../routing/index.js';
import { ConfigError } from '../util/errors.js';
import type { TrafficNodeState } from './traffic-node-state.js';

export interface NodeSelectionOptions {
  /** Configuration the traffic nodes were given by the last sync: nodes, prefixes, timezones and method. */
  config: ClusterConfig;
  /** Seed of every random pick, so a seed replays the same choices. */
  seed: string;
}

/**
 * Chooses traffic nodes for the master from the last synced configuration and
 * the live state of the appliance links. A node is a candidate while it is
 * online, accepting, and on the last synced configuration version (or on the
 * version a running sync is giving out).
 */
export class NodeSelection {
  private readonly chooser: NodeChooser;
  private readonly rng: Rng;
  private nodeConfigs: RouteNodeConfig[] = [];
  private syncedVersion = 0;
  private pendingVersion: number | undefined;
  private method: Method = 'random';
  private readonly states = new Map<string, Readonly<TrafficNodeState>>();

  constructor(private readonly deps: { logger: Logger }, options: NodeSelectionOptions) {
    this.rng = createRng(options.seed);
    this.chooser = new NodeChooser({ rng: this.rng }, { method: parseMethod(options.config.method || 'random') });
    this.setConfig(options.config);
    deps.logger.info({ seed: options.seed, method: this.method, syncedVersion: this.syncedVersion }, 'node chooser ready');
  }

  /** Replaces the nodes, prefixes, timezones and method with those of a newly synced configuration. */
  setConfig(config: ClusterConfig): void {
    this.syncedVersion = config.version;
    this.pendingVersion = undefined;
    this.method = parseMethod(config.method || 'random');
    this.chooser.setMethod(this.method);
    const traffic = config.members.filter((member) => member.role === 'traffic');
    this.nodeConfigs = traffic.map((member) => ({
      name: member.name ?? '',
      prefixes: member.prefixes ?? [],
      timezone: member.timezone ?? '',
      srvPriority: member.srvPriority ?? 0,
      srvWeight: member.srvWeight ?? 0,
    }));
    this.chooser.setNodes(
      traffic.map((member) => {
        const state = this.states.get(member.name ?? '');
        return {
          name: member.name ?? '',
          online: state?.online ?? false,
          accepting: state?.accepting ?? false,
          configCurrent: state === undefined ? false : this.isCurrent(state.appliedConfigVersion),
          prefixes: member.prefixes ?? [],
          timezone: member.timezone ?? '',
        };
      }),
    );
    this.deps.logger.info({ method: this.method, nodes: traffic.length, syncedVersion: config.version }, 'node chooser configuration replaced');
  }

  /** Counts nodes on `version` as current too while a sync gives it out, so routing does not pause during the sync. */
  setPendingVersion(version: number | undefined): void {
    this.pendingVersion = version;
    for (const state of this.states.values()) this.refresh(state);
  }

  /** Applies a traffic node's new link state to the candidate set. */
  update(state: Readonly<TrafficNodeState>): void {
    this.states.set(state.name, { ...state });
    this.refresh(state);
  }

  /** Chooses a home node for a client; an invalid address or offset yields `none` with the reason. */
  choose(clientIp: string, utcOffsetMinutes: number): Choice {
    try {
      return this.chooser.choose({ clientIp, utcOffsetMinutes });
    } catch (error) {
      if (!(error instanceof RangeError || error instanceof TypeError)) throw error;
      return { kind: 'none', reason: { method: this.method, candidates: 0, tied: 0, text: `client input rejected: ${error.message}` } };
    }
  }

  /**
   * Explains the choice for a client with the rules and node states that
   * sessions use. Ties are drawn from a fork of the session generator, so the
   * explanation shows the next draw without changing later session choices.
   * Throws RangeError or TypeError for an invalid offset or address.
   */
  explain(query: RouteQuery, network?: RouteNetwork): RouteExplanation {
    return explainRoute(this.chooser, this.method, this.nodeConfigs, query, this.rng.fork(), network);
  }

  get syncedConfigVersion(): number {
    return this.syncedVersion;
  }

  private isCurrent(version: number): boolean {
    return version === this.syncedVersion || (this.pendingVersion !== undefined && version === this.pendingVersion);
  }

  private refresh(state: Readonly<TrafficNodeState>): void {
    const configCurrent = this.isCurrent(state.appliedConfigVersion);
    try {
      this.chooser.updateNode(state.name, { online: state.online, accepting: state.accepting, configCurrent });
    } catch (error) {
      // A node the synced configuration does not list (added but not yet synced) is no candidate.
      if (!(error instanceof ConfigError)) throw error;
      return;
    }
    this.deps.logger.debug({ trafficNode: state.name, online: state.online, accepting: state.accepting, configCurrent }, 'chooser candidate updated');
  }
}

/** Converts a routing reason to its wire form. */
export function toWireReason(reason: ChoiceReason): IChoiceReason {
  return {
    method: reason.method,
    prefix: reason.prefix ?? '',
    prefixLength: reason.prefixLength ?? 0,
    candidates: reason.candidates,
    tied: reason.tied,
    text: reason.text,
  };
}
