import type { DemoReport } from './demo-scenario.js';
import { formatLogSummaries } from './log-summary.js';
import { formatTable } from './text-table.js';

/** Renders the demo report for people: connections, streams, traffic nodes, logs and the verdict. */
export function formatDemoReport(report: DemoReport): string {
  const lines: string[] = [];
  lines.push('', `Connections (session ${report.sessionId || 'not started'})`);
  lines.push(
    ...formatTable(
      ['client', 'address', 'kind', 'node', 'reason'],
      report.connections.map((connection) => [connection.client, connection.address, connection.kind, connection.node || '-', connection.reason]),
    ),
  );

  if (report.path !== undefined) {
    lines.push('', `Session path (the rules predict ${report.path.expected.path}: ${report.path.expected.reason})`);
    lines.push(...formatTable(['client', 'reported by', 'path', 'reason'], report.path.reported.map((entry) => [entry.client, entry.source, entry.path || '-', entry.reason])));
  }

  lines.push('', `Streams (${report.frames.count} frames of ${report.frames.sizeBytes} bytes)`);
  lines.push(
    ...formatTable(
      ['stream', 'from', 'to', 'through', 'sent', 'verified', 'lost', 'corrupted', 'mean latency'],
      report.streams.map((stream) => [
        stream.stream,
        stream.from,
        stream.to,
        stream.node,
        String(stream.framesSent ?? '-'),
        String(stream.verified),
        String(stream.lost),
        String(stream.corrupted),
        stream.meanLatencyMs === null ? '-' : `${stream.meanLatencyMs} ms`,
      ]),
    ),
  );

  lines.push('', 'Traffic nodes and their connected clients while the session was live');
  const nodeRows: string[][] = [];
  for (const node of report.nodes) {
    const state = `${node.online ? 'online' : 'offline'}${node.accepting ? '' : ', not accepting'}`;
    if (node.clients.length === 0) nodeRows.push([node.name, node.address, state, '-', '', '']);
    node.clients.forEach((client, index) => {
      nodeRows.push(index === 0 ? [node.name, node.address, state, client.client, client.stream, client.direction] : ['', '', '', client.client, client.stream, client.direction]);
    });
  }
  lines.push(...formatTable(['node', 'address', 'state', 'client', 'stream', 'direction'], nodeRows));

  lines.push('', 'Logs (warnings and errors per process; raw JSON logs are in the run folder)');
  lines.push(...formatLogSummaries(report.logs));

  lines.push('', 'Checks');
  for (const check of report.verdict.checks) lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'}  ${check.rule}: ${check.detail}`);

  const seconds = (milliseconds: number): string => `${(milliseconds / 1000).toFixed(1)} s`;
  lines.push('', `Seed ${report.seed}; cluster start ${seconds(report.elapsedMs.start)}, session ${seconds(report.elapsedMs.session)}, total ${seconds(report.elapsedMs.total)}`);
  lines.push(`Verdict: ${report.verdict.ok ? 'PASS, every connection and stream went where the rules say' : 'FAIL'}`);
  return lines.join('\n');
}
