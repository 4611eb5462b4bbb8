import { element, type XmlElement } from '../../util/xml.js';
import { DEFAULT_SESSION_KEY_TTL_SECONDS, GENERAL_QUEUE, MAX_SESSION_KEY_TTL_SECONDS, type SessionKey, type SessionKeyStore } from '../session-keys.js';
import type { CommandAction, CommandContext, CommandResult } from './command-api.js';
import { COMMAND_NAMESPACE } from './command-xml.js';
import { HttpError } from './http-io.js';

/** Longest `external_key` kept, in characters. */
export const MAX_EXTERNAL_KEY_CHARS = 1024;

/** JSON form of the generate_session_key response. */
export interface SessionKeyView {
  shortKey: string;
  keyUrl: string;
  /** ISO 8601 expiry; `expiresTimestamp` is the same moment in Unix seconds. */
  expires: string;
  expiresTimestamp: number;
  queueId: string;
  externalKey: string;
}

/**
 * Builds the `generate_session_key` action: `type=support`, `queue_id=general`,
 * optional `ttl` (seconds) and `external_key`. Each request creates a key that one
 * customer client presents in its hello to join the queue, and the response
 * carries the short key, the key URL, the expiry and the queue.
 */
export function generateSessionKeyAction(keys: SessionKeyStore): CommandAction {
  return {
    permission: 'full',
    run: (context) => generate(keys, context),
  };
}

function generate(keys: SessionKeyStore, context: CommandContext): CommandResult {
  const { parameters } = context;
  const type = parameters.get('type');
  if (type !== 'support') throw new HttpError(400, `type is ${JSON.stringify(type ?? '')}; the only session type is support, so send type=support`);
  const queueId = parameters.get('queue_id');
  if (queueId !== GENERAL_QUEUE) {
    // NOTE: representative and team queues (rep:ID, team:ID) are not simulated.
    throw new HttpError(400, `queue_id is ${JSON.stringify(queueId ?? '')}; this cluster has only the general queue, so send queue_id=general`);
  }
  const ttlSeconds = parseTtl(parameters.get('ttl'));
  const externalKey = parameters.get('external_key') ?? '';
  if (externalKey.length > MAX_EXTERNAL_KEY_CHARS) throw new HttpError(400, `external_key has ${externalKey.length} characters; at most ${MAX_EXTERNAL_KEY_CHARS} are allowed`);

  const key = keys.generate({ queueId, ttlSeconds, externalKey });
  context.logger.info({ account: context.account.name, queue: queueId, expiresAt: new Date(key.expiresAtMs).toISOString() }, 'session key generated');
  return { xml: sessionKeyXml(key), json: sessionKeyView(key) };
}

function parseTtl(value: string | null): number {
  if (value === null || value === '') return DEFAULT_SESSION_KEY_TTL_SECONDS;
  const seconds = /^\d{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_SESSION_KEY_TTL_SECONDS)) {
    throw new HttpError(400, `ttl is ${JSON.stringify(value)}; give the lifetime of the key in whole seconds from 1 to ${MAX_SESSION_KEY_TTL_SECONDS}`);
  }
  return seconds;
}

function sessionKeyView(key: SessionKey): SessionKeyView {
  return {
    shortKey: key.shortKey,
    keyUrl: key.keyUrl,
    expires: new Date(key.expiresAtMs).toISOString(),
    expiresTimestamp: Math.floor(key.expiresAtMs / 1000),
    queueId: key.queueId,
    externalKey: key.externalKey,
  };
}

/** Builds `<session_key>` with short_key, key_url, expires (ISO 8601, `timestamp` in Unix seconds) and queue_id. */
function sessionKeyXml(key: SessionKey): XmlElement {
  const view = sessionKeyView(key);
  return element(
    'session_key',
    { xmlns: COMMAND_NAMESPACE },
    element('short_key', {}, view.shortKey),
    element('key_url', {}, view.keyUrl),
    element('expires', { timestamp: view.expiresTimestamp }, view.expires),
    element('queue_id', {}, view.queueId),
    view.externalKey === '' ? undefined : element('external_key', {}, view.externalKey),
  );
}
