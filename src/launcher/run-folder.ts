import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ADMIN_PASSWORD_FILE, ADMIN_PASSWORD_HASH_FILE } from '../admin/credentials.js';
import { CLUSTER_INFO_FILE } from '../config/cluster-info.js';
import { ConfigError } from '../util/errors.js';
import { projectRoot } from './project-root.js';

/** Environment variable that moves the folder of default run folders away from runs/ under the project root. */
export const RUNS_DIR_ENV = 'ATLAS_RUNS_DIR';

/** Folder that contains the run folders `atlas-sim up` creates by default: $ATLAS_RUNS_DIR, else runs/ under the project root. */
export function defaultRunsRoot(): string {
  const fromEnv = process.env[RUNS_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return join(projectRoot(), 'runs');
}

/** Paths inside one cluster's run folder. */
export interface RunFolderPaths {
  dir: string;
  clusterInfoFile: string;
  /** Inter-appliance pre-shared key, hex, mode 0600. */
  pskFile: string;
  /** Cluster session key that signs session tickets, hex, mode 0600. */
  sessionKeyFile: string;
  /** OAuth client id and secret of the command API account, JSON, mode 0600. */
  apiAccountFile: string;
  /** Admin API password in clear text for the CLI, mode 0600. */
  adminPasswordFile: string;
  /** scrypt hash of the admin password that every appliance checks, mode 0600. */
  adminPasswordHashFile: string;
  configFile(name: string): string;
  logFile(name: string): string;
  dataDir(name: string): string;
}

/** A run folder the launcher prepared. */
export interface RunFolder extends RunFolderPaths {
  /** True when the launcher made the folder itself (not given by the caller). */
  created: boolean;
}

/** Returns the paths inside run folder `dir` without touching the disk. */
export function runFolderPaths(dir: string): RunFolderPaths {
  const absolute = resolve(dir);
  return {
    dir: absolute,
    clusterInfoFile: join(absolute, CLUSTER_INFO_FILE),
    pskFile: join(absolute, 'psk.key'),
    sessionKeyFile: join(absolute, 'session.key'),
    apiAccountFile: join(absolute, 'api-account.json'),
    adminPasswordFile: join(absolute, ADMIN_PASSWORD_FILE),
    adminPasswordHashFile: join(absolute, ADMIN_PASSWORD_HASH_FILE),
    configFile: (name) => join(absolute, 'config', `${name}.json`),
    logFile: (name) => join(absolute, 'logs', `${name}.log`),
    dataDir: (name) => join(absolute, 'data', name),
  };
}

/** Returns `<project root>/runs/<UTC timestamp>-<6 hex digits>`, such as runs/20261204-195312-a1b2c3. */
export function defaultRunDir(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return join(defaultRunsRoot(), `${stamp}-${randomBytes(3).toString('hex')}`);
}

/**
 * Checks that a run folder can take a new cluster: a missing folder or an
 * empty one, so that removing the run folder later can never delete files the
 * launcher did not write. Returns the absolute path and whether the folder
 * exists. Throws ConfigError naming the folder and the fix.
 */
export async function checkRunFolder(runDir: string): Promise<{ dir: string; exists: boolean }> {
  const dir = resolve(runDir);
  // Node 20's recursive mkdir never settles under /proc, so such paths are rejected first.
  if (dir === '/proc' || dir.startsWith('/proc/') || dir === '/sys' || dir.startsWith('/sys/')) {
    throw new ConfigError(`run folder ${dir} is inside a kernel file system; pass a folder on disk, such as ./runs/mine`);
  }

  const entries = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    if (error.code === 'ENOTDIR') throw new ConfigError(`run folder ${dir} is a file, not a folder; pass a new or empty folder`);
    throw error;
  });
  if (entries?.includes(CLUSTER_INFO_FILE) === true) {
    throw new ConfigError(`run folder ${dir} already contains ${CLUSTER_INFO_FILE} from another cluster; pass a new or empty folder`);
  }
  if (entries !== null && entries.length > 0) {
    throw new ConfigError(`run folder ${dir} is not empty (it contains ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}); pass a new or empty folder, because the launcher may delete the run folder's contents when the run ends`);
  }
  return { dir, exists: entries !== null };
}

/** Creates the run folder with its config/, logs/ and data/ subfolders, after checkRunFolder accepts it. */
export async function prepareRunFolder(runDir?: string): Promise<RunFolder> {
  const { dir, exists } = await checkRunFolder(runDir ?? defaultRunDir());
  for (const sub of ['config', 'logs', 'data']) await mkdir(join(dir, sub), { recursive: true });
  return { ...runFolderPaths(dir), created: !exists };
}

/**
 * Deletes what the launcher wrote: the whole folder when the launcher created
 * it, else only the folder's contents, since the caller gave an empty folder.
 */
export async function removeRunFolder(folder: Pick<RunFolder, 'dir' | 'created'>): Promise<void> {
  if (folder.created) {
    await rm(folder.dir, { recursive: true, force: true });
    return;
  }
  const entries = await readdir(folder.dir).catch(() => [] as string[]);
  await Promise.all(entries.map((entry) => rm(join(folder.dir, entry), { recursive: true, force: true })));
}
