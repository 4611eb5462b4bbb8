import { FaultRuleError, parseFaultRule, type FaultRule, type FlowDirection } from './fault-rule.js';

export * from './fault-rule.js';

/**
 * Faults in force for one client and one direction, combined over every
 * matching rule. Delays and jitters add up, like links in series. The lowest
 * bandwidth cap wins, loss probabilities combine as independent drops, and one
 * blackhole or reset rule is enough.
 */
export interface LinkFaults {
  delayMs: number;
  jitterMs: number;
  /** Infinity when no bandwidth rule applies. */
  bytesPerSecond: number;
  blackhole: boolean;
  reset: boolean;
  lossProbability: number;
}

export type FaultTableListener = () => void;

/**
 * The fault rules in force, shared by the proxies that apply them. Proxies look
 * faults up for every chunk, so a change applies to connections already open.
 * Listeners run after every change, so that proxies can reset connections or
 * release a FIN held back by a healed blackhole.
 */
export class FaultTable {
  private readonly rulesById = new Map<string, FaultRule>();
  private readonly cache = new Map<string, LinkFaults | null>();
  private readonly listeners = new Set<FaultTableListener>();
  private nextId = 1;

  /** Validates and adds a rule, returning it in normalised form. Throws FaultRuleError for an invalid rule or a duplicate id. */
  add(input: unknown): FaultRule {
    const rule = parseFaultRule(input, this.generateId());
    if (this.rulesById.has(rule.id)) {
      throw new FaultRuleError('id', rule.id, 'an id that no rule in the table uses; remove that rule first or choose another id');
    }
    this.rulesById.set(rule.id, rule);
    this.changed();
    return rule;
  }

  /** Removes one rule; returns false when no rule has that id. */
  remove(id: string): boolean {
    const removed = this.rulesById.delete(id);
    if (removed) this.changed();
    return removed;
  }

  /** Removes every rule and returns how many there were. */
  healAll(): number {
    const count = this.rulesById.size;
    this.rulesById.clear();
    if (count > 0) this.changed();
    return count;
  }

  rules(): FaultRule[] {
    return [...this.rulesById.values()];
  }

  get size(): number {
    return this.rulesById.size;
  }

  /**
   * Returns the faults in force for a client (normalised IP) in one direction,
   * or undefined when none applies, which lets callers take a fast path.
   */
  faultsFor(clientIp: string, direction: FlowDirection): LinkFaults | undefined {
    if (this.rulesById.size === 0) return undefined;
    const key = `${direction} ${clientIp}`;
    let faults = this.cache.get(key);
    if (faults === undefined) {
      faults = this.combine(clientIp, direction);
      this.cache.set(key, faults);
    }
    return faults ?? undefined;
  }

  /** Registers a listener called after every change; returns a function that unregisters it. */
  onChange(listener: FaultTableListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private combine(clientIp: string, direction: FlowDirection): LinkFaults | null {
    const faults: LinkFaults = { delayMs: 0, jitterMs: 0, bytesPerSecond: Infinity, blackhole: false, reset: false, lossProbability: 0 };
    let matched = false;
    for (const rule of this.rulesById.values()) {
      if (rule.from !== undefined && !rule.from.has(clientIp)) continue;
      if (rule.direction !== 'both' && rule.direction !== direction) continue;
      matched = true;
      switch (rule.kind) {
        case 'delay':
          faults.delayMs += rule.params.delayMs;
          faults.jitterMs += rule.params.jitterMs;
          break;
        case 'bandwidth':
          faults.bytesPerSecond = Math.min(faults.bytesPerSecond, rule.params.bytesPerSecond);
          break;
        case 'blackhole':
          faults.blackhole = true;
          break;
        case 'reset':
          faults.reset = true;
          break;
        case 'loss':
          faults.lossProbability = 1 - (1 - faults.lossProbability) * (1 - rule.params.probability);
          break;
      }
    }
    return matched ? faults : null;
  }

  private generateId(): string {
    let id = `fault-${this.nextId++}`;
    while (this.rulesById.has(id)) id = `fault-${this.nextId++}`;
    return id;
  }

  private changed(): void {
    this.cache.clear();
    for (const listener of this.listeners) listener();
  }
}
