// Plain-text views of the admin API's replies for `atlas-sim cluster ...`.
import type { ClusterView, DisbandReport, HistoryEntryView, SyncReport } from '../admin/api-types.js';
import { formatTable } from '../launcher/text-table.js';
import { formatUtc } from './admin-target.js';

/** Renders the cluster page: the cluster, its warnings, the masters and the traffic nodes with their state. */
export function formatCluster(view: ClusterView): string[] {
  if (!view.inCluster) {
    return [`not in a cluster (configuration version ${view.version}); create one with \`atlas-sim cluster create\``];
  }
  const lines = [
    `cluster ${view.clusterName} (site ${view.siteHostname}): configuration version ${view.version}, synced version ${view.syncedVersion}, method ${view.method}${view.syncInProgress ? ', sync in progress' : ''}`,
  ];
  const p2p = view.peerToPeer;
  const stun = p2p.stunRole === 'public' ? `public STUN server ${p2p.publicStunServer || '(not set)'}` : 'STUN served by the primary master';
  lines.push(p2p.enabled ? `peer to peer: on, ${stun}, attempt timeout ${p2p.timeoutMs} ms${p2p.forceRelay ? ', force relay (no attempt)' : ''}` : 'peer to peer: off');
  for (const warning of view.warnings) lines.push(`warning: ${warning}`);

  const masters = [view.master, view.backup].filter((member) => member !== null);
  lines.push('', 'masters');
  lines.push(...formatTable(['name', 'role', 'public address', 'internal address', 'model', 'appliance guid'], masters.map((member) => [member.name, member.role, member.publicAddress, member.internalAddress, member.model, member.applianceGuid || '-'])));

  lines.push('', 'traffic nodes');
  if (view.trafficNodes.length === 0) {
    lines.push('  none; add one with `atlas-sim cluster add-node`');
    return lines;
  }
  const rows = view.trafficNodes.map((node) => [
    node.name,
    node.publicAddress,
    node.internalAddress,
    node.model,
    node.accepting ? 'yes' : 'no',
    node.prefixes.join(' ') || '-',
    node.timezone || '-',
    node.online ? 'online' : 'offline',
    node.appliedConfigVersion === 0 ? '-' : String(node.appliedConfigVersion),
    node.problem || '-',
  ]);
  lines.push(...formatTable(['name', 'public address', 'internal address', 'model', 'accepting', 'prefixes', 'timezone', 'state', 'applied', 'problem'], rows));
  return lines;
}

/** Renders the outcome of Sync Now, one line per node. */
export function formatSync(report: SyncReport): string[] {
  const lines = [`sync of configuration version ${report.version}: ${report.succeeded} succeeded, ${report.failed} failed, ${report.durationMs} ms`];
  const rows = report.nodes.map((node) => [node.name, node.ok ? 'ok' : 'failed', String(node.code), `${node.durationMs} ms`, node.message]);
  if (rows.length > 0) lines.push(...formatTable(['node', 'result', 'status', 'time', 'message'], rows));
  for (const node of report.removed) {
    lines.push(node.notified
      ? `removed node ${node.name} was notified that it is no longer in the cluster`
      : `removed node ${node.name} was not notified: ${node.reason ?? 'unknown reason'}; remove it on the node itself with \`atlas-sim node leave --node ${node.name}\``);
  }
  return lines;
}

/** Renders the status history newest first, as the cluster page lists it. */
export function formatHistory(entries: readonly HistoryEntryView[]): string[] {
  if (entries.length === 0) return ['the status history is empty'];
  const rows = [...entries].reverse().map((entry) => [formatUtc(entry.atMs), String(entry.code), entry.message]);
  return formatTable(['time', 'status', 'message'], rows, '');
}

/** Renders the outcome of a disband, naming each node that could not be notified. */
export function formatDisband(report: DisbandReport): string[] {
  const lines = [`cluster disbanded (configuration version ${report.version}); notified: ${report.notified.join(', ') || 'none'}`];
  for (const node of report.unreachable) {
    lines.push(`not notified: ${node.name}: ${node.reason}; remove it on the node itself with \`atlas-sim node leave --node ${node.name}\``);
  }
  return lines;
}
