import { EventEmitter } from 'node:events';
import type { IClusterMember } from '../protocol/messages.js';
import { ApplianceLink, type ApplianceLinkDeps, type ApplianceLinkOptions, type LinkTarget } from './appliance-link.js';
import type { TrafficNodeState } from './traffic-node-state.js';

export type ApplianceLinksDeps = Omit<ApplianceLinkDeps, 'onChange' | 'desiredAccepting'> & {
  /** Accepting flag a traffic node should have, by node name. */
  desiredAccepting?: (name: string) => boolean | undefined;
};

export type ApplianceLinksOptions = Omit<ApplianceLinkOptions, 'target'> & {
  /** Traffic members of the configuration; one link each. */
  members: readonly IClusterMember[];
};

function targetOf(member: IClusterMember): LinkTarget {
  return { name: member.name ?? '', internalHost: member.internalHost ?? '', internalPort: member.internalPort ?? 0 };
}

function sameTarget(a: LinkTarget, b: LinkTarget): boolean {
  return a.name === b.name && a.internalHost === b.internalHost && a.internalPort === b.internalPort;
}

/**
 * The master's appliance links to the traffic nodes, one per node, with one
 * 'change' event for all of them. The set follows the synced configuration:
 * a sync adds links for new nodes before it pushes, and drops links of
 * nodes it no longer lists once it has finished.
 */
export class ApplianceLinks extends EventEmitter<{ change: [Readonly<TrafficNodeState>] }> {
  private readonly links = new Map<string, { target: LinkTarget; link: ApplianceLink }>();
  private started = false;
  private readonly linkOptions: Omit<ApplianceLinkOptions, 'target'>;

  constructor(private readonly deps: ApplianceLinksDeps, options: ApplianceLinksOptions) {
    super();
    const { members, ...linkOptions } = options;
    this.linkOptions = linkOptions;
    for (const member of members) this.create(targetOf(member));
  }

  start(): void {
    this.started = true;
    for (const { link } of this.links.values()) link.start();
  }

  async stop(): Promise<void> {
    this.started = false;
    await Promise.all([...this.links.values()].map(({ link }) => link.stop()));
  }

  /** The link to one traffic node, or undefined when the node has none. */
  get(name: string): ApplianceLink | undefined {
    return this.links.get(name)?.link;
  }

  /**
   * Makes sure every member has a link to its current internal address:
   * new members get one (started at once), members whose address changed
   * get a new one. Links of other nodes stay.
   */
  async ensure(members: readonly IClusterMember[]): Promise<void> {
    const stale: ApplianceLink[] = [];
    for (const member of members) {
      const target = targetOf(member);
      const existing = this.links.get(target.name);
      if (existing !== undefined && sameTarget(existing.target, target)) continue;
      if (existing !== undefined) stale.push(existing.link);
      this.create(target);
    }
    await Promise.all(stale.map((link) => link.stop()));
  }

  /** Keeps exactly the links of `members`: ensure() plus stopping the links of nodes not listed. */
  async setMembers(members: readonly IClusterMember[]): Promise<void> {
    await this.ensure(members);
    const keep = new Set(members.map((member) => member.name ?? ''));
    const removed = [...this.links.entries()].filter(([name]) => !keep.has(name));
    for (const [name] of removed) this.links.delete(name);
    await Promise.all(removed.map(([, entry]) => entry.link.stop()));
    for (const [, entry] of removed) this.emit('change', { ...entry.link.state, online: false });
  }

  /** Closes every link so each authenticates again, such as after a change of the pre-shared key. */
  reconnectAll(reason: string): void {
    for (const { link } of this.links.values()) link.reconnect(reason);
  }

  /** State of every traffic node, in the order the links were made. */
  states(): readonly Readonly<TrafficNodeState>[] {
    return [...this.links.values()].map(({ link }) => link.state);
  }

  private create(target: LinkTarget): void {
    const link = new ApplianceLink(
      {
        ...this.deps,
        logger: this.deps.logger.child({ link: target.name }),
        desiredAccepting: () => this.deps.desiredAccepting?.(target.name),
        onChange: (state) => {
          // A replaced link may still report while it stops; only the current one counts.
          if (this.links.get(target.name)?.link === link) this.emit('change', state);
        },
      },
      { ...this.linkOptions, target },
    );
    this.links.set(target.name, { target, link });
    if (this.started) link.start();
  }
}
