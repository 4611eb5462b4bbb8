import type { Logger } from '../logging/logger.js';
import { StreamDirection, type atlas } from '../protocol/messages.js';
import { isDelegatedMethod, METHODS, type ChoiceReason } from '../routing/index.js';
import { toWireReason } from './node-selection.js';
import type { SessionConnection, SessionRecord } from './session-broker.js';

/** Converts a brokered session to the form the primary replicates to the backup. */
export function toReplicatedSession(session: SessionRecord): atlas.IReplicatedSession {
  const connections: atlas.IReplicatedConnection[] = [];
  for (const [participantId, list] of session.connections) {
    for (const connection of list) {
      connections.push({
        participantId,
        kind: connection.kind,
        node: connection.node,
        stream: connection.stream,
        direction: connection.direction === 'publish' ? StreamDirection.DIRECTION_PUBLISH : StreamDirection.DIRECTION_SUBSCRIBE,
        reason: connection.reason,
        connected: connection.connected,
        path: connection.path,
        pathReason: connection.pathReason ?? '',
        connectedAtMs: connection.connectedAtMs ?? 0,
      });
    }
  }
  return {
    id: session.id,
    customerId: session.customerId,
    representativeId: session.representativeId,
    customerNode: session.customerNode,
    representativeNode: session.representativeNode,
    representativeReason: toWireReason(session.representativeReason),
    startedAtMs: session.startedAtMs,
    connections,
    delegatedMethod: session.delegatedMethod ?? '',
    ...(session.customerReason === undefined ? {} : { customerReason: toWireReason(session.customerReason) }),
    waitingRepresentativeCross: session.waiting?.representativeCross ?? false,
    waitingScreenShare: session.waiting?.screenShare ?? false,
  };
}

/** Rebuilds a session record from its replicated form, with a logger bound to its id. */
export function fromReplicatedSession(replicated: atlas.IReplicatedSession, logger: Logger): SessionRecord {
  const id = replicated.id ?? '';
  const connections = new Map<string, SessionConnection[]>();
  for (const connection of replicated.connections ?? []) {
    const participantId = connection.participantId ?? '';
    const list = connections.get(participantId) ?? [];
    list.push({
      kind: connection.kind === 'cross' ? 'cross' : 'home',
      node: connection.node ?? '',
      stream: connection.stream ?? '',
      direction: connection.direction === StreamDirection.DIRECTION_PUBLISH ? 'publish' : 'subscribe',
      reason: connection.reason ?? '',
      connected: connection.connected ?? false,
      path: connection.path ?? '',
      ...(connection.pathReason ? { pathReason: connection.pathReason } : {}),
      ...(connection.connectedAtMs ? { connectedAtMs: connection.connectedAtMs } : {}),
    });
    connections.set(participantId, list);
  }
  const delegatedMethod = delegatedMethodOf(replicated.delegatedMethod ?? '');
  return {
    id,
    customerId: replicated.customerId ?? '',
    representativeId: replicated.representativeId ?? '',
    customerNode: replicated.customerNode ?? '',
    representativeNode: replicated.representativeNode ?? '',
    representativeReason: fromWireReason(replicated.representativeReason ?? {}),
    startedAtMs: replicated.startedAtMs ?? 0,
    connections,
    logger: logger.child({ session: id }),
    ...(delegatedMethod === undefined ? {} : { delegatedMethod }),
    ...(replicated.customerReason == null ? {} : { customerReason: fromWireReason(replicated.customerReason) }),
    waiting: { representativeCross: replicated.waitingRepresentativeCross ?? false, screenShare: replicated.waitingScreenShare ?? false },
  };
}

function fromWireReason(reason: atlas.IChoiceReason): ChoiceReason {
  return {
    method: (reason.method ?? 'random') as ChoiceReason['method'],
    ...(reason.prefix ? { prefix: reason.prefix, prefixLength: reason.prefixLength ?? 0 } : {}),
    candidates: reason.candidates ?? 0,
    tied: reason.tied ?? 0,
    text: reason.text ?? '',
  };
}

/** Returns the delegated method a replicated session names; undefined for none or a name this version does not know. */
function delegatedMethodOf(name: string): SessionRecord['delegatedMethod'] {
  const method = METHODS.find((candidate) => candidate === name);
  return method !== undefined && isDelegatedMethod(method) ? method : undefined;
}
