import type { Logger } from '../log/logger.js';
import type { SystemMailer } from '../queue/system-mail.js';

export interface Alert {
  level: 'info' | 'warn' | 'error';
  /** The log line's `event` field, e.g. `ip_listed`. */
  event: string;
  fields: Record<string, unknown>;
  subject: string;
  text: string;
}

/**
 * What the operator must hear about: a log line always, and an e-mail to alerts.email through Relais's own
 * queue when one is set. Queueing the e-mail may fail (the store is down): that is logged, never thrown, so a
 * monitor's round goes on.
 */
export class OperatorAlerts {
  constructor(
    private readonly mailer: SystemMailer,
    private readonly to: string | undefined,
    private readonly logger: Logger,
  ) {}

  async raise(alert: Alert): Promise<void> {
    this.logger[alert.level]({ event: alert.event, ...alert.fields }, alert.subject);
    if (this.to === undefined) return;
    try {
      const id = await this.mailer.send({ to: [this.to], subject: `[Relais] ${alert.subject}`, text: alert.text });
      this.logger.info({ event: 'alert_mail_queued', alert: alert.event, message_id: id, to: this.to }, 'alert e-mail queued');
    } catch (error) {
      this.logger.error({ event: 'alert_mail_failed', alert: alert.event, error: (error as Error).message }, 'could not queue the alert e-mail; the log line above is the only trace');
    }
  }
}
