import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SOFTWARE_VERSION } from '../../config/constants.js';
import { errorMessage } from '../../util/errors.js';
import type { HealthReport } from './command-xml.js';

export interface HealthCheckOptions {
  dataDir: string;
  guid: string;
  hostname: string;
  failoverRole: HealthReport['failoverRole'];
}

/**
 * Checks the appliance: the master is serving (it responds) and its data
 * folder takes a synced write. Without that write no configuration or
 * history change would survive a restart.
 */
export async function checkApplianceHealth(options: HealthCheckOptions): Promise<HealthReport> {
  const report: HealthReport = { applianceGuid: options.guid, hostname: options.hostname, version: SOFTWARE_VERSION, success: true, failoverRole: options.failoverRole };
  const probe = join(options.dataDir, `.health-probe-${process.pid}`);
  try {
    const handle = await open(probe, 'w', 0o600);
    try {
      await handle.writeFile(new Date().toISOString());
      await handle.sync();
    } finally {
      await handle.close();
    }
    await unlink(probe);
  } catch (error) {
    report.success = false;
    report.errorMessage = `data folder ${options.dataDir} does not take writes: ${errorMessage(error)}`;
  }
  return report;
}
