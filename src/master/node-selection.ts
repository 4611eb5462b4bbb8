import type { Logger } from '../logging/logger.js';
import type { ClusterConfig, IChoiceReason } from '../protocol/messages.js';
import { NodeChooser, createRng, parseMethod, type Choice, type ChoiceReason, type Method } from '../routing/index.js';
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
 * online, accepting, and on the last synced configuration version.
 */
export class NodeSelection {
  private readonly chooser: NodeChooser;
  private readonly syncedVersion: number;
  private readonly method: Method;

  constructor(private readonly deps: { logger: Logger }, options: NodeSelectionOptions) {
    const { config } = options;
    this.syncedVersion = config.version;
    this.method = parseMethod(config.method);
    this.chooser = new NodeChooser({ rng: createRng(options.seed) }, { method: this.method });
    const traffic = config.members.filter((member) => member.role === 'traffic');
    this.chooser.setNodes(
      traffic.map((member) => ({
        name: member.name ?? '',
        online: false,
        accepting: false,
        configCurrent: false,
        prefixes: member.prefixes ?? [],
        timezone: member.timezone ?? '',
      })),
    );
    deps.logger.info({ seed: options.seed, method: config.method, nodes: traffic.length, syncedVersion: config.version }, 'node chooser ready');
  }

  /** Applies a traffic node's new link state to the candidate set. */
  update(state: Readonly<TrafficNodeState>): void {
    const configCurrent = state.appliedConfigVersion === this.syncedVersion;
    this.chooser.updateNode(state.name, { online: state.online, accepting: state.accepting, configCurrent });
    this.deps.logger.debug({ trafficNode: state.name, online: state.online, accepting: state.accepting, configCurrent }, 'chooser candidate updated');
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
