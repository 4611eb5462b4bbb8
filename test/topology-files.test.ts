import { readdirSync, readFileSync } from 'node:fs';
import Ajv from 'ajv';
import t from 'tap';

import { MODELS } from '../src/config/constants.js';
import { NAT_TYPES, STUN_ROLES } from '../src/config/peer-to-peer.js';
import { TOPOLOGY_KEYS, validateTopology } from '../src/config/topology-validation.js';
import { METHODS } from '../src/routing/method.js';

const folder = new URL('../topologies/', import.meta.url);
const schema = JSON.parse(readFileSync(new URL('topology.schema.json', folder), 'utf8')) as Record<string, unknown>;
const files = readdirSync(folder).filter((name) => name.endsWith('.json') && name !== 'topology.schema.json').sort();
const validateSchema = new Ajv({ allErrors: true }).compile(schema);

type SchemaObject = { properties?: Record<string, SchemaObject>; items?: SchemaObject; enum?: unknown[] };

function read(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(name, folder), 'utf8')) as Record<string, unknown>;
}

/** Returns the validator's verdict: the fields it rejects, empty when it accepts. */
function validatorProblems(value: unknown): string[] {
  try {
    validateTopology(value, 'case');
    return [];
  } catch (error) {
    return (error as { problems?: { field: string }[] }).problems?.map((problem) => problem.field) ?? [String(error)];
  }
}

function keysAt(path: string[]): string[] {
  let node: SchemaObject | undefined = schema;
  for (const step of path) node = step === '[]' ? node?.items : node?.properties?.[step];
  return Object.keys(node?.properties ?? {}).sort();
}

void t.test('one topology file per method', (t) => {
  for (const method of ['prefix', ...METHODS]) t.ok(files.includes(`${method}.json`), `${method}.json is shipped`);
  for (const method of METHODS) t.equal(read(`${method}.json`).method, method, `${method}.json sets method ${method}`);
  t.end();
});

void t.test('shipped files pass both checks', (t) => {
  for (const name of files) {
    const topology = read(name);
    t.equal(topology.$schema, './topology.schema.json', `${name} references the schema`);
    t.ok(validateSchema(topology), `${name} matches the schema: ${JSON.stringify(validateSchema.errors)}`);
    t.same(validatorProblems(topology), [], `${name} passes validateTopology`);
  }
  t.end();
});

void t.test('schema keys match the validator', (t) => {
  const paths: [keyof typeof TOPOLOGY_KEYS, string[]][] = [
    ['root', []],
    ['heartbeat', ['heartbeat']],
    ['master', ['masters', '[]']],
    ['trafficNode', ['trafficNodes', '[]']],
    ['client', ['clients', '[]']],
    ['frames', ['frames']],
    ['peerToPeer', ['peerToPeer']],
    ['resolver', ['resolvers', '[]']],
    ['anycast', ['anycast']],
    ['anycastRoute', ['anycast', 'routes', '[]']],
  ];
  for (const [key, path] of paths) t.same(keysAt(path), [...TOPOLOGY_KEYS[key]].sort(), `${key} keys`);
  const properties = (schema as SchemaObject).properties!;
  t.same(properties.method?.enum, [...METHODS], 'method names');
  t.same(properties.masters?.items?.properties?.model?.enum, [...MODELS], 'appliance models');
  t.same(properties.clients?.items?.properties?.natType?.enum, [...NAT_TYPES], 'NAT types');
  t.same(properties.peerToPeer?.properties?.stunRole?.enum, [...STUN_ROLES], 'STUN roles');
  t.end();
});

void t.test('both checks reject the same mistakes', (t) => {
  const base = read('anycast.json');
  const cases: [string, Record<string, unknown>][] = [
    ['misspelt key', { ...base, mehtod: 'srv' }],
    ['anycast method without table', { ...base, anycast: undefined }],
    ['unknown method', { ...base, method: 'nearest' }],
    ['three masters', { ...base, masters: [{ name: 'm1' }, { name: 'm2' }, { name: 'm3' }] }],
    ['route without node', { ...base, anycast: { routes: [{ prefix: '127.30.0.0/16' }], defaultNode: 'us-traffic1' } }],
    ['resolver without sources', { ...base, resolvers: [{ name: 'eu-dns', sources: [], trafficNodes: ['eu-traffic1'] }] }],
  ];
  for (const [name, value] of cases) {
    const copy = JSON.parse(JSON.stringify(value)) as unknown;
    t.notOk(validateSchema(copy), `${name}: schema rejects`);
    t.not(validatorProblems(copy).length, 0, `${name}: validator rejects`);
  }
  t.end();
});
