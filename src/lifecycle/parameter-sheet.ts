import fs from 'node:fs';
import PDFDocument from 'pdfkit';
import type { Language } from './notice-texts.js';

/** Everything a customer needs to use the service, as the sheet prints it. */
export interface SheetFacts {
  providerName: string;
  supportEmail: string | null;
  consoleUrl: string | null;
  customer: string;
  username: string;
  server: string;
  ports: { port: number; tls: string }[];
  /** Total of the credential's plans now. */
  quota: number;
  /** The subscriptions running now (several stack). */
  subscriptions: { offer: string; quota: number; termStart: number; termEnd: number }[];
  spfInclude: string;
  dkim: { dnsName: string; txt: string }[];
}

// Unicode names (customers, domains) need a Unicode font: DejaVu where the system has it, else the PDF's own
// Helvetica, which covers Western European text.
const UNICODE_FONTS = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'] as const;

const LABELS: Record<Language, Record<string, string>> = {
  en: {
    title: 'Technical parameter sheet',
    account: 'Account',
    customer: 'Customer',
    username: 'SMTP username',
    password: 'SMTP password',
    passwordText: 'given to you when the service was set up; not printed here. Make a new one at any time in the console (home page, the credential\'s "New SMTP password" button).',
    server: 'Outgoing server (SMTP)',
    serverName: 'Server name',
    ports: 'Ports',
    auth: 'Authentication',
    authText: 'PLAIN or LOGIN, with the username and password above, after TLS',
    subscription: 'Subscription',
    offer: 'Offer',
    quota: 'Sending quota',
    quotaText: 'recipients per sliding 24 hours',
    term: 'Term',
    dns: 'DNS records for your sender domains',
    spf: 'SPF: add to the TXT record of each sender domain',
    dkim: 'DKIM: publish these TXT records',
    noDkim: 'No DKIM key yet: ask support for one per sender domain.',
    help: 'Help',
    console: 'Console',
    support: 'Support',
    implicit: 'implicit TLS',
  },
  fr: {
    title: 'Fiche de paramètres techniques',
    account: 'Compte',
    customer: 'Client',
    username: "Nom d'utilisateur SMTP",
    password: 'Mot de passe SMTP',
    passwordText: "remis à la mise en place du service ; il n'est pas imprimé ici. Vous pouvez en créer un nouveau à tout moment dans la console (page d'accueil, bouton « New SMTP password » de l'identifiant).",
    server: "Serveur d'envoi (SMTP)",
    serverName: 'Nom du serveur',
    ports: 'Ports',
    auth: 'Authentification',
    authText: "PLAIN ou LOGIN, avec le nom d'utilisateur et le mot de passe ci-dessus, après TLS",
    subscription: 'Abonnement',
    offer: 'Offre',
    quota: "Quota d'envoi",
    quotaText: 'destinataires sur 24 heures glissantes',
    term: 'Période',
    dns: "Enregistrements DNS de vos domaines d'envoi",
    spf: "SPF : à ajouter à l'enregistrement TXT de chaque domaine d'envoi",
    dkim: 'DKIM : publiez ces enregistrements TXT',
    noDkim: "Pas encore de clé DKIM : demandez-en une par domaine d'envoi au support.",
    help: 'Aide',
    console: 'Console',
    support: 'Support',
    implicit: 'TLS implicite',
  },
};

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** The sheet as a PDF. It never holds the password: see the password line for how the customer gets one. */
export function parameterSheet(facts: SheetFacts, lang: Language): Promise<Buffer> {
  const l = LABELS[lang];
  const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: `${l.title} - ${facts.username}`, Author: facts.providerName } });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const unicode = UNICODE_FONTS.every((f) => fs.existsSync(f));
  const regular = unicode ? UNICODE_FONTS[0] : 'Helvetica';
  const bold = unicode ? UNICODE_FONTS[1] : 'Helvetica-Bold';
  const heading = (text: string) => doc.moveDown(0.8).font(bold).fontSize(13).fillColor('#1d2330').text(text).moveDown(0.3);
  const row = (label: string, value: string) => {
    doc.font(bold).fontSize(10).fillColor('#444').text(`${label}: `, { continued: true }).font(regular).fillColor('#000').text(value);
  };

  doc.font(bold).fontSize(20).text(facts.providerName);
  doc.font(regular).fontSize(14).fillColor('#444').text(l.title as string).fillColor('#000');

  heading(l.account as string);
  row(l.customer as string, facts.customer);
  row(l.username as string, facts.username);
  row(l.password as string, l.passwordText as string);

  heading(l.server as string);
  row(l.serverName as string, facts.server);
  row(l.ports as string, facts.ports.map((p) => `${p.port} (${p.tls === 'implicit TLS' ? l.implicit : p.tls})`).join(', '));
  row(l.auth as string, l.authText as string);

  heading(l.subscription as string);
  row(l.quota as string, `${facts.quota} ${l.quotaText}`);
  for (const sub of facts.subscriptions) row(l.offer as string, `${sub.offer} (${sub.quota}), ${l.term}: ${day(sub.termStart)} - ${day(sub.termEnd - 1)}`);

  heading(l.dns as string);
  row(l.spf as string, facts.spfInclude);
  if (facts.dkim.length === 0) doc.font(regular).fontSize(10).text(l.noDkim as string);
  else {
    doc.font(bold).fontSize(10).text(l.dkim as string);
    for (const record of facts.dkim) doc.font(regular).fontSize(8).text(`${record.dnsName} TXT "${record.txt}"`).moveDown(0.2);
  }

  heading(l.help as string);
  if (facts.consoleUrl) row(l.console as string, facts.consoleUrl);
  if (facts.supportEmail) row(l.support as string, facts.supportEmail);
  doc.end();
  return done;
}
