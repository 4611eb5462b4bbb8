// Kills a real traffic node process with SIGKILL at random moments while it
// writes configurations pushed over the appliance channel, as a master pushes
// them. After every kill the configuration file must be whole: the last
// acknowledged version or a newer pushed one, never a torn or older file.
import { randomBytes, randomInt } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ClusterConfig, type IClusterConfig } from '../src/protocol/messages.js';
import { CONFIG_FILE } from '../src/traffic/state-store.js';
import { joinAsMaster, startTrafficNode, WAIT_MS, type NodeHandle } from './fixtures/traffic-harness.js';

const KILLS = Number(process.env.ATLAS_KILL_ROUNDS ?? 100);
/** Traffic node processes killed side by side, so one process's start overlaps another's disk writes. */
const LANES = 4;
/** Pushes sent back to back before each kill; the node writes them one after the other. */
const PUSHES_PER_ROUND = 12;
/** Members per configuration, so each write is tens of kilobytes and takes a few milliseconds. */
const MEMBERS = 150;
/** The kill lands uniformly within this window after the first push is sent. */
const KILL_WINDOW_MS = 80;

function bigConfig(node: NodeHandle, version: number): IClusterConfig {
  const members = Array.from({ length: MEMBERS }, (_, index) => ({
    name: index === 0 ? node.name : `filler-node-${index}`,
    role: 'traffic',
    applianceGuid: randomBytes(16).toString('hex'),
    publicHost: index === 0 ? node.host : `filler-node-${index}.support.example.test`,
    publicPort: 443,
    internalHost: index === 0 ? node.host : `filler-node-${index}.support.example.test`,
    internalPort: 8443,
    model: 'Virtual',
    accepting: true,
    prefixes: [`10.${index % 256}.0.0/16`, `172.16.${index % 256}.0/24`],
    timezone: 'Europe/Berlin',
  }));
  return { version, clusterName: 'kill-test', method: 'random', sessionKey: randomBytes(32), siteHostname: 'support.example.test', members };
}

interface StoredConfig {
  version: number;
  config: Record<string, unknown>;
}

/** Reads the configuration file and checks it is whole; throws describing what is wrong. */
async function readWholeConfig(dataDir: string): Promise<number> {
  const text = await readFile(join(dataDir, CONFIG_FILE), 'utf8');
  const stored = JSON.parse(text) as StoredConfig;
  const problem = ClusterConfig.verify(stored.config);
  if (problem !== null) throw new Error(`stored config does not verify: ${problem}`);
  const config = ClusterConfig.fromObject(stored.config);
  if (config.version !== stored.version) throw new Error(`version field ${stored.version} differs from config.version ${config.version}`);
  if (config.members.length !== MEMBERS) throw new Error(`stored config has ${config.members.length} members; expected ${MEMBERS}`);
  return stored.version;
}

async function killNow(node: NodeHandle): Promise<void> {
  const child = node.child;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited;
}

interface LaneOutcome {
  /** Kills after which the file held the last acknowledged version. */
  acknowledgedKept: number;
  /** Kills after which a newer pushed version had landed before its acknowledgement went out. */
  newerLanded: number;
  /** Kills that left temporary files behind, so they landed in the middle of a write. */
  interruptedWrites: number;
  /** Problems found; empty when every file was whole and never older than acknowledged. */
  failures: string[];
  lastVersion: number;
}

/** Runs `rounds` kill rounds against one traffic node process and checks the file after each. */
async function killRounds(t: Test, rounds: number): Promise<LaneOutcome> {
  const node = await startTrafficNode(t);
  const outcome: LaneOutcome = { acknowledgedKept: 0, newerLanded: 0, interruptedWrites: 0, failures: [], lastVersion: 0 };
  let nextVersion = 1;

  // The first configuration makes the file exist before the first kill.
  const first = await joinAsMaster(node);
  first.inbox.channel.send({ configPush: { config: bigConfig(node, nextVersion), term: 1 } });
  await first.inbox.next('configAck');
  let durable = nextVersion++;
  await killNow(node);

  for (let round = 0; round < rounds; round += 1) {
    await node.restart();
    const master = await joinAsMaster(node);
    const pushed: number[] = [];
    let acknowledged = durable;
    // Replaces the inbox's handler: from here on only acknowledgements matter.
    master.inbox.channel.onMessage((envelope) => {
      const ack = envelope.configAck;
      if (envelope.body === 'configAck' && ack?.applied === true) acknowledged = Math.max(acknowledged, Number(ack.version));
    });

    for (let index = 0; index < PUSHES_PER_ROUND; index += 1) {
      pushed.push(nextVersion);
      master.inbox.channel.send({ configPush: { config: bigConfig(node, nextVersion++), term: 1 } });
    }
    await new Promise((resolve) => setTimeout(resolve, randomInt(KILL_WINDOW_MS)));
    const acknowledgedAtKill = acknowledged;
    await killNow(node);

    const leftovers = (await readdir(node.dataDir)).filter((name) => name.endsWith('.tmp'));
    if (leftovers.length > 0) outcome.interruptedWrites += 1;
    let version: number;
    try {
      version = await readWholeConfig(node.dataDir);
    } catch (error) {
      outcome.failures.push(`${node.name} round ${round}: ${(error as Error).message}`);
      break;
    }
    if (version < acknowledgedAtKill) outcome.failures.push(`${node.name} round ${round}: version ${version} is older than acknowledged version ${acknowledgedAtKill}`);
    if (version !== durable && !pushed.includes(version)) outcome.failures.push(`${node.name} round ${round}: version ${version} was never pushed`);
    if (version === acknowledgedAtKill) outcome.acknowledgedKept += 1;
    else outcome.newerLanded += 1;
    durable = version;
  }

  await node.restart();
  const status = (await node.request('status')) as { appliedConfigVersion: number };
  if (status.appliedConfigVersion !== durable) outcome.failures.push(`${node.name}: restarted node applies version ${status.appliedConfigVersion}, the file has ${durable}`);
  const leftovers = (await readdir(node.dataDir)).filter((name) => name.endsWith('.tmp'));
  if (leftovers.length > 0) outcome.failures.push(`${node.name}: temporary files left after a start: ${leftovers.join(', ')}`);
  outcome.lastVersion = durable;
  return outcome;
}

// One round starts a node process, which costs about a second on an idle 2-core machine and several
// seconds on a loaded one, so this file gets more than the default time.
t.setTimeout(30 * WAIT_MS);

void t.test('config file survives SIGKILL', { timeout: 28 * WAIT_MS }, async (t) => {
  const startedMs = Date.now();
  const perLane = Math.ceil(KILLS / LANES);
  const lanes = await Promise.all(Array.from({ length: LANES }, (_, lane) => killRounds(t, Math.min(perLane, KILLS - lane * perLane))));

  const total = (field: 'acknowledgedKept' | 'newerLanded' | 'interruptedWrites'): number => lanes.reduce((sum, lane) => sum + lane[field], 0);
  t.same(lanes.flatMap((lane) => lane.failures), [], 'every file was whole, never older than acknowledged, and reloaded');
  t.equal(total('acknowledgedKept') + total('newerLanded'), KILLS, 'every kill was checked');
  t.ok(total('interruptedWrites') > 0, 'some kills landed in the middle of a write');
  t.comment(`${KILLS} kills on ${LANES} nodes in ${Date.now() - startedMs} ms: acknowledged version kept ${total('acknowledgedKept')}, newer version landed ${total('newerLanded')}, interrupted writes ${total('interruptedWrites')}`);
});
