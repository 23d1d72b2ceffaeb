import type { AttemptRecord } from '../store/delivery-records.js';

/** One delivery attempt as operators read it, in the log and in `relais queue show --json` alike. */
export function attemptView(a: AttemptRecord) {
  return {
    at: new Date(a.at).toISOString(),
    message_id: a.messageId,
    domain: a.domain,
    recipients: a.recipients,
    mx: a.mx,
    remote_ip: a.remoteIp,
    source_ip: a.sourceIp,
    tls: a.tlsVersion,
    cipher: a.tlsCipher,
    reply: a.reply,
    outcome: a.outcome,
  };
}
