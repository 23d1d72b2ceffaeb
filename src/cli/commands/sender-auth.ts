import type { Command } from 'commander';
import { InputError } from '../../accounts/validation.js';
import { normalizeDomain, viewOf } from '../../sender-auth/dkim-keys.js';
import { checkRelayDomain } from '../../sender-auth/domain-check.js';
import { secretKeyPath } from '../../sender-auth/secret-key.js';
import { planSpf, spfRootName } from '../../sender-auth/spf-record.js';
import { command, readConfig, withServices, type CommonOptions } from '../context.js';
import { isoOrNull, printJson, printLine, printTable, when } from '../output.js';

const quoted = (strings: string[]) => strings.map((s) => `"${s}"`).join(' ');

export function registerSenderAuthCommands(program: Command): void {
  command(program, 'spf', 'the SPF record(s) to publish for the relay, which customers include').action(async (options: CommonOptions) => {
    const config = readConfig(options);
    const plan = planSpf(spfRootName(config), config.outbound.ips.map((ip) => ip.address), config.hostname);
    if (options.json) {
      return printJson({
        include: `include:${plan.root}`,
        records: plan.records.map((r) => ({ name: r.name, type: 'TXT', value: r.value })),
        lookups: plan.lookups,
        customer_record: `v=spf1 include:${plan.root} ~all`,
      });
    }
    printLine(`Publish ${plan.records.length === 1 ? 'this TXT record' : `these ${plan.records.length} TXT records`} in the relay's DNS:`);
    for (const r of plan.records) printLine(`  ${r.name}. IN TXT "${r.value}"`);
    if (config.outbound.ips.length === 0) {
      printLine(`No outbound.ips configured: the system picks the source address, so the record names it through a:${config.hostname}; make that name's A/AAAA records the relay's public addresses, or list them in outbound.ips.`);
    }
    printLine(`Customers add include:${plan.root} to their domain's SPF record, for example "v=spf1 include:${plan.root} ~all".`);
    printLine(`It costs them ${plan.lookups} of the 10 DNS lookups SPF allows.`);
  });

  const domain = program.command('domain').description('customer sender domains: SPF, DKIM and DMARC readiness');
  command(domain, 'check <domain>', "check D's SPF (authorises the relay?), the DKIM key Relais holds for D, and D's DMARC policy; exit 0 only when all pass").action(
    async (name: string, options: CommonOptions) => {
      const target = normalizeDomain(name);
      const report = await withServices(options, ({ config, store }) => checkRelayDomain(config, store, target));
      if (options.json) printJson(report);
      else {
        for (const c of report.checks) {
          printLine(`${c.check.toUpperCase().padEnd(6)}${c.pass ? 'pass' : `FAIL (${c.verdict})`}: ${c.detail}`);
          if (c.action) printLine(`      to do: ${c.action}`);
        }
        printLine(report.pass ? `${target} is ready to send through the relay` : `${target} is not ready: see "to do" above`);
      }
      if (!report.pass) process.exitCode = 3;
    },
  );

  const dkim = program.command('dkim').description('DKIM keys of sender domains: mail whose From domain has one is signed');
  command(dkim, 'add <domain>', 'generate a key for a domain and print the TXT record to publish')
    .option('--selector <selector>', 'the selector (default relaisYYYYMM)')
    .option('--algorithm <algorithm>', 'rsa (2048 bits, default) or ed25519', 'rsa')
    .action(async (name: string, options: CommonOptions & { selector?: string; algorithm: string }) => {
      await withServices(options, async ({ dkim, config }) => {
        const { view, keyFileCreated } = await dkim.add(name, { selector: options.selector, algorithm: options.algorithm });
        if (options.json) {
          return printJson({ domain: view.domain, selector: view.selector, algorithm: view.algorithm, name: view.dnsName, type: 'TXT', value: view.txt, strings: view.txtStrings });
        }
        if (keyFileCreated) printLine(`secrets key file created: ${secretKeyPath(config)} (mode 0600); back it up with the store: without it the keys cannot be used`);
        printLine(`DKIM key added for ${view.domain} (${view.algorithm}, selector ${view.selector}). Publish this TXT record:`);
        printLine(`  ${view.dnsName}. IN TXT ${quoted(view.txtStrings)}`);
        printLine(`Mail with From: @${view.domain} is signed from now on (running relays within dkim.cache_ttl); check with "relais domain check ${view.domain}".`);
      });
    });
  command(dkim, 'list', 'the DKIM keys and the TXT record each needs').action(async (options: CommonOptions) => {
    await withServices(options, async ({ dkim }) => {
      const views = (await dkim.list()).map(viewOf);
      if (options.json) {
        return printJson(views.map((v) => ({ domain: v.domain, selector: v.selector, algorithm: v.algorithm, created_at: isoOrNull(v.createdAt), name: v.dnsName, value: v.txt, strings: v.txtStrings })));
      }
      printTable(['DOMAIN', 'SELECTOR', 'ALGORITHM', 'CREATED', 'TXT NAME'], views.map((v) => [v.domain, v.selector, v.algorithm, when(v.createdAt), v.dnsName]));
      for (const v of views) printLine(`${v.dnsName}. IN TXT ${quoted(v.txtStrings)}`);
    });
  });
  command(dkim, 'remove <domain>', "delete a domain's key: its mail is no longer signed (running relays within dkim.cache_ttl)").action(
    async (name: string, options: CommonOptions) => {
      await withServices(options, async ({ dkim }) => {
        const target = normalizeDomain(name);
        if (!(await dkim.remove(target))) throw new InputError(`${target} has no DKIM key ("relais dkim list" shows those that do)`);
        if (options.json) return printJson({ domain: target, removed: true });
        printLine(`DKIM key of ${target} removed; its TXT record can be withdrawn once mail signed with it has been delivered (a few days).`);
      });
    },
  );
}
