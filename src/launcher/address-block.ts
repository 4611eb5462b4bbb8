import { randomInt } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE_ADDRESS_SECOND_OCTET_FIRST, NODE_ADDRESS_SECOND_OCTET_LAST } from '../config/topology.js';
import { isProcessRunning } from '../util/process-state.js';

export { isProcessRunning };

/** Folder of the lock files that reserve address blocks, shared by every launcher on the machine. */
export const DEFAULT_BLOCK_LOCK_DIR = join(tmpdir(), 'atlas-sim-blocks');

/** Number of /24 blocks in 127.100.0.0-127.199.255.255. */
export const BLOCK_COUNT = (NODE_ADDRESS_SECOND_OCTET_LAST - NODE_ADDRESS_SECOND_OCTET_FIRST + 1) * 256;

/** Last octet of each process's address inside its cluster's /24 block. */
export const HOST_OCTETS = {
  master: 1,
  backup: 2,
  stun: 3,
  anycast: 4,
  dns: 53,
  firstTrafficNode: 10,
} as const;

const LAST_HOST_OCTET = 254;
/** Age after which a lock file without a PID is taken as left by a crashed launcher. */
const EMPTY_LOCK_GRACE_MS = 10_000;

/** Maximum number of traffic nodes in one block: .10 to .254 without the DNS server's .53. */
export const MAX_TRAFFIC_NODES = LAST_HOST_OCTET - HOST_OCTETS.firstTrafficNode + 1 - 1;

export interface AddressBlockOptions {
  /** Lock folder; DEFAULT_BLOCK_LOCK_DIR unless a test isolates itself. */
  lockDir?: string;
  /** Block to try first; a random one when absent, so parallel launchers rarely race for the same block. */
  firstIndex?: number;
}

/** One /24 of loopback held by this process until release(). */
export interface AddressBlock {
  /** Position in the range, 0 to BLOCK_COUNT - 1. */
  index: number;
  /** First three octets, such as `127.100.5`. */
  network: string;
  lockFile: string;
  /** Returns `<network>.<hostOctet>`. */
  address(hostOctet: number): string;
  /** Address of the traffic node at `position` (0-based) in the topology. */
  trafficNodeAddress(position: number): string;
  /** Removes the lock file; calling it again does nothing. */
  release(): Promise<void>;
}

/** Lock files this process holds, removed on exit even when release() never ran. */
const heldLocks = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const file of heldLocks) {
      try {
        unlinkSync(file);
      } catch {
        // Already gone: nothing to clean.
      }
    }
  });
}

/** Returns the first three octets of block `index`, such as `127.100.5`. */
export function blockNetwork(index: number): string {
  const second = NODE_ADDRESS_SECOND_OCTET_FIRST + Math.floor(index / 256);
  return `127.${second}.${index % 256}`;
}

/**
 * Reserves a free /24 block by creating `<lockDir>/<network>.0.lock` with
 * O_EXCL and writing this process's PID into it. A lock whose PID is no longer
 * running is reclaimed. Throws when every block is taken.
 */
export async function allocateAddressBlock(options: AddressBlockOptions = {}): Promise<AddressBlock> {
  const lockDir = options.lockDir ?? DEFAULT_BLOCK_LOCK_DIR;
  await mkdir(lockDir, { recursive: true });
  const first = options.firstIndex ?? randomInt(BLOCK_COUNT);

  for (let step = 0; step < BLOCK_COUNT; step += 1) {
    const index = (first + step) % BLOCK_COUNT;
    const lockFile = join(lockDir, `${blockNetwork(index)}.0.lock`);
    if (await tryLock(lockFile)) return createBlock(index, lockFile);
  }
  throw new Error(`every one of the ${BLOCK_COUNT} address blocks under ${lockDir} is held by a running process; stop a cluster or delete stale lock files`);
}

function createBlock(index: number, lockFile: string): AddressBlock {
  installExitHook();
  heldLocks.add(lockFile);
  const network = blockNetwork(index);
  let released = false;
  return {
    index,
    network,
    lockFile,
    address: (hostOctet) => `${network}.${hostOctet}`,
    trafficNodeAddress(position) {
      if (!Number.isInteger(position) || position < 0 || position >= MAX_TRAFFIC_NODES) {
        throw new RangeError(`traffic node position ${position} is out of range; a cluster supports at most ${MAX_TRAFFIC_NODES} traffic nodes`);
      }
      const octet = HOST_OCTETS.firstTrafficNode + position;
      return `${network}.${octet >= HOST_OCTETS.dns ? octet + 1 : octet}`;
    },
    async release() {
      if (released) return;
      released = true;
      heldLocks.delete(lockFile);
      await unlink(lockFile).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    },
  };
}

/** Creates the lock file; when it exists but its owner is dead, reclaims it once. */
async function tryLock(lockFile: string): Promise<boolean> {
  if (await createExclusive(lockFile)) return true;
  if (!(await isStale(lockFile))) return false;

  // Two launchers can find the same stale lock. The reclaim lock lets only one
  // of them delete it, so neither deletes a lock the other has just created.
  const reclaimFile = `${lockFile}.reclaim`;
  if (!(await createExclusive(reclaimFile))) {
    if (await isStale(reclaimFile)) await unlink(reclaimFile).catch(() => undefined);
    return false;
  }
  try {
    if (!(await isStale(lockFile))) return false;
    await unlink(lockFile).catch(() => undefined);
    return await createExclusive(lockFile);
  } finally {
    await unlink(reclaimFile).catch(() => undefined);
  }
}

/** Creates `file` with O_EXCL holding this PID; false when it already exists. */
async function createExclusive(file: string): Promise<boolean> {
  try {
    const handle = await open(file, 'wx', 0o644);
    try {
      await handle.writeFile(`${process.pid}\n`);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * True when the lock's PID no longer runs. A lock without a PID counts as live
 * for EMPTY_LOCK_GRACE_MS, because its launcher may still be writing it.
 */
async function isStale(lockFile: string): Promise<boolean> {
  let text: string;
  let modifiedMs: number;
  try {
    text = await readFile(lockFile, 'utf8');
    modifiedMs = (await stat(lockFile)).mtimeMs;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return Date.now() - modifiedMs > EMPTY_LOCK_GRACE_MS;
  return !isProcessRunning(pid);
}
