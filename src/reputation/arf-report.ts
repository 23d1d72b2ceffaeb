import {
  decodeBody,
  fieldValue,
  fieldValues,
  headerFields,
  multipartParts,
  normalizeMessageId,
  parseContentType,
  splitEntity,
  type Entity,
  type HeaderField,
} from '../shared/mime.js';

/** What an ARF feedback report (RFC 5965) says, and what of the reported message identifies it here. */
export interface ArfReport {
  /** abuse, fraud, virus, other, not-spam, auth-failure (RFC 6591)... lower-case. */
  feedbackType: string;
  userAgent: string | null;
  version: string | null;
  originalMailFrom: string | null;
  originalRcptTo: string[];
  arrivalDate: string | null;
  sourceIp: string | null;
  reportedDomain: string | null;
  /** The report carried the reported message or its header (the third part). */
  hasOriginal: boolean;
  /** Queue ids from the Received fields Relais wrote, newest first. */
  queueIds: string[];
  /** The reported message's Message-ID, `<...>`. */
  messageId: string | null;
}

export type ArfParse = { ok: true; report: ArfReport } | { ok: false; error: string };

/** Nested reports (a report forwarded as an attachment) are followed this deep, no deeper. */
const MAX_DEPTH = 5;
/** Stored field values are cut here: a report is written by strangers. */
const MAX_FIELD = 998;

/**
 * "by HOST (Relais) with ESMTPSA id QUEUEID" in the Received field that src/submission/message-headers.ts writes;
 * a queue id is 16 Crockford base-32 characters (src/queue/queue-id.ts).
 */
const RELAIS_RECEIVED = /\bby\s+\S+\s+\(Relais\)\s+with\s+[A-Za-z0-9]+\s+id\s+([0-9A-HJKMNP-TV-Z]{16})\b/;

/**
 * Reads an ARF report: the top-level entity, or a multipart/report found inside it (some feedback loops forward
 * the report as an attachment). Answers why when the input is not a report.
 */
export function parseArfReport(raw: Buffer): ArfParse {
  if (raw.length === 0 || raw.toString('latin1').trim() === '') return { ok: false, error: 'the report is empty' };
  const parts = findReportParts(splitEntity(raw), 0);
  if (!parts) {
    return {
      ok: false,
      error: 'not an ARF feedback report (RFC 5965): no multipart/report part holds a message/feedback-report part',
    };
  }
  const feedback = headerFields(decoded(parts.feedback).toString('latin1'));
  const feedbackType = fieldValue(feedback, 'feedback-type');
  if (!feedbackType) return { ok: false, error: 'the message/feedback-report part has no Feedback-Type field (RFC 5965 3.1)' };
  const original = parts.original ? originalFields(parts.original) : [];
  const received = fieldValues(original, 'received');
  // A trace field is a few hundred characters; a longer one is not Relais's and is not searched.
  const queueIds = received
    .filter((value) => value.length <= 2048)
    .map((value) => RELAIS_RECEIVED.exec(value)?.[1])
    .filter((id): id is string => id !== undefined);
  return {
    ok: true,
    report: {
      feedbackType: cut(feedbackType.toLowerCase()) as string,
      userAgent: cut(fieldValue(feedback, 'user-agent')),
      version: cut(fieldValue(feedback, 'version')),
      originalMailFrom: cut(fieldValue(feedback, 'original-mail-from')),
      originalRcptTo: fieldValues(feedback, 'original-rcpt-to').slice(0, 100).map((v) => cut(v) as string),
      arrivalDate: cut(fieldValue(feedback, 'arrival-date') ?? fieldValue(feedback, 'received-date')),
      sourceIp: cut(fieldValue(feedback, 'source-ip')),
      reportedDomain: cut(fieldValue(feedback, 'reported-domain')),
      hasOriginal: parts.original !== null,
      queueIds: [...new Set(queueIds)],
      messageId: cut(normalizeMessageId(fieldValue(original, 'message-id'))),
    },
  };
}

interface ReportParts {
  feedback: Entity;
  /** message/rfc822 or text/rfc822-headers. */
  original: Entity | null;
}

function findReportParts(entity: Entity, depth: number): ReportParts | null {
  if (depth > MAX_DEPTH) return null;
  const type = parseContentType(fieldValue(entity.fields, 'content-type'));
  if (type.type === 'message/rfc822') return findReportParts(splitEntity(decoded(entity)), depth + 1);
  if (!type.type.startsWith('multipart/') || !type.params.boundary) return null;
  const children = multipartParts(entity.body, type.params.boundary).map(splitEntity);
  const typeOf = (child: Entity) => parseContentType(fieldValue(child.fields, 'content-type')).type;
  // report-type=feedback-report is not required: some feedback loops leave it out, the part itself is what counts.
  const feedback = children.find((child) => typeOf(child) === 'message/feedback-report');
  if (feedback) {
    const original = children.find((child) => ['message/rfc822', 'text/rfc822-headers'].includes(typeOf(child))) ?? null;
    return { feedback, original };
  }
  for (const child of children) {
    const found = findReportParts(child, depth + 1);
    if (found) return found;
  }
  return null;
}

function decoded(entity: Entity): Buffer {
  return decodeBody(entity.body, fieldValue(entity.fields, 'content-transfer-encoding'));
}

/** The reported message's header fields, from a whole message or a header block alone. */
function originalFields(part: Entity): HeaderField[] {
  const body = decoded(part);
  const type = parseContentType(fieldValue(part.fields, 'content-type')).type;
  return type === 'text/rfc822-headers' ? headerFields(body.toString('latin1')) : splitEntity(body).fields;
}

function cut(value: string | null): string | null {
  if (value === null) return null;
  // Control characters never reach the store: they would act on a terminal reading `relais complaints`.
  const clean = value.replace(/[\x00-\x1f\x7f]/g, ' ').trim();
  return clean.length > MAX_FIELD ? clean.slice(0, MAX_FIELD) : clean;
}
