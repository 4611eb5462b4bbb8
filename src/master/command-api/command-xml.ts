import { element, type XmlElement } from '../../util/xml.js';
import type { ApplianceSummaryView, ClientConnectionView, ConnectedClientView } from './connected-clients.js';

/** Namespace of every command API response. Parsers that ignore namespaces read the same element names. */
export const COMMAND_NAMESPACE = 'urn:atlas-sim:api:command';

/** Result of check_health. */
export interface HealthReport {
  applianceGuid: string;
  hostname: string;
  version: string;
  success: boolean;
  /** Present only when the check failed. */
  errorMessage?: string;
  /** `none` without a backup master in the configuration, else `primary` or `backup`. */
  failoverRole: 'none' | 'primary' | 'backup';
}

/** Builds `<error>` with the message, the response to a request the API rejects. */
export function errorXml(message: string): XmlElement {
  return element('error', { xmlns: COMMAND_NAMESPACE }, message);
}

/** Builds the `<connected_clients>` response of get_connected_clients. */
export function connectedClientsXml(clients: ConnectedClientView[], includeConnections: boolean): XmlElement {
  return element('connected_clients', { xmlns: COMMAND_NAMESPACE }, clients.map((client) => clientXml(client, includeConnections)));
}

/** Builds the `<connected_client_list>` response of get_connected_client_list: per-appliance counts, then one entry per client. */
export function connectedClientListXml(summary: ApplianceSummaryView[], clients: ConnectedClientView[] | undefined): XmlElement {
  const summaries = summary.map((appliance) =>
    element(
      'appliance_summary',
      { id: appliance.guid, name: appliance.name, role: appliance.role },
      Object.entries(appliance.counts).map(([type, count]) => element('count', { type }, String(count))),
    ),
  );
  const entries = (clients ?? []).map((client) => element('connected_client', { type: client.type, id: client.id }));
  return element('connected_client_list', { xmlns: COMMAND_NAMESPACE }, element('connected_client_summary', {}, summaries), entries);
}

/** Builds the `<check_health>` response. */
export function checkHealthXml(report: HealthReport): XmlElement {
  return element(
    'check_health',
    { xmlns: COMMAND_NAMESPACE },
    element('appliance', { id: report.applianceGuid }, report.hostname),
    element('version', {}, report.version),
    element('success', {}, report.success ? '1' : '0'),
    report.errorMessage === undefined ? undefined : element('error_message', {}, report.errorMessage),
    element('failover_role', {}, report.failoverRole),
  );
}

function clientXml(client: ConnectedClientView, includeConnections: boolean): XmlElement {
  const name = client.type === 'representative' ? 'connected_representative' : `connected_${client.type}`;
  return element(
    name,
    { id: client.id },
    includeConnections ? connectionsXml(client.connections) : undefined,
    element('display_name', {}, client.displayName),
    element('timezone_offset', {}, String(client.timezoneOffsetSeconds)),
    element('connected_since', { ts: unixSeconds(client.connectedSince) }, client.connectedSince),
    element('public_ip', {}, client.publicIp),
    element('private_ip', {}, client.publicIp),
    client.sessionId === undefined ? element('support_sessions') : element('support_sessions', {}, element('support_session', { lsid: client.sessionId })),
  );
}

/**
 * `<client_connections>` holding the connection list and an event log.
 * NOTE: the event log lists the opening of each connection the client has
 * now; connections that already closed are not remembered.
 */
function connectionsXml(connections: ClientConnectionView[]): XmlElement {
  const list = connections.map((connection) =>
    element(
      'client_connection',
      { appliance_id: connection.applianceGuid, appliance_name: connection.applianceName, channel: connection.channel, type: connection.kind },
      element('connected', {}, connection.connected ? '1' : '0'),
      connection.connectedSince === undefined ? undefined : element('connected_since', { ts: unixSeconds(connection.connectedSince) }, connection.connectedSince),
      connection.sessionId === undefined ? undefined : element('support_session', { lsid: connection.sessionId }),
      connection.stream === undefined ? undefined : element('stream', { direction: connection.direction }, connection.stream),
      connection.reason === undefined ? undefined : element('reason', {}, connection.reason),
      connection.path === undefined || connection.path === '' ? undefined : element('path', {}, connection.path),
      connection.pathReason === undefined || connection.pathReason === '' ? undefined : element('path_reason', {}, connection.pathReason),
    ),
  );
  const events = connections
    .filter((connection) => connection.connectedSince !== undefined)
    .sort((a, b) => (a.connectedSince ?? '').localeCompare(b.connectedSince ?? ''))
    .map((connection) =>
      element(
        'event',
        { type: 'connected', ts: unixSeconds(connection.connectedSince ?? ''), appliance_id: connection.applianceGuid },
        `${connection.channel} channel to ${connection.applianceName} opened`,
      ),
    );
  return element('client_connections', {}, element('client_connections', {}, list), element('event_log', {}, events));
}

function unixSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}
