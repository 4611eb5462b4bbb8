import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CLUSTER_INFO_FILE, readClusterInfo, type ClusterInfo } from '../config/cluster-info.js';
import { ConfigError } from '../util/errors.js';
import { defaultRunsRoot, runFolderPaths, type RunFolderPaths } from './run-folder.js';

export interface RunLookupOptions {
  /** Run folder given with `--run-dir`; used as is when set. */
  runDir?: string;
  /** Folder searched for the most recent run folder; runs/ under the project root when absent. */
  runsRoot?: string;
}

/** A run folder that contains a cluster.json. */
export interface FoundRun {
  dir: string;
  /** `option` when `--run-dir` named the folder, `latest` when it was the most recent one under the runs folder. */
  source: 'option' | 'latest';
  info: ClusterInfo;
  paths: RunFolderPaths;
}

/**
 * Finds the cluster a command acts on: the folder given with `--run-dir`, or
 * else the run folder under `runsRoot` whose cluster.json was written last.
 * The launcher rewrites cluster.json whenever it starts a process, so this is
 * the cluster started or changed most recently. Run folders outside
 * `runsRoot` are found only through `--run-dir`. Throws a ConfigError that
 * says what to pass when no run folder is found.
 */
export async function findRun(options: RunLookupOptions = {}): Promise<FoundRun> {
  if (options.runDir !== undefined) {
    const dir = resolve(options.runDir);
    return { dir, source: 'option', info: await readClusterInfo(dir), paths: runFolderPaths(dir) };
  }

  const runsRoot = resolve(options.runsRoot ?? defaultRunsRoot());
  const dir = await latestRunDir(runsRoot);
  if (dir === undefined) {
    throw new ConfigError(`no run folder with ${CLUSTER_INFO_FILE} under ${runsRoot}; start a cluster with \`atlas-sim up --detach\` or pass --run-dir DIR`);
  }
  return { dir, source: 'latest', info: await readClusterInfo(dir), paths: runFolderPaths(dir) };
}

/** Returns the subfolder of `runsRoot` whose cluster.json has the newest modification time, or undefined. */
export async function latestRunDir(runsRoot: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(runsRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }

  let latest: { dir: string; modifiedMs: number } | undefined;
  for (const name of names) {
    const dir = join(runsRoot, name);
    const modifiedMs = await clusterInfoModifiedMs(dir);
    if (modifiedMs === undefined) continue;
    if (latest === undefined || modifiedMs > latest.modifiedMs) latest = { dir, modifiedMs };
  }
  return latest?.dir;
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
