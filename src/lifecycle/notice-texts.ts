import { html, type Html } from '../shared/html.js';

export type Language = 'en' | 'fr';

export type NoticeKind = 'subscribed' | 'renewal_order' | 'reminder' | 'expired' | 'renewed' | 'suspended' | 'reinstated';

/** What a notice may speak of. Every string in it may come from a customer or staff, and is escaped in HTML. */
export interface NoticeFacts {
  providerName: string;
  supportEmail: string | null;
  consoleUrl: string | null;
  customer: string;
  username: string;
  offer: string;
  quota: number;
  termStart: number;
  termEnd: number;
  /** The term a renewal order is for. */
  nextTermEnd?: number;
  orderId?: number;
  /** Suspension reason, or the fee charged at a late reinstatement. */
  reason?: string;
  fee?: string | null;
}

export interface NoticeText {
  subject: string;
  text: string;
  html: string;
}

const day = (ms: number, lang: Language): string =>
  new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB', { dateStyle: 'long', timeZone: 'UTC' }).format(new Date(ms));
const time = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
/** The last day a term covers (its end is exclusive, at midnight); with a term of minutes, the instant itself. */
const lastDay = (end: number, lang: Language): string => (end % 86_400_000 === 0 ? day(end - 1, lang) : time(end));

const REASONS: Record<Language, Record<string, string>> = {
  en: {
    complaint: 'a complaint about mail sent with it',
    blocklist: 'a blocklist listing of a domain it sends from',
    bounces: 'too many of its recipients failed',
    expired: 'the subscription ended without a validated renewal',
    manual: 'a decision of our staff',
  },
  fr: {
    complaint: 'une plainte concernant un message envoyé avec cet identifiant',
    blocklist: "l'inscription sur une liste de blocage d'un domaine expéditeur",
    bounces: "un taux d'échec trop élevé des destinataires",
    expired: "l'abonnement a pris fin sans renouvellement validé",
    manual: 'une décision de notre équipe',
  },
};

type Lines = { subject: string; paragraphs: string[] };

function lines(kind: NoticeKind, f: NoticeFacts, lang: Language): Lines {
  const s = f.supportEmail;
  const reason = REASONS[lang][f.reason ?? ''] ?? f.reason ?? '';
  if (lang === 'fr') {
    const contact = s ? `Contactez le support : ${s}.` : 'Contactez le support.';
    switch (kind) {
      case 'subscribed':
        return { subject: `Votre abonnement ${f.offer} est actif (${f.username})`, paragraphs: [`Votre abonnement « ${f.offer} » (${f.quota} messages par 24 heures) est actif du ${day(f.termStart, lang)} au ${lastDay(f.termEnd, lang)} pour l'identifiant ${f.username}.`, 'Vos paramètres techniques figurent dans la fiche jointe.'] };
      case 'renewal_order':
        return { subject: `Renouvellement de votre abonnement ${f.offer} (${f.username})`, paragraphs: [`Votre abonnement « ${f.offer} » pour l'identifiant ${f.username} prend fin le ${lastDay(f.termEnd, lang)}. Le renouvellement n'est pas automatique.`, `Le bon de commande n° ${f.orderId} couvre la période suivante, jusqu'au ${lastDay(f.nextTermEnd ?? f.termEnd, lang)}. Sans validation avant la fin, le service sera suspendu.`] };
      case 'reminder':
        return { subject: `Rappel : votre abonnement ${f.offer} prend fin le ${lastDay(f.termEnd, lang)}`, paragraphs: [`Le bon de commande n° ${f.orderId} pour l'identifiant ${f.username} n'est pas encore validé. Sans validation avant le ${lastDay(f.termEnd, lang)}, le service sera suspendu.`, contact] };
      case 'expired':
        return { subject: `Votre abonnement ${f.offer} a pris fin (${f.username})`, paragraphs: [`Votre abonnement pour l'identifiant ${f.username} a pris fin sans renouvellement validé : l'envoi est suspendu.`, `La validation du bon de commande n° ${f.orderId} rétablit le service immédiatement${f.fee ? `, avec des frais de remise en service de ${f.fee}` : ''}.`, contact] };
      case 'renewed':
        return { subject: `Votre abonnement ${f.offer} est renouvelé (${f.username})`, paragraphs: [`Le renouvellement pour l'identifiant ${f.username} est validé : nouvelle période jusqu'au ${lastDay(f.nextTermEnd ?? f.termEnd, lang)}, offre « ${f.offer} ».`] };
      case 'suspended':
        return { subject: `Envoi suspendu pour l'identifiant ${f.username}`, paragraphs: [`L'envoi avec l'identifiant ${f.username} est suspendu depuis le ${time(f.termStart)} : ${reason}.`, 'Les messages en file sont conservés et ne sont pas envoyés pendant la suspension.', contact] };
      case 'reinstated':
        return { subject: `Envoi rétabli pour l'identifiant ${f.username}`, paragraphs: [`L'envoi avec l'identifiant ${f.username} est rétabli depuis le ${time(f.termStart)}.${f.fee ? ` Frais facturés : ${f.fee}.` : ''}`] };
    }
  }
  const contact = s ? `Contact support: ${s}.` : 'Contact support.';
  switch (kind) {
    case 'subscribed':
      return { subject: `Your ${f.offer} subscription is active (${f.username})`, paragraphs: [`Your "${f.offer}" subscription (${f.quota} messages per 24 hours) runs from ${day(f.termStart, lang)} to ${lastDay(f.termEnd, lang)} for the username ${f.username}.`, 'Your technical parameters are in the attached sheet.'] };
    case 'renewal_order':
      return { subject: `Renewal of your ${f.offer} subscription (${f.username})`, paragraphs: [`Your "${f.offer}" subscription for the username ${f.username} ends on ${lastDay(f.termEnd, lang)}. Renewal is not automatic.`, `Renewal order no. ${f.orderId} covers the next term, to ${lastDay(f.nextTermEnd ?? f.termEnd, lang)}. Unless it is validated before the end date, the service will be suspended.`] };
    case 'reminder':
      return { subject: `Reminder: your ${f.offer} subscription ends on ${lastDay(f.termEnd, lang)}`, paragraphs: [`Renewal order no. ${f.orderId} for the username ${f.username} is not validated yet. Unless it is validated before ${lastDay(f.termEnd, lang)}, the service will be suspended.`, contact] };
    case 'expired':
      return { subject: `Your ${f.offer} subscription has ended (${f.username})`, paragraphs: [`Your subscription for the username ${f.username} ended without a validated renewal: sending is suspended.`, `Validating renewal order no. ${f.orderId} restores the service at once${f.fee ? `, with a late reinstatement fee of ${f.fee}` : ''}.`, contact] };
    case 'renewed':
      return { subject: `Your ${f.offer} subscription is renewed (${f.username})`, paragraphs: [`The renewal for the username ${f.username} is validated: the new term runs to ${lastDay(f.nextTermEnd ?? f.termEnd, lang)}, offer "${f.offer}".`] };
    case 'suspended':
      return { subject: `Sending suspended for the username ${f.username}`, paragraphs: [`Sending with the username ${f.username} is suspended since ${time(f.termStart)}: ${reason}.`, 'Queued mail is kept and not sent while the suspension lasts.', contact] };
    case 'reinstated':
      return { subject: `Sending restored for the username ${f.username}`, paragraphs: [`Sending with the username ${f.username} is restored since ${time(f.termStart)}.${f.fee ? ` Fees charged: ${f.fee}.` : ''}`] };
  }
}

/** A notice in the customer's language, as plain text and as HTML saying the same. */
export function noticeText(kind: NoticeKind, facts: NoticeFacts, lang: Language): NoticeText {
  const { subject, paragraphs } = lines(kind, facts, lang);
  const greeting = lang === 'fr' ? `Bonjour ${facts.customer},` : `Hello ${facts.customer},`;
  const console = facts.consoleUrl ? (lang === 'fr' ? `Console : ${facts.consoleUrl}` : `Console: ${facts.consoleUrl}`) : null;
  const signature = `-- \n${facts.providerName}`;
  const text = [greeting, ...paragraphs, ...(console ? [console] : []), signature].join('\n\n') + '\n';
  const body: Html = html`<!doctype html><html lang="${lang}"><body style="font-family:sans-serif;line-height:1.5">
<p>${greeting}</p>
${paragraphs.map((p) => html`<p>${p}</p>`)}
${facts.consoleUrl ? html`<p><a href="${facts.consoleUrl}">${facts.consoleUrl}</a></p>` : ''}
<p style="color:#666">${facts.providerName}</p>
</body></html>`;
  return { subject, text, html: body.text };
}
