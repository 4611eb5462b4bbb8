import { Packet, type Resource } from 'dns2';
import { canonicalName, isInside, type Zone } from './zone.js';

/** TTL of every record the cluster DNS server sends, short so that record changes reach clients within about a second. */
export const DEFAULT_RECORD_TTL_SECONDS = 1;

/** Response codes (RFC 1035 section 4.1.1). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const OPCODE_QUERY = 0;
/** UDP payload size this server advertises in its EDNS OPT record (the DNS flag day 2020 value). */
export const EDNS_UDP_PAYLOAD_BYTES = 1232;

/** SOA timers. The simulator never transfers zones, so only `minimum` (the negative-answer TTL) matters. */
const SOA_REFRESH_SECONDS = 3600;
const SOA_RETRY_SECONDS = 600;
const SOA_EXPIRE_SECONDS = 86400;

/** What the server knows when it answers one query. */
export interface AnswerContext {
  zone: Zone;
  /** Source address of the query, which selects the view. */
  clientAddress: string | undefined;
  ttlSeconds: number;
  /** SOA serial, raised on every zone change. */
  serial: number;
}

/** Outcome of one query, for logs and statistics. */
export interface AnswerSummary {
  name: string;
  type: number;
  rcode: number;
  answers: number;
  view: string | undefined;
}

function soaRecord(zone: Zone, context: AnswerContext): Resource {
  return new Packet.Resource({
    name: zone.origin,
    type: Packet.TYPE.SOA,
    class: Packet.CLASS.IN,
    ttl: context.ttlSeconds,
    primary: `ns.${zone.origin}`,
    admin: `hostmaster.${zone.origin}`,
    serial: context.serial,
    refresh: SOA_REFRESH_SECONDS,
    retry: SOA_RETRY_SECONDS,
    expiration: SOA_EXPIRE_SECONDS,
    minimum: context.ttlSeconds,
  });
}

function aRecords(name: string, addresses: string[], ttl: number): Resource[] {
  return addresses.map((address) => new Packet.Resource({ name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl, address }));
}

/** Adds the SRV records of `name` and, in the additional section, the A records of targets inside the zone. */
function addSrvRecords(response: Packet, name: string, canonical: string, context: AnswerContext, view: string | undefined): void {
  const { zone, ttlSeconds } = context;
  const records = zone.lookup(canonical, view);
  for (const target of records.srv) {
    response.answers.push(
      new Packet.Resource({ name, type: Packet.TYPE.SRV, class: Packet.CLASS.IN, ttl: ttlSeconds, priority: target.priority, weight: target.weight, port: target.port, target: target.target }),
    );
  }

  const targets = new Set(records.srv.map((target) => canonicalName(target.target)));
  for (const target of targets) {
    if (!isInside(target, zone.origin)) continue;
    response.additionals.push(...aRecords(target, zone.lookup(target, view).a, ttlSeconds));
  }
}

function requestHasEdns(request: Packet): boolean {
  return request.additionals.some((record) => record?.type === Packet.TYPE.EDNS);
}

/**
 * Builds the authoritative response to one request. Names inside the zone get
 * their records, NXDOMAIN when absent, or NOERROR with no records (plus the SOA
 * for negative caching) when the name exists without records of that type.
 * Names outside the zone get REFUSED because the server never recurses or forwards.
 */
export function answerQuery(request: Packet, context: AnswerContext): { response: Packet; summary: AnswerSummary } {
  const response = Packet.createResponseFromRequest(request);
  response.header.ra = 0;
  if (requestHasEdns(request)) {
    const opt = Packet.Resource.EDNS([]);
    opt.class = EDNS_UDP_PAYLOAD_BYTES;
    response.additionals.push(opt);
  }

  const question = request.questions[0];
  const summary: AnswerSummary = { name: question?.name ?? '', type: question?.type ?? 0, rcode: RCODE.NOERROR, answers: 0, view: undefined };
  const finish = (rcode: number): { response: Packet; summary: AnswerSummary } => {
    response.header.rcode = rcode;
    summary.rcode = rcode;
    summary.answers = response.answers.length;
    return { response, summary };
  };

  if (request.header.opcode !== OPCODE_QUERY) return finish(RCODE.NOTIMP);
  if (question === undefined || request.questions.length !== 1 || typeof question.name !== 'string') return finish(RCODE.FORMERR);

  const { zone } = context;
  const canonical = canonicalName(question.name);
  const classOk = question.class === Packet.CLASS.IN || question.class === Packet.CLASS.ANY;
  if (!classOk || !isInside(canonical, zone.origin)) return finish(RCODE.REFUSED);

  response.header.aa = 1;
  const view = zone.selectView(context.clientAddress);
  summary.view = view;
  const records = zone.lookup(canonical, view);
  if (!records.exists) {
    response.authorities.push(soaRecord(zone, context));
    return finish(RCODE.NXDOMAIN);
  }

  const type = question.type;
  if (type === Packet.TYPE.A || type === Packet.TYPE.ANY) response.answers.push(...aRecords(question.name, records.a, context.ttlSeconds));
  if (type === Packet.TYPE.SRV || type === Packet.TYPE.ANY) addSrvRecords(response, question.name, canonical, context, view);
  if ((type === Packet.TYPE.SOA || type === Packet.TYPE.ANY) && canonical === zone.origin) response.answers.push(soaRecord(zone, context));

  if (response.answers.length === 0) response.authorities.push(soaRecord(zone, context));
  return finish(RCODE.NOERROR);
}
