import { bindPort, type Endpoint } from '../config/node-config.js';
import type { Logger } from '../logging/logger.js';
import { compileLinkFault, describeLinkFault, validateLinkFault, type LinkFault, type LinkProcess, type ValidLinkFault } from '../netfault/link-fault.js';
import type { ProxyReport } from '../netfault/fault-layer-server.js';
import type { ChildHandle } from './child-process.js';

/** Placeholder id under which a fault without one is validated; never stored or sent. */
const PENDING_ID = 'pending';

/** Name of the fault layer process of every cluster. */
export const FAULT_LAYER_PROCESS_NAME = 'netfault';

/** Reports a launcher timeline event, such as a fault added or healed. */
export type LauncherEventSink = (event: string, data: Record<string, unknown>) => void;

/**
 * The launcher's side of a cluster's fault layer: fronts each server's
 * listeners with proxies in the fault layer process, knows every process's
 * address, and turns link faults between named processes into fault rules.
 * Without a fault layer process (a cluster started with faultLayer: false)
 * it only records addresses, and adding a fault throws.
 */
export class FaultLayer {
  private readonly processes = new Map<string, LinkProcess>();
  private readonly active = new Map<string, ValidLinkFault>();
  private nextId = 1;

  constructor(
    private readonly deps: { logger: Logger; handle: ChildHandle | undefined; report: LauncherEventSink },
  ) {}

  /** True when the cluster runs a fault layer process. */
  get enabled(): boolean {
    return this.deps.handle !== undefined;
  }

  /** The fault layer process, when there is one. */
  get handle(): ChildHandle | undefined {
    return this.deps.handle;
  }

  /** Records a process that has no fronted listener (a client, or a server the fault layer does not front). */
  register(name: string, address: string): void {
    if (!this.processes.has(name)) this.processes.set(name, { name, address, fronted: [] });
  }

  /**
   * Fronts the TCP listeners of a master or traffic node whose endpoints name
   * a hidden listen port. Endpoints without one are bound by the process
   * itself and stay unfronted.
   */
  async frontAppliance(name: string, endpoints: readonly Endpoint[]): Promise<void> {
    const handle = this.deps.handle;
    const hidden = endpoints.filter((endpoint) => endpoint.listenPort !== undefined);
    this.processes.set(name, { name, address: endpoints[0]?.address ?? '', fronted: handle !== undefined && hidden.length > 0 ? ['tcp'] : [] });
    if (handle === undefined) return;
    for (const endpoint of hidden) {
      await this.front(handle, { server: name, protocol: 'tcp', listen: { address: endpoint.address, port: endpoint.port }, target: { address: endpoint.address, port: bindPort(endpoint) } });
    }
  }

  /**
   * Fronts the DNS server's UDP and TCP listeners, and the TCP listener of its
   * claim channel when it has one. `service` is where clients query and
   * `boundPort` where the server listens; `claimPort` gives the claim
   * channel's advertised and bound ports.
   */
  async frontDns(name: string, service: { address: string; port: number }, boundPort: number, claimPort?: { advertised: number; bound: number }): Promise<void> {
    const handle = this.deps.handle;
    const fronted = handle !== undefined && boundPort !== service.port;
    this.processes.set(name, { name, address: service.address, fronted: fronted ? ['udp', 'tcp'] : [] });
    if (!fronted || handle === undefined) return;
    for (const protocol of ['udp', 'tcp'] as const) {
      await this.front(handle, { server: name, protocol, listen: service, target: { address: service.address, port: boundPort } });
    }
    if (claimPort !== undefined && claimPort.bound !== claimPort.advertised) {
      await this.front(handle, { server: name, protocol: 'tcp', listen: { address: service.address, port: claimPort.advertised }, target: { address: service.address, port: claimPort.bound } });
    }
  }

  /**
   * Fronts the STUN server's UDP listener: clients send to `advertised`, the
   * server listens on `boundPort`. The proxy writes each client's own port
   * into the Binding responses, so the reflexive address stays true.
   */
  async frontStun(name: string, advertised: { address: string; port: number }, boundPort: number): Promise<void> {
    const handle = this.deps.handle;
    const fronted = handle !== undefined && boundPort !== advertised.port;
    this.processes.set(name, { name, address: advertised.address, fronted: fronted ? ['udp'] : [] });
    if (!fronted || handle === undefined) return;
    await handle.request('front', { server: name, protocol: 'udp', listen: advertised, target: { address: advertised.address, port: boundPort }, stun: true });
  }

  /**
   * Adds a fault on the link between two processes (or one process and every
   * other with b = '*'), effective at once for open connections too. Resolves
   * with the fault as validated, id included. Throws naming the invalid field.
   * A fault without an id gets the next fault-N only once it is valid, so
   * rejected requests use up no ids.
   */
  async link(fault: LinkFault): Promise<ValidLinkFault> {
    const checked = validateLinkFault(fault, this.processes, PENDING_ID);
    if (fault.id !== undefined && this.active.has(checked.id)) throw new Error(`link fault id "${checked.id}" is in use; heal it first or choose another id`);
    const handle = this.requireHandle();
    const rules = compileLinkFault(checked, this.processes);
    const valid = fault.id === undefined ? { ...checked, id: this.generateId() } : checked;
    await handle.request('add-fault', { id: valid.id, rules });
    this.active.set(valid.id, valid);
    const description = describeLinkFault(valid);
    this.deps.logger.info({ fault: valid.id, description, rules: rules.length }, 'link fault added');
    this.deps.report('fault-added', { id: valid.id, fault: description });
    return valid;
  }

  /** Removes one fault by id, or every fault when `id` is absent. Resolves with how many faults were removed. */
  async heal(id?: string): Promise<number> {
    if (this.deps.handle === undefined) return 0;
    if (id === undefined) {
      await this.deps.handle.request('heal');
      const count = this.active.size;
      this.active.clear();
      this.deps.logger.info({ faults: count }, 'every link fault healed');
      this.deps.report('faults-healed', { count });
      return count;
    }
    if (!this.active.has(id)) {
      throw new Error(`no link fault has id "${id}"; active: ${[...this.active.keys()].join(', ') || 'none'}`);
    }
    await this.deps.handle.request('remove-fault', { id });
    this.active.delete(id);
    this.deps.logger.info({ fault: id }, 'link fault healed');
    this.deps.report('fault-healed', { id });
    return 1;
  }

  /** Faults in force, in the order they were added. */
  list(): ValidLinkFault[] {
    return [...this.active.values()];
  }

  /** Every proxy with its counters (bytes, connections, drops), as the fault layer process reports them. */
  async proxies(): Promise<ProxyReport[]> {
    return (await this.requireHandle().request('proxies')) as ProxyReport[];
  }

  private async front(handle: ChildHandle, spec: { server: string; protocol: 'tcp' | 'udp'; listen: { address: string; port: number }; target: { address: string; port: number } }): Promise<void> {
    await handle.request('front', { ...spec });
  }

  private requireHandle(): ChildHandle {
    const handle = this.deps.handle;
    if (handle === undefined) {
      throw new Error('this cluster runs without a fault layer, so link faults cannot be applied; start it with faultLayer: true (the default)');
    }
    return handle;
  }

  private generateId(): string {
    let id = `fault-${this.nextId++}`;
    while (this.active.has(id)) id = `fault-${this.nextId++}`;
    return id;
  }
}
