// Rules of the cluster page: what a node entry may contain, checked before
// any change is stored. Each rule reports the field, the value and the
// reason, so the admin API can reply 400 with all three.
import { isIP } from 'node:net';
import { MODELS, SITE_HOSTNAME } from '../config/constants.js';
import type { ClusterConfig, IClusterMember } from '../protocol/messages.js';
import { METHODS } from '../routing/method.js';
import { parsePrefixText } from '../routing/prefix.js';
import { parseNodeTimezone, TimezoneError } from '../routing/timezone.js';

/** One invalid field of an admin request. */
export interface FieldProblem {
  field: string;
  value: unknown;
  reason: string;
}

/** Largest number of prefix lines one node may have. */
export const MAX_PREFIX_LINES = 1000;
/** Default SRV priority and weight of a new traffic node (RFC 2782). */
export const DEFAULT_SRV_PRIORITY = 10;
export const DEFAULT_SRV_WEIGHT = 100;
export const DEFAULT_TRAFFIC_MODEL = 'Virtual';

const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const LABEL_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_HOSTNAME_CHARS = 253;
const UINT16_MAX = 0xffff;

/** Fields a traffic node entry has, as the admin API names them. */
export const TRAFFIC_NODE_FIELDS = ['name', 'publicAddress', 'internalAddress', 'model', 'accepting', 'prefixes', 'timezone', 'srvPriority', 'srvWeight'] as const;
export type TrafficNodeField = (typeof TRAFFIC_NODE_FIELDS)[number];

/** A parsed `host:port`. */
export interface HostPort {
  host: string;
  port: number;
}

/** Formats a member's address for people and for the admin API. */
export function formatHostPort(host: string | null | undefined, port: number | null | undefined): string {
  return `${host ?? ''}:${port ?? 0}`;
}

/**
 * Parses a node address `host:port`. The host must be a hostname, never an
 * IP address and never the site hostname, because every node needs its own
 * canonical hostname. Returns the reason when the value is invalid.
 */
export function parseNodeAddress(value: unknown, example = 'such as us-traffic1.support.example.test:443'): HostPort | string {
  if (typeof value !== 'string' || value === '') return `is not a host:port string; write the node's hostname and port, ${example}`;
  if (value.startsWith('[') || isIP(value) === 6) return `is an IP address; the cluster accepts hostnames only, ${example}`;
  const colon = value.lastIndexOf(':');
  if (colon < 0) return `has no port; write host:port, ${example}`;
  const host = value.slice(0, colon).toLowerCase();
  const portText = value.slice(colon + 1);
  if (isIP(host) !== 0) return `is an IP address; the cluster accepts hostnames only, ${example}`;
  if (host === '') return `has no hostname; write host:port, ${example}`;
  if (host.length > MAX_HOSTNAME_CHARS || !host.split('.').every((label) => LABEL_PATTERN.test(label))) {
    return `has an invalid hostname; use DNS labels of letters, digits and inner hyphens separated by dots, ${example}`;
  }
  if (/^\d+$/.test(host.split('.').at(-1) ?? '')) return `has an invalid hostname whose last label is a number; use a hostname, ${example}`;
  if (host === SITE_HOSTNAME) return `uses the site hostname ${SITE_HOSTNAME}, which routes to the primary master; use the node's own canonical hostname, ${example}`;
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > UINT16_MAX) {
    return `has port ${JSON.stringify(portText)}; the port must be an integer from 1 to 65535`;
  }
  return { host, port: Number(portText) };
}

/** Checks a node name: a DNS label, as the node's own name and hostname label are. */
export function describeInvalidName(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'is not a name; give the node a name such as "us-traffic1"';
  if (!NAME_PATTERN.test(value)) return 'is not a valid node name; use 1-63 lowercase letters, digits and inner hyphens, such as "us-traffic1"';
  return undefined;
}

/** Checks the prefix lines of one node: each line as `a.b.c.d[/mask]`, no line twice. */
export function checkPrefixes(value: unknown, problems: FieldProblem[]): void {
  if (!Array.isArray(value)) {
    problems.push({ field: 'prefixes', value, reason: 'is not a list of prefix lines; send ["10.1.0.0/16", ...] or [] for none' });
    return;
  }
  if (value.length > MAX_PREFIX_LINES) {
    problems.push({ field: 'prefixes', value: value.length, reason: `lines exceed the maximum of ${MAX_PREFIX_LINES} per node` });
    return;
  }
  const seen = new Map<string, number>();
  value.forEach((line: unknown, index) => {
    const parsed = parsePrefixText(line);
    if (typeof parsed === 'string') {
      problems.push({ field: `prefixes[${index}]`, value: line, reason: `is not a valid prefix; ${parsed}` });
      return;
    }
    const first = seen.get(parsed.text);
    if (first !== undefined) problems.push({ field: `prefixes[${index}]`, value: line, reason: `repeats prefixes[${first}] (${parsed.text}); list each prefix once` });
    else seen.set(parsed.text, index);
  });
}

function checkTimezone(value: unknown, name: string, problems: FieldProblem[]): void {
  if (value === '') return;
  try {
    parseNodeTimezone(value, name);
  } catch (error) {
    if (!(error instanceof TimezoneError)) throw error;
    problems.push({ field: 'timezone', value, reason: `is not a valid timezone; ${error.reason}, or "" for none` });
  }
}

function checkInteger(field: string, value: unknown, problems: FieldProblem[]): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT16_MAX) {
    problems.push({ field, value, reason: 'is not an integer from 0 to 65535' });
  }
}

/**
 * Checks the fields present in a traffic node request, one by one. `required`
 * lists the fields that must be present (on add); unknown fields are
 * rejected so that a misspelt field is not silently ignored.
 */
export function checkTrafficNodeFields(body: Record<string, unknown>, required: readonly TrafficNodeField[], problems: FieldProblem[]): void {
  for (const field of Object.keys(body)) {
    if (!(TRAFFIC_NODE_FIELDS as readonly string[]).includes(field)) {
      problems.push({ field, value: body[field], reason: `is not a field of a traffic node; the fields are ${TRAFFIC_NODE_FIELDS.join(', ')}` });
    }
  }
  for (const field of required) {
    if (body[field] === undefined) problems.push({ field, value: undefined, reason: 'is required' });
  }

  if (body.name !== undefined) {
    const reason = describeInvalidName(body.name);
    if (reason !== undefined) problems.push({ field: 'name', value: body.name, reason });
  }
  for (const field of ['publicAddress', 'internalAddress'] as const) {
    if (body[field] === undefined) continue;
    const parsed = parseNodeAddress(body[field]);
    if (typeof parsed === 'string') problems.push({ field, value: body[field], reason: parsed });
  }
  if (body.model !== undefined && !(MODELS as readonly unknown[]).includes(body.model)) {
    problems.push({ field: 'model', value: body.model, reason: `is not an appliance model; use one of ${MODELS.join(', ')}` });
  }
  if (body.accepting !== undefined && typeof body.accepting !== 'boolean') {
    problems.push({ field: 'accepting', value: body.accepting, reason: 'is not true or false' });
  }
  if (body.prefixes !== undefined) checkPrefixes(body.prefixes, problems);
  if (body.timezone !== undefined) checkTimezone(body.timezone, typeof body.name === 'string' ? body.name : 'node', problems);
  if (body.srvPriority !== undefined) checkInteger('srvPriority', body.srvPriority, problems);
  if (body.srvWeight !== undefined) checkInteger('srvWeight', body.srvWeight, problems);
}

/**
 * Checks the rules that span the cluster for one member as it would be
 * stored: its name unique among all nodes, and neither of its hostnames
 * used by another node. `previousName` is the member's name before an edit,
 * undefined for a new member.
 */
export function checkAgainstCluster(config: ClusterConfig, member: IClusterMember, previousName: string | undefined, problems: FieldProblem[]): void {
  // On add every member is another node; on edit the member's own entry (under its previous name) is not.
  const others = previousName === undefined ? config.members : config.members.filter((candidate) => candidate.name !== previousName);
  const name = member.name ?? '';
  const clash = others.find((candidate) => (candidate.name ?? '').toLowerCase() === name.toLowerCase());
  if (clash !== undefined) {
    problems.push({ field: 'name', value: name, reason: `is already the name of the ${roleText(clash.role)} in this cluster; names must be unique among all nodes` });
  }

  const addresses = [
    { field: 'publicAddress', host: member.publicHost ?? '', port: member.publicPort ?? 0 },
    { field: 'internalAddress', host: member.internalHost ?? '', port: member.internalPort ?? 0 },
  ];
  for (const address of addresses) {
    const owner = others.find((candidate) => candidate.publicHost === address.host || candidate.internalHost === address.host);
    if (owner !== undefined) {
      problems.push({
        field: address.field,
        value: formatHostPort(address.host, address.port),
        reason: `uses the hostname ${address.host}, which belongs to ${roleText(owner.role)} ${owner.name ?? ''}; every node needs its own hostname`,
      });
    }
  }
}

/** Returns the warning for traffic nodes of mixed models, or undefined when they match. */
export function mixedModelWarning(config: ClusterConfig): string | undefined {
  const models = [...new Set(config.members.filter((member) => member.role === 'traffic').map((member) => member.model ?? ''))];
  if (models.length < 2) return undefined;
  return `traffic nodes mix appliance models (${models.sort().join(', ')}); this works, but capabilities are unbalanced, so one model for all nodes is recommended`;
}

/** Checks a traffic node selection method name. */
export function describeInvalidMethod(value: unknown): string | undefined {
  if (typeof value === 'string' && (METHODS as readonly string[]).includes(value)) return undefined;
  return `is not a method for choosing traffic nodes; use one of ${METHODS.join(', ')}`;
}

function roleText(role: string | null | undefined): string {
  if (role === 'primary') return 'primary master';
  if (role === 'backup') return 'backup master';
  return 'traffic node';
}
