import { isIPv4 } from 'node:net';
import { ZONE } from '../config/constants.js';
import { ConfigError } from '../util/errors.js';
import { ipv4ToNumber, parseIpv4Prefix, prefixContains, unmapIpv4, type Ipv4Prefix } from './cidr.js';

/** One SRV record's data (RFC 2782). */
export interface SrvTarget {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** A records: full hostname to one or more IPv4 addresses. */
export type ARecords = Record<string, string[]>;
/** SRV records: full owner name (such as `_atlas._tcp.support.example.test`) to its targets. */
export type SrvRecords = Record<string, SrvTarget[]>;

/**
 * A split-horizon view: clients whose source address lies in one of `sources`
 * see these records in place of the base records of the same name. Names the
 * view does not list fall back to the base records.
 */
export interface ZoneViewDefinition {
  name: string;
  /** IPv4 prefixes (`a.b.c.d/len`, or `a.b.c.d` for one address) that select this view. */
  sources: string[];
  a?: ARecords;
  srv?: SrvRecords;
}

/** The zone as configuration files and IPC messages carry it. */
export interface ZoneDefinition {
  /** Zone apex, the cluster zone when absent. */
  origin?: string;
  a?: ARecords;
  srv?: SrvRecords;
  views?: ZoneViewDefinition[];
}

/** Records of one name in the view of one client. */
export interface NameLookup {
  /** False when the name and every name below it are absent (NXDOMAIN). */
  exists: boolean;
  a: string[];
  srv: SrvTarget[];
}

interface RecordSet {
  a: Map<string, string[]>;
  srv: Map<string, SrvTarget[]>;
}

interface View extends RecordSet {
  name: string;
  sources: Ipv4Prefix[];
  sourceTexts: string[];
}

const MAX_LABEL_OCTETS = 63;
const MAX_NAME_OCTETS = 253;
const LABEL_PATTERN = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/;
const UINT16_MAX = 0xffff;

/** Lower-cases a domain name and strips one trailing dot, the form every zone lookup uses. */
export function canonicalName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** True when `name` (canonical) is the apex or lies below it. */
export function isInside(name: string, origin: string): boolean {
  return name === origin || name.endsWith(`.${origin}`);
}

function validateDomainName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new ConfigError(`${field}: expected a domain name such as "us-traffic1.${ZONE}", got ${JSON.stringify(value)}`);
  }
  const name = canonicalName(value);
  if (name.length > MAX_NAME_OCTETS) {
    throw new ConfigError(`${field}: the name "${value}" is ${name.length} characters long; at most ${MAX_NAME_OCTETS} are allowed`);
  }
  for (const label of name.split('.')) {
    if (label.length > MAX_LABEL_OCTETS || !LABEL_PATTERN.test(label)) {
      throw new ConfigError(
        `${field}: invalid label "${label}" in "${value}"; each label must be 1-${MAX_LABEL_OCTETS} characters of a-z, 0-9, "-" or "_", not starting or ending with "-"`,
      );
    }
  }
  return name;
}

function validateOwnerName(value: string, origin: string, field: string): string {
  const name = validateDomainName(value, field);
  if (!isInside(name, origin)) {
    throw new ConfigError(`${field}: "${value}" is not inside the zone ${origin}; write the full name, for example "${name.split('.')[0] ?? 'node'}.${origin}"`);
  }
  return name;
}

function expectPlainObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`${field}: expected an object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

function expectNonEmptyArray(value: unknown, field: string, itemDescription: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(`${field}: expected a non-empty array of ${itemDescription}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function validateUint16(value: unknown, field: string, minimum: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum || value > UINT16_MAX) {
    throw new ConfigError(`${field}: expected an integer from ${minimum} to ${UINT16_MAX}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function validateAddresses(value: unknown, field: string): string[] {
  const addresses = expectNonEmptyArray(value, field, 'IPv4 addresses');
  const valid = addresses.map((address, index) => {
    if (typeof address !== 'string' || !isIPv4(address)) {
      throw new ConfigError(`${field}[${index}]: expected an IPv4 address such as "127.20.0.10", got ${JSON.stringify(address)}`);
    }
    return address;
  });
  return [...new Set(valid)];
}

/** SRV target that states the service is not available at this name (RFC 2782). */
export const SRV_NO_SERVICE_TARGET = '.';

function validateSrvTarget(value: unknown, field: string): SrvTarget {
  const record = expectPlainObject(value, field);
  const noService = record.target === SRV_NO_SERVICE_TARGET;
  return {
    priority: validateUint16(record.priority, `${field}.priority`, 0),
    weight: validateUint16(record.weight, `${field}.weight`, 0),
    port: validateUint16(record.port, `${field}.port`, noService ? 0 : 1),
    target: noService ? SRV_NO_SERVICE_TARGET : validateDomainName(record.target, `${field}.target`),
  };
}

function addUnique<T>(map: Map<string, T>, name: string, value: T, field: string): void {
  if (map.has(name)) {
    throw new ConfigError(`${field}: "${name}" is listed twice (names are compared without case and trailing dot)`);
  }
  map.set(name, value);
}

function validateRecordSet(input: { a?: unknown; srv?: unknown }, origin: string, field: string): RecordSet {
  const set: RecordSet = { a: new Map(), srv: new Map() };
  if (input.a !== undefined) {
    for (const [owner, addresses] of Object.entries(expectPlainObject(input.a, `${field}.a`))) {
      const ownerField = `${field}.a["${owner}"]`;
      addUnique(set.a, validateOwnerName(owner, origin, ownerField), validateAddresses(addresses, ownerField), ownerField);
    }
  }
  if (input.srv !== undefined) {
    for (const [owner, targets] of Object.entries(expectPlainObject(input.srv, `${field}.srv`))) {
      const ownerField = `${field}.srv["${owner}"]`;
      const list = expectNonEmptyArray(targets, ownerField, 'SRV targets').map((target, index) => validateSrvTarget(target, `${ownerField}[${index}]`));
      addUnique(set.srv, validateOwnerName(owner, origin, ownerField), list, ownerField);
    }
  }
  return set;
}

function validateView(input: unknown, origin: string, field: string): View {
  const raw = expectPlainObject(input, field);
  if (typeof raw.name !== 'string' || raw.name.trim() === '') {
    throw new ConfigError(`${field}.name: expected a non-empty string such as "us", got ${JSON.stringify(raw.name)}`);
  }
  const sourceTexts = expectNonEmptyArray(raw.sources, `${field}.sources`, 'IPv4 prefixes such as "127.20.0.0/16"').map((source, index) => {
    const parsed = typeof source === 'string' ? parseIpv4Prefix(source) : `expected a string, got ${JSON.stringify(source)}`;
    if (typeof parsed === 'string') throw new ConfigError(`${field}.sources[${index}]: ${parsed}`);
    return parsed;
  });
  return { name: raw.name, sources: sourceTexts, sourceTexts: sourceTexts.map((source) => source.text), ...validateRecordSet(raw, origin, field) };
}

function recordsToObject<T>(map: Map<string, T[]>): Record<string, T[]> {
  return Object.fromEntries([...map].map(([name, values]) => [name, values.map((value) => (typeof value === 'object' ? { ...value } : value))]));
}

/**
 * The validated, immutable zone model. Updates return a new Zone, so a query
 * being answered always sees one consistent version.
 */
export class Zone {
  private constructor(
    readonly origin: string,
    private readonly base: RecordSet,
    private readonly views: readonly View[],
  ) {}

  /**
   * Validates a zone definition and builds the model. Throws ConfigError naming
   * the field path below `field` (for example `zone.views[0].a["x"][1]`).
   */
  static fromDefinition(input: unknown, field = 'zone'): Zone {
    const raw = expectPlainObject(input, field);
    for (const key of Object.keys(raw)) {
      if (!['origin', 'a', 'srv', 'views'].includes(key)) {
        throw new ConfigError(`${field}.${key}: unknown field; a zone has origin, a, srv and views`);
      }
    }
    const origin = raw.origin === undefined ? ZONE : validateDomainName(raw.origin, `${field}.origin`);
    const base = validateRecordSet(raw, origin, field);

    const views: View[] = [];
    if (raw.views !== undefined) {
      if (!Array.isArray(raw.views)) throw new ConfigError(`${field}.views: expected an array of views, got ${JSON.stringify(raw.views)}`);
      raw.views.forEach((view, index) => {
        const parsed = validateView(view, origin, `${field}.views[${index}]`);
        if (views.some((other) => other.name === parsed.name)) {
          throw new ConfigError(`${field}.views[${index}].name: the view name "${parsed.name}" is used twice`);
        }
        views.push(parsed);
      });
    }
    return new Zone(origin, base, views);
  }

  /** Converts the zone back to a plain definition, suitable for JSON and for `fromDefinition`. */
  toDefinition(): ZoneDefinition {
    return {
      origin: this.origin,
      a: recordsToObject(this.base.a),
      srv: recordsToObject(this.base.srv),
      views: this.views.map((view) => ({ name: view.name, sources: [...view.sourceTexts], a: recordsToObject(view.a), srv: recordsToObject(view.srv) })),
    };
  }

  /** Names of the views, in configuration order. */
  get viewNames(): string[] {
    return this.views.map((view) => view.name);
  }

  /** Number of A and SRV owner names in the base records and in all views. */
  get recordCounts(): { a: number; srv: number; views: number } {
    const a = this.base.a.size + this.views.reduce((sum, view) => sum + view.a.size, 0);
    const srv = this.base.srv.size + this.views.reduce((sum, view) => sum + view.srv.size, 0);
    return { a, srv, views: this.views.length };
  }

  /** True when `name` lies at or below the zone apex. */
  contains(name: string): boolean {
    return isInside(canonicalName(name), this.origin);
  }

  /**
   * Selects the view for a client source address: the view with the longest
   * prefix that contains the address, the earlier view on equal lengths.
   * Returns undefined (base records only) when none matches or the address is not IPv4.
   */
  selectView(clientAddress: string | undefined): string | undefined {
    const numeric = clientAddress === undefined ? undefined : ipv4ToNumber(unmapIpv4(clientAddress));
    if (numeric === undefined) return undefined;

    let best: { view: View; length: number } | undefined;
    for (const view of this.views) {
      for (const prefix of view.sources) {
        if (prefixContains(prefix, numeric) && (best === undefined || prefix.length > best.length)) {
          best = { view, length: prefix.length };
        }
      }
    }
    return best?.view.name;
  }

  /** Returns the records of `name` in the given view, or in the base records when no view is given. */
  lookup(name: string, viewName?: string): NameLookup {
    const canonical = canonicalName(name);
    const view = this.views.find((candidate) => candidate.name === viewName);
    const a = view?.a.get(canonical) ?? this.base.a.get(canonical) ?? [];
    const srv = view?.srv.get(canonical) ?? this.base.srv.get(canonical) ?? [];
    const exists = canonical === this.origin || a.length > 0 || srv.length > 0 || this.hasNameBelow(canonical, view);
    return { exists, a: [...a], srv: srv.map((target) => ({ ...target })) };
  }

  /**
   * Returns a new zone in which `hostname` has exactly `addresses`, in the base
   * records or in the named view. An empty list removes the A record.
   */
  withAddresses(hostname: string, addresses: string[], viewName?: string): Zone {
    const name = validateOwnerName(hostname, this.origin, 'hostname');
    const valid = addresses.length === 0 ? [] : validateAddresses(addresses, 'addresses');

    const update = (records: RecordSet): RecordSet => {
      const a = new Map(records.a);
      if (valid.length === 0) a.delete(name);
      else a.set(name, valid);
      return { a, srv: records.srv };
    };

    if (viewName === undefined) return new Zone(this.origin, update(this.base), this.views);
    const index = this.views.findIndex((view) => view.name === viewName);
    if (index < 0) {
      throw new ConfigError(`view: no view named "${viewName}"; the zone has ${this.views.length === 0 ? 'no views' : `views ${this.viewNames.join(', ')}`}`);
    }
    const views = this.views.map((view, position) => (position === index ? { ...view, ...update(view) } : view));
    return new Zone(this.origin, this.base, views);
  }

  /** True for an empty non-terminal: a name with no records of its own but with records below it. */
  private hasNameBelow(name: string, view: View | undefined): boolean {
    const suffix = `.${name}`;
    const sets = view === undefined ? [this.base] : [this.base, view];
    return sets.some((set) => [...set.a.keys(), ...set.srv.keys()].some((owner) => owner.endsWith(suffix)));
  }
}
