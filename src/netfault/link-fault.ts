/**
 * Link faults between named cluster processes, and their translation into the
 * per-server fault rules that the proxies of the fault layer apply.
 *
 * Every listener of a server process (master, traffic node, DNS server) is
 * fronted by a proxy with one fault table per server. A connection always runs
 * from a client socket to a server's listener, so a link between A and B is
 * made of the connections A opens to B's listeners and those B opens to A's.
 * A rule in B's table that matches A's source address covers the first kind,
 * and a rule in A's table that matches B's address covers the second.
 */
import { ConfigError } from '../util/errors.js';
import {
  FAULT_KINDS,
  MAX_BANDWIDTH_BYTES_PER_SECOND,
  MAX_FAULT_DELAY_MS,
  MIN_BANDWIDTH_BYTES_PER_SECOND,
  type FaultDirection,
  type FaultKind,
  type FaultRuleInput,
} from './fault-rule.js';

/** Direction of a link fault: both ways, only bytes from `a` to `b`, or only bytes from `b` to `a`. */
export type LinkDirection = 'both' | 'a-to-b' | 'b-to-a';
export const LINK_DIRECTIONS: readonly LinkDirection[] = ['both', 'a-to-b', 'b-to-a'];
/** Value of `b` that stands for every other process of the cluster. */
export const EVERY_PROCESS = '*';
/** Characters allowed in a link fault id; the id travels over IPC and appears on the command line. */
const LINK_FAULT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * A fault on the link between two processes, or between one process and
 * every other one. Parameters by kind: `delay` takes delayMs and jitterMs,
 * `bandwidth` takes bytesPerSecond, `loss` takes probability, `blackhole` and
 * `reset` take none. `bandwidth` and `reset` act on TCP connections only,
 * `loss` on UDP datagrams only (DNS queries, STUN requests); delay and blackhole act on both.
 */
export interface LinkFault {
  /** Identifier used to heal this fault alone; assigned when absent. */
  id?: string;
  /** Name of a cluster process. */
  a: string;
  /** Name of another cluster process, or `*` for every other process. */
  b: string;
  /** Default `both`. */
  direction?: LinkDirection;
  kind: FaultKind;
  /** Added delay in milliseconds (delay). */
  delayMs?: number;
  /** Uniform jitter around the delay in milliseconds, never below zero delay (delay; default 0). */
  jitterMs?: number;
  /** Bandwidth cap in bytes per second (bandwidth). */
  bytesPerSecond?: number;
  /** Probability in [0, 1] that one datagram is dropped (loss). */
  probability?: number;
}

/** A validated link fault with its id and direction filled in. */
export type ValidLinkFault = LinkFault & { id: string; direction: LinkDirection };

/** Transport protocol of a listener the fault layer fronts. */
export type FrontedProtocol = 'tcp' | 'udp';

/** One process as the link fault compiler sees it. */
export interface LinkProcess {
  name: string;
  /** Loopback address the process binds for its own connections and listeners. */
  address: string;
  /** Protocols of the listeners of this process that the fault layer fronts; empty when it fronts none. */
  fronted: readonly FrontedProtocol[];
}

/** Protocols each fault kind acts on: the TCP proxy ignores loss, the UDP proxy ignores bandwidth and reset. */
const KIND_PROTOCOLS: Record<FaultKind, readonly FrontedProtocol[]> = {
  delay: ['tcp', 'udp'],
  blackhole: ['tcp', 'udp'],
  bandwidth: ['tcp'],
  reset: ['tcp'],
  loss: ['udp'],
};

/** One rule for the fault table of one server process. */
export interface ServerRule {
  server: string;
  rule: FaultRuleInput;
}

const PARAM_FIELDS: Record<FaultKind, readonly string[]> = {
  delay: ['delayMs', 'jitterMs'],
  bandwidth: ['bytesPerSecond'],
  blackhole: [],
  reset: [],
  loss: ['probability'],
};
const LINK_FIELDS = ['id', 'a', 'b', 'direction', 'kind', 'delayMs', 'jitterMs', 'bytesPerSecond', 'probability'];

/** Names a link fault field in an error message; the default is `link fault FIELD`, and the CLI passes its flags. */
export type FieldLabel = (field: string) => string;

const defaultLabel: FieldLabel = (field) => `link fault ${field}`;

/**
 * Validates a link fault against the processes of a cluster. Throws a
 * ConfigError that names the field, the value and the allowed values.
 */
export function validateLinkFault(input: unknown, processes: ReadonlyMap<string, LinkProcess>, fallbackId: string): ValidLinkFault {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError(`link fault is ${JSON.stringify(input)}; expected an object { a, b, kind, direction?, ...parameters }`);
  }
  const fault = input as Record<string, unknown>;
  for (const key of Object.keys(fault)) {
    if (!LINK_FIELDS.includes(key)) throw new ConfigError(`link fault field "${key}" is unknown; expected only ${LINK_FIELDS.join(', ')}`);
  }

  const id = fault.id === undefined ? fallbackId : fault.id;
  checkFaultId(id, defaultLabel);
  const known = [...processes.keys()].join(', ');
  if (typeof fault.a !== 'string' || !processes.has(fault.a)) {
    throw new ConfigError(`link fault a is ${JSON.stringify(fault.a)}; expected the name of a process of this cluster: ${known}`);
  }
  if (typeof fault.b !== 'string' || (fault.b !== EVERY_PROCESS && !processes.has(fault.b))) {
    throw new ConfigError(`link fault b is ${JSON.stringify(fault.b)}; expected "${EVERY_PROCESS}" (every other process) or the name of a process of this cluster: ${known}`);
  }
  if (fault.a === fault.b) throw new ConfigError(`link fault a and b are both "${fault.a}"; a link joins two different processes`);

  const { direction, kind } = checkFaultSettings(fault);
  return { ...(fault as unknown as LinkFault), id: id as string, direction, kind };
}

/**
 * Checks the parts of a link fault that do not depend on the cluster: the
 * id when given, the direction, the kind and its parameters. The CLI runs it
 * before it sends a fault, with `label` naming its flags. Throws ConfigError.
 */
export function checkFaultSettings(fault: Record<string, unknown>, label: FieldLabel = defaultLabel): { direction: LinkDirection; kind: FaultKind } {
  if (fault.id !== undefined) checkFaultId(fault.id, label);
  const direction = fault.direction ?? 'both';
  if (typeof direction !== 'string' || !(LINK_DIRECTIONS as readonly string[]).includes(direction)) {
    throw new ConfigError(`${label('direction')} is ${JSON.stringify(direction)}; expected one of ${LINK_DIRECTIONS.join(', ')}`);
  }
  const kind = fault.kind;
  if (typeof kind !== 'string' || !(FAULT_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`${label('kind')} is ${JSON.stringify(kind)}; expected one of ${FAULT_KINDS.join(', ')}`);
  }
  const faultKind = kind as FaultKind;
  if (faultKind === 'reset' && direction !== 'both') {
    throw new ConfigError(`${label('direction')} is "${direction}" for a reset; a reset closes both directions of a connection, so use "both"`);
  }
  validateParams(fault, faultKind, label);
  return { direction: direction as LinkDirection, kind: faultKind };
}

function checkFaultId(id: unknown, label: FieldLabel): void {
  if (typeof id !== 'string' || !LINK_FAULT_ID_PATTERN.test(id)) {
    throw new ConfigError(`${label('id')} is ${JSON.stringify(id)}; expected 1-64 characters of A-Z, a-z, 0-9, ".", "_" or "-"`);
  }
}

function validateParams(fault: Record<string, unknown>, kind: FaultKind, label: FieldLabel): void {
  for (const field of ['delayMs', 'jitterMs', 'bytesPerSecond', 'probability']) {
    if (fault[field] !== undefined && !PARAM_FIELDS[kind].includes(field)) {
      const takes = PARAM_FIELDS[kind].length === 0 ? 'no parameters' : PARAM_FIELDS[kind].map(label).join(' and ');
      throw new ConfigError(`${label(field)} does not apply to a ${kind} fault, which takes ${takes}`);
    }
  }
  const check = (field: string, min: number, max: number, unit: string, required: boolean): void => {
    const value = fault[field];
    if (value === undefined && !required) return;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw new ConfigError(`${label(field)} is ${value === undefined ? 'missing' : JSON.stringify(value)}; expected a number from ${min} to ${max} (${unit})`);
    }
  };
  if (kind === 'delay') {
    check('delayMs', 0, MAX_FAULT_DELAY_MS, 'milliseconds', true);
    check('jitterMs', 0, MAX_FAULT_DELAY_MS, 'milliseconds', false);
  } else if (kind === 'bandwidth') {
    check('bytesPerSecond', MIN_BANDWIDTH_BYTES_PER_SECOND, MAX_BANDWIDTH_BYTES_PER_SECOND, 'bytes per second', true);
  } else if (kind === 'loss') {
    check('probability', 0, 1, 'the share of datagrams dropped', true);
  }
}

/**
 * Translates a validated link fault into rules for the fault tables of the
 * fronted servers. Throws a ConfigError when no proxied connection can run
 * between the two processes, because then the fault could never act.
 */
export function compileLinkFault(fault: ValidLinkFault, processes: ReadonlyMap<string, LinkProcess>): ServerRule[] {
  const protocols = KIND_PROTOCOLS[fault.kind];
  const actsOn = (process: LinkProcess): boolean => process.fronted.some((protocol) => protocols.includes(protocol));
  const a = processes.get(fault.a);
  if (a === undefined) throw new ConfigError(`link fault a "${fault.a}" is not a process of this cluster`);
  const params = ruleParams(fault);
  const rules: ServerRule[] = [];
  // Bytes from a to b: `up` where b is the server, `down` where a is the server.
  const towardServer = (serverIsB: boolean): FaultDirection => {
    if (fault.direction === 'both') return 'both';
    const aToB = fault.direction === 'a-to-b';
    return aToB === serverIsB ? 'up' : 'down';
  };

  const sides: LinkProcess[] = [a];
  if (fault.b === EVERY_PROCESS) {
    if (actsOn(a)) rules.push({ server: a.name, rule: { direction: towardServer(false), kind: fault.kind, params } });
    for (const other of processes.values()) {
      if (other.name === a.name) continue;
      sides.push(other);
      if (!actsOn(other)) continue;
      rules.push({ server: other.name, rule: { from: a.address, direction: towardServer(true), kind: fault.kind, params } });
    }
  } else {
    const b = processes.get(fault.b);
    if (b === undefined) throw new ConfigError(`link fault b "${fault.b}" is not a process of this cluster`);
    sides.push(b);
    if (actsOn(b)) rules.push({ server: b.name, rule: { from: a.address, direction: towardServer(true), kind: fault.kind, params } });
    if (actsOn(a)) rules.push({ server: a.name, rule: { from: b.address, direction: towardServer(false), kind: fault.kind, params } });
  }

  if (rules.length === 0) throw new ConfigError(describeInactiveFault(fault, sides));
  return rules;
}

/** Explains why a link fault compiles to no rule: no listener behind the fault layer, or none of the protocol the kind acts on. */
function describeInactiveFault(fault: ValidLinkFault, sides: readonly LinkProcess[]): string {
  const target = fault.b === EVERY_PROCESS ? 'any other process' : fault.b;
  const prefix = `link fault ${fault.kind} between ${fault.a} and ${target} cannot act`;
  const fronted = sides.filter((side) => side.fronted.length > 0);
  if (fronted.length === 0) return `${prefix}: neither side has a listener behind the fault layer, so no connection between them passes through it`;

  const protocols = KIND_PROTOCOLS[fault.kind].map((protocol) => protocol.toUpperCase()).join(' or ');
  const listeners = fronted.map((side) => `${side.name} only on ${side.fronted.map((protocol) => protocol.toUpperCase()).join(' and ')}`).join(', ');
  const fix = fault.kind === 'loss' ? 'use delay or blackhole for TCP connections' : 'use delay or blackhole, which act on UDP too';
  return `${prefix}: ${fault.kind} acts on ${protocols} only, and the traffic between them through the fault layer is not ${protocols} (listeners behind it: ${listeners}); ${fix}`;
}

function ruleParams(fault: ValidLinkFault): Record<string, unknown> {
  switch (fault.kind) {
    case 'delay':
      return { delayMs: fault.delayMs, jitterMs: fault.jitterMs ?? 0 };
    case 'bandwidth':
      return { bytesPerSecond: fault.bytesPerSecond };
    case 'loss':
      return { probability: fault.probability };
    case 'blackhole':
    case 'reset':
      return {};
  }
}

/** One line such as "blackhole us-traffic1 <-> *" or "delay 200±50 ms customer-eu -> eu-traffic1". */
export function describeLinkFault(fault: ValidLinkFault): string {
  const arrow = fault.direction === 'both' ? '<->' : fault.direction === 'a-to-b' ? '->' : '<-';
  let detail = '';
  if (fault.kind === 'delay') detail = ` ${fault.delayMs ?? 0}${fault.jitterMs ? `±${fault.jitterMs}` : ''} ms`;
  if (fault.kind === 'bandwidth') detail = ` ${fault.bytesPerSecond ?? 0} B/s`;
  if (fault.kind === 'loss') detail = ` p=${fault.probability ?? 0}`;
  return `${fault.kind}${detail} ${fault.a} ${arrow} ${fault.b}`;
}
