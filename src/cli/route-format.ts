import { formatTable } from '../launcher/text-table.js';
import { describeNodeOffset, formatOffsetMinutes } from '../routing/index.js';
import type { SourcedExplanation } from './route-sources.js';

/** Renders a route explanation for people: the pick, the reason, the tie, and every node's state. */
export function formatRouteExplanation(explanation: SourcedExplanation): string[] {
  const lines = [
    `client ${explanation.clientIp}, UTC offset ${formatOffsetMinutes(explanation.utcOffsetMinutes)} min, at ${explanation.at}`,
    describeSource(explanation),
    `method: ${explanation.method} (used when no prefix contains the client's address)`,
    '',
    `node:       ${describePick(explanation)}`,
    `reason:     ${explanation.reason.text}`,
    `candidates: ${explanation.candidates.join(', ') || 'none'}`,
  ];
  if (explanation.tied.length > 1) {
    lines.push(`tied:       ${explanation.tied.join(', ')}; the pick is random, and the node above is the next draw of the seeded generator`);
  }
  if (explanation.delegation !== undefined) {
    lines.push(`delegated:  ${explanation.delegation.text}`);
    lines.push(`on landing: the master records "${explanation.delegation.landingReason}" once the node reports the client`);
  }

  const rows = explanation.nodes.map((node) => [
    node.name,
    describeState(node),
    node.candidate ? 'yes' : 'no',
    node.prefixes.join(' ') || '-',
    describeNodeOffset(node),
    `${node.srvPriority}/${node.srvWeight}`,
  ]);
  lines.push('', ...formatTable(['traffic node', 'state', 'candidate', 'prefixes', 'offset (timezone)', 'srv priority/weight'], rows));
  return lines;
}

function describeSource(explanation: SourcedExplanation): string {
  if (explanation.source === 'cluster') {
    return `answered by ${explanation.answeredBy} from its live chooser (synced configuration version ${explanation.configVersion}, seed ${explanation.seed})`;
  }
  const seed = explanation.seedSource === 'random' ? `random seed ${explanation.seed}; the topology sets none, pass --seed to fix it` : `seed ${explanation.seed}`;
  return `from topology ${explanation.topologyFile}, every node online (${seed})`;
}

function describePick(explanation: SourcedExplanation): string {
  if (explanation.kind === 'node') return explanation.node ?? '-';
  if (explanation.kind === 'delegated') {
    const reached = explanation.delegation?.node ?? 'a node the DNS server decides';
    return `${reached}, reached by the client's own ${explanation.method} resolution`;
  }
  return 'none';
}

function describeState(node: SourcedExplanation['nodes'][number]): string {
  const parts = [node.online ? 'online' : 'offline'];
  if (!node.accepting) parts.push('not accepting');
  if (!node.configCurrent) parts.push('stale configuration');
  return parts.join(', ');
}
