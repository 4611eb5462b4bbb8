import { readdir, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { CLUSTER_INFO_FILE, readClusterInfo, type ClusterInfo } from '../config/cluster-info.js';
import { ConfigError } from '../util/errors.js';
import { defaultRunsRoot, runFolderPaths, type RunFolderPaths } from './run-folder.js';
import { readSupervisorRecord } from './supervisor.js';

/** Time a launcher's control socket gets to accept a connection before its cluster counts as not running. */
const SOCKET_PROBE_TIMEOUT_MS = 2_000;

export interface RunLookupOptions {
  /** Run folder given with `--run-dir`; used as is when set, running or not. */
  runDir?: string;
  /** Folder searched for the newest running cluster; runs/ under the project root (or ATLAS_RUNS_DIR) when absent. */
  runsRoot?: string;
}

/** A run folder that contains a cluster.json. */
export interface FoundRun {
  dir: string;
  /** `option` when `--run-dir` named the folder, `running` when it was the newest running cluster under the runs folder. */
  source: 'option' | 'running';
  info: ClusterInfo;
  paths: RunFolderPaths;
}

/** Thrown by findRun when no run folder under the runs folder belongs to a running cluster. */
export class NoRunningClusterError extends ConfigError {
  override name = 'NoRunningClusterError';

  constructor(readonly runsRoot: string) {
    super(`no running cluster under ${runsRoot}; start one with \`atlas-sim up --detach\` or pass --run-dir DIR (the folder \`atlas-sim up\` printed)`);
  }
}

/**
 * Finds the cluster a command acts on: the folder given with `--run-dir`, or
 * else the newest running cluster under `runsRoot`. A cluster runs when the
 * control socket of its launcher accepts a connection. Among running
 * clusters the newest is the one whose cluster.json was written last; the
 * launcher rewrites that file whenever it starts a process. Folders of
 * stopped or failed runs are skipped, and folders outside `runsRoot` are
 * found only through `--run-dir`. Throws NoRunningClusterError when no
 * cluster runs, and ConfigError when cluster.json is unreadable.
 */
export async function findRun(options: RunLookupOptions = {}): Promise<FoundRun> {
  if (options.runDir !== undefined) {
    const dir = resolve(options.runDir);
    return { dir, source: 'option', info: await readClusterInfo(dir), paths: runFolderPaths(dir) };
  }

  const runsRoot = resolve(options.runsRoot ?? defaultRunsRoot());
  for (const dir of await runDirsNewestFirst(runsRoot)) {
    const info = await readClusterInfo(dir).catch(() => undefined);
    if (info === undefined || !(await isClusterRunning(dir, info))) continue;
    return { dir, source: 'running', info, paths: runFolderPaths(dir) };
  }
  throw new NoRunningClusterError(runsRoot);
}

/**
 * True when the launcher of the cluster in `dir` accepts connections on its
 * control socket (named in cluster.json) or on its supervisor socket (named
 * in supervisor.json). A killed launcher leaves its socket file behind, so
 * only a successful connection counts.
 */
export async function isClusterRunning(dir: string, info: ClusterInfo): Promise<boolean> {
  const sockets: string[] = [];
  if (info.controlSocket !== undefined) sockets.push(info.controlSocket);
  const record = await readSupervisorRecord(dir).catch(() => undefined);
  if (record !== undefined && record.state !== 'stopped') sockets.push(record.controlSocket);

  for (const socket of sockets) {
    if (await acceptsConnection(socket)) return true;
  }
  return false;
}

/** Returns the subfolders of `runsRoot` that contain a cluster.json, the most recently written first. */
export async function runDirsNewestFirst(runsRoot: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(runsRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }

  const runs: { dir: string; modifiedMs: number }[] = [];
  for (const name of names) {
    const dir = join(runsRoot, name);
    const modifiedMs = await clusterInfoModifiedMs(dir);
    if (modifiedMs !== undefined) runs.push({ dir, modifiedMs });
  }
  return runs.sort((a, b) => b.modifiedMs - a.modifiedMs).map((run) => run.dir);
}

async function clusterInfoModifiedMs(dir: string): Promise<number | undefined> {
  try {
    const info = await stat(join(dir, CLUSTER_INFO_FILE));
    return info.isFile() ? info.mtimeMs : undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** Resolves true when a Unix socket at `path` accepts a connection, which it closes at once. */
function acceptsConnection(path: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect(path);
    const finish = (accepted: boolean): void => {
      socket.destroy();
      resolvePromise(accepted);
    };
    socket.setTimeout(SOCKET_PROBE_TIMEOUT_MS, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}
