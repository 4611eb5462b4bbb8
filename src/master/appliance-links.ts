import { EventEmitter } from 'node:events';
import type { IClusterMember } from '../protocol/messages.js';
import { ApplianceLink, type ApplianceLinkDeps, type ApplianceLinkOptions } from './appliance-link.js';
import type { TrafficNodeState } from './traffic-node-state.js';

export type ApplianceLinksDeps = Omit<ApplianceLinkDeps, 'onChange'>;

export type ApplianceLinksOptions = Omit<ApplianceLinkOptions, 'target'> & {
  /** Traffic members of the configuration; one link each. */
  members: readonly IClusterMember[];
};

/** The master's appliance links to every traffic node, with one 'change' event for all of them. */
export class ApplianceLinks extends EventEmitter<{ change: [Readonly<TrafficNodeState>] }> {
  private readonly links: ApplianceLink[];

  constructor(deps: ApplianceLinksDeps, options: ApplianceLinksOptions) {
    super();
    const { members, ...linkOptions } = options;
    this.links = members.map((member) => {
      const name = member.name ?? '';
      const target = { name, internalHost: member.internalHost ?? '', internalPort: member.internalPort ?? 0 };
      return new ApplianceLink(
        { ...deps, logger: deps.logger.child({ link: name }), onChange: (state) => this.emit('change', state) },
        { ...linkOptions, target },
      );
    });
  }

  start(): void {
    for (const link of this.links) link.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.links.map((link) => link.stop()));
  }

  /** State of every traffic node, in configuration order. */
  states(): readonly Readonly<TrafficNodeState>[] {
    return this.links.map((link) => link.state);
  }
}
