import type { Dialect, SqlDatabase } from './sql.js';

/**
 * Versioned schema changes, applied in order at start. Never edit a migration that has shipped: add one.
 * `{id}`, `{int}` and `{blob}` stand for the column types that differ between SQLite and PostgreSQL.
 */
const MIGRATIONS: { version: number; name: string; sql: string; postgresOnly?: boolean }[] = [
  {
    version: 1,
    name: 'accounts, quota, queue',
    sql: `
CREATE TABLE customers (
  id {id},
  name TEXT NOT NULL UNIQUE,
  email TEXT NOT NULL,
  created_at {int} NOT NULL
);
CREATE TABLE credentials (
  id {id},
  customer_id {int} NOT NULL REFERENCES customers(id),
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  enabled {int} NOT NULL DEFAULT 1,
  hold_reason TEXT,
  hold_since {int},
  created_at {int} NOT NULL,
  updated_at {int} NOT NULL
);
CREATE TABLE plans (
  id {id},
  credential_id {int} NOT NULL REFERENCES credentials(id),
  quota {int} NOT NULL,
  starts_at {int} NOT NULL,
  ends_at {int} NOT NULL,
  created_at {int} NOT NULL
);
CREATE INDEX plans_by_credential ON plans(credential_id, ends_at);
CREATE TABLE quota_usage (
  credential_id {int} NOT NULL,
  bucket_start {int} NOT NULL,
  units {int} NOT NULL,
  PRIMARY KEY (credential_id, bucket_start)
);
CREATE TABLE quota_reservations (
  id {id},
  credential_id {int} NOT NULL,
  units {int} NOT NULL,
  expires_at {int} NOT NULL
);
CREATE INDEX quota_reservations_by_credential ON quota_reservations(credential_id, expires_at);
CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  credential_id {int},
  kind TEXT NOT NULL,
  mail_from TEXT NOT NULL,
  envid TEXT,
  ret TEXT,
  size {int} NOT NULL,
  client_ip TEXT,
  created_at {int} NOT NULL,
  retry_every {int} NOT NULL,
  give_up_at {int} NOT NULL,
  delay_notice_at {int} NOT NULL,
  delay_notice_sent {int} NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_credential ON messages(credential_id, created_at);
CREATE TABLE message_bodies (
  message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  body {blob} NOT NULL
);
CREATE TABLE recipients (
  id {id},
  message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  domain TEXT NOT NULL,
  orcpt TEXT,
  notify TEXT,
  state TEXT NOT NULL,
  attempts {int} NOT NULL DEFAULT 0,
  next_attempt_at {int} NOT NULL,
  last_attempt_at {int},
  last_reply TEXT,
  lease_owner TEXT,
  lease_until {int},
  updated_at {int} NOT NULL
);
CREATE INDEX recipients_due ON recipients(state, next_attempt_at);
CREATE INDEX recipients_by_message ON recipients(message_id);
`,
  },
  {
    version: 2,
    name: 'delivery: attempts, IP avoidance, recipient outcome details',
    sql: `
CREATE TABLE delivery_attempts (
  id {id},
  message_id TEXT NOT NULL,
  domain TEXT NOT NULL,
  recipients TEXT NOT NULL,
  delivered {int} NOT NULL DEFAULT 0,
  at {int} NOT NULL,
  mx TEXT,
  remote_ip TEXT,
  source_ip TEXT,
  tls_version TEXT,
  tls_cipher TEXT,
  reply TEXT NOT NULL,
  outcome TEXT NOT NULL
);
CREATE INDEX delivery_attempts_by_message ON delivery_attempts(message_id, at);
CREATE INDEX delivery_attempts_by_source ON delivery_attempts(source_ip, at);
CREATE TABLE ip_avoidance (
  source_ip TEXT NOT NULL,
  destination TEXT NOT NULL,
  until_at {int} NOT NULL,
  reason TEXT,
  PRIMARY KEY (source_ip, destination)
);
ALTER TABLE recipients ADD COLUMN remote_mta TEXT;
ALTER TABLE recipients ADD COLUMN status TEXT;
ALTER TABLE messages ADD COLUMN finished_at {int};
CREATE INDEX messages_delay_notice ON messages(delay_notice_sent, delay_notice_at);
CREATE INDEX messages_finished ON messages(finished_at)
`,
  },
  {
    version: 3,
    name: 'quota reservation in one round trip (PostgreSQL)',
    postgresOnly: true,
    // Inside a PL/pgSQL function each statement takes a fresh snapshot, so the sums read after the row lock
    // include everything committed before it was granted: as exact as the multi-statement transaction, in one
    // round trip. The reservation is not worth a WAL flush (losing it only frees units early).
    sql: `
CREATE OR REPLACE FUNCTION relais_reserve_quota(p_credential BIGINT, p_units BIGINT, p_now BIGINT, p_count_from BIGINT, p_expires BIGINT, p_reservation BIGINT)
RETURNS TABLE (granted BOOLEAN, reservation_id BIGINT, quota BIGINT, used BIGINT, held BIGINT)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_quota BIGINT;
  v_used BIGINT;
  v_held BIGINT;
  v_id BIGINT := p_reservation;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM 1 FROM credentials WHERE id = p_credential FOR UPDATE;
  SELECT COALESCE((SELECT SUM(p.quota) FROM plans p WHERE p.credential_id = p_credential AND p.starts_at <= p_now AND p.ends_at > p_now), 0),
         COALESCE((SELECT SUM(u.units) FROM quota_usage u WHERE u.credential_id = p_credential AND u.bucket_start > p_count_from), 0),
         COALESCE((SELECT SUM(r.units) FROM quota_reservations r WHERE r.credential_id = p_credential AND r.expires_at > p_now), 0)
    INTO v_quota, v_used, v_held;
  IF v_used + v_held + p_units > v_quota THEN
    RETURN QUERY SELECT false, NULL::BIGINT, v_quota, v_used, v_held;
    RETURN;
  END IF;
  IF v_id IS NOT NULL THEN
    UPDATE quota_reservations SET units = units + p_units, expires_at = p_expires WHERE id = v_id;
    IF NOT FOUND THEN
      v_id := NULL;
    END IF;
  END IF;
  IF v_id IS NULL THEN
    INSERT INTO quota_reservations (credential_id, units, expires_at) VALUES (p_credential, p_units, p_expires) RETURNING id INTO v_id;
  END IF;
  RETURN QUERY SELECT true, v_id, v_quota, v_used, v_held + p_units;
END
$fn$
`,
  },
  {
    version: 4,
    name: 'queue at scale: partial index of due recipients, leased recipients, attempts by time; retry of a leased recipient',
    // The claim walks recipients_pending_due in next_attempt_at order and stops at its LIMIT, instead of sorting
    // every due row; delivered and failed rows (most of a busy queue) are not in it at all.
    sql: `
CREATE INDEX recipients_pending_due ON recipients(next_attempt_at) WHERE state IN ('queued', 'deferred');
CREATE INDEX recipients_leased ON recipients(lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX delivery_attempts_by_at ON delivery_attempts(at);
ALTER TABLE recipients ADD COLUMN retry_asked {int} NOT NULL DEFAULT 0
`,
  },
  {
    version: 5,
    name: 'reputation: credential history (suspensions, reinstatements, complaints, listings, charges)',
    sql: `
CREATE TABLE credential_events (
  id {id},
  credential_id {int} NOT NULL REFERENCES credentials(id),
  at {int} NOT NULL,
  kind TEXT NOT NULL,
  reason TEXT,
  actor TEXT NOT NULL,
  note TEXT,
  detail TEXT
);
CREATE INDEX credential_events_by_credential ON credential_events(credential_id, at);
CREATE INDEX credential_events_by_at ON credential_events(at)
`,
  },
  {
    version: 6,
    name: 'reputation: mail held while its credential is suspended (held state of recipients, hold and release times)',
    // held_at: since when the message's mail is held (its give-up and delay-notice clocks are stopped); released_at:
    // when staff last released it, so a suspension still running does not take it back.
    sql: `
ALTER TABLE messages ADD COLUMN held_at {int};
ALTER TABLE messages ADD COLUMN released_at {int}
`,
  },
  {
    version: 7,
    name: 'blocklists: outbound address listings and their history, sender domains per credential, credential pool pinning',
    // One row per (address or domain, zone) holds the current answer; the state changes by a conditional UPDATE,
    // so two nodes checking at once record one transition, not two.
    sql: `
CREATE TABLE ip_listings (
  address TEXT NOT NULL,
  zone TEXT NOT NULL,
  listed {int} NOT NULL DEFAULT 0,
  code TEXT,
  reason TEXT,
  since {int},
  checked_at {int} NOT NULL,
  error TEXT,
  PRIMARY KEY (address, zone)
);
CREATE TABLE ip_events (
  id {id},
  address TEXT NOT NULL,
  zone TEXT NOT NULL,
  at {int} NOT NULL,
  kind TEXT NOT NULL,
  code TEXT,
  reason TEXT
);
CREATE INDEX ip_events_by_address ON ip_events(address, at);
CREATE TABLE domain_listings (
  domain TEXT NOT NULL,
  zone TEXT NOT NULL,
  listed {int} NOT NULL DEFAULT 0,
  code TEXT,
  reason TEXT,
  since {int},
  checked_at {int} NOT NULL,
  error TEXT,
  PRIMARY KEY (domain, zone)
);
CREATE TABLE sender_domains (
  credential_id {int} NOT NULL REFERENCES credentials(id),
  domain TEXT NOT NULL,
  first_used_at {int} NOT NULL,
  last_used_at {int} NOT NULL,
  PRIMARY KEY (credential_id, domain)
);
CREATE INDEX sender_domains_by_domain ON sender_domains(domain);
CREATE TABLE credential_pool_pins (
  credential_id {int} NOT NULL REFERENCES credentials(id),
  address TEXT NOT NULL,
  PRIMARY KEY (credential_id, address)
)
`,
  },
  {
    version: 8,
    name: 'bounces: notices attributed to the credential whose mail caused them; outcomes per credential for the bounce rate',
    // credential_outcomes holds counts, not rows: the rate of a credential over 24 h is a sum over at most 1440
    // rows of its primary key, however much it sends. Counts land in the minute its message was accepted.
    sql: `
ALTER TABLE messages ADD COLUMN on_behalf_of_credential {int};
CREATE INDEX messages_on_behalf_of ON messages(on_behalf_of_credential, created_at) WHERE on_behalf_of_credential IS NOT NULL;
CREATE TABLE credential_outcomes (
  credential_id {int} NOT NULL,
  bucket_start {int} NOT NULL,
  attempted {int} NOT NULL,
  failed {int} NOT NULL,
  PRIMARY KEY (credential_id, bucket_start)
)
`,
  },
  {
    version: 9,
    name: 'complaints: API tokens, ARF reports, Message-ID of queued messages',
    sql: `
CREATE TABLE api_tokens (
  id {id},
  name TEXT NOT NULL,
  customer_id {int} REFERENCES customers(id),
  token_hash TEXT NOT NULL UNIQUE,
  created_at {int} NOT NULL,
  last_used_at {int},
  revoked_at {int}
);
CREATE TABLE complaints (
  id {id},
  received_at {int} NOT NULL,
  channel TEXT NOT NULL,
  submitted_by TEXT NOT NULL,
  recipients TEXT,
  status TEXT NOT NULL,
  feedback_type TEXT,
  user_agent TEXT,
  original_mail_from TEXT,
  original_rcpt_to TEXT,
  arrival_date TEXT,
  source_ip TEXT,
  reported_domain TEXT,
  original_message_id TEXT,
  queue_id TEXT,
  credential_id {int} REFERENCES credentials(id),
  matched_by TEXT,
  error TEXT,
  report_sha256 TEXT NOT NULL,
  report {blob} NOT NULL
);
CREATE INDEX complaints_by_at ON complaints(received_at);
CREATE INDEX complaints_by_credential ON complaints(credential_id, received_at);
CREATE INDEX complaints_by_report ON complaints(report_sha256);
ALTER TABLE messages ADD COLUMN header_message_id TEXT;
CREATE INDEX messages_by_header_message_id ON messages(header_message_id)
`,
  },
  {
    version: 10,
    name: 'DKIM signing keys, encrypted at rest (one per sender domain)',
    sql: `
CREATE TABLE dkim_keys (
  id {id},
  domain TEXT NOT NULL UNIQUE,
  selector TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  public_key TEXT NOT NULL,
  private_key_sealed TEXT NOT NULL,
  created_at {int} NOT NULL
)
`,
  },
  {
    version: 11,
    name: 'console: logins (staff or one customer), web sessions, and the audit log of staff actions',
    // Web sessions are in the store so that any node behind a load balancer serves them; only the SHA-256 of the
    // session id is kept, so a copy of the database does not hand out live sessions.
    sql: `
CREATE TABLE logins (
  id {id},
  email TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  customer_id {int} REFERENCES customers(id),
  password_hash TEXT NOT NULL,
  created_at {int} NOT NULL,
  disabled_at {int},
  last_login_at {int}
);
CREATE TABLE web_sessions (
  id_hash TEXT PRIMARY KEY,
  login_id {int} NOT NULL REFERENCES logins(id),
  csrf_token TEXT NOT NULL,
  created_at {int} NOT NULL,
  expires_at {int} NOT NULL,
  client_ip TEXT
);
CREATE INDEX web_sessions_by_login ON web_sessions(login_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at);
CREATE TABLE audit_log (
  id {id},
  at {int} NOT NULL,
  actor TEXT NOT NULL,
  channel TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT,
  customer_id {int} REFERENCES customers(id),
  detail TEXT
);
CREATE INDEX audit_log_by_at ON audit_log(at)
`,
  },
  {
    version: 12,
    name: 'subscription lifecycle: subscriptions, renewal orders, notices sent once, customer language',
    // lifecycle_notices' unique key is what makes the lifecycle job idempotent: a notice is claimed in the same
    // transaction that queues its mail, so two runs (or two nodes) never send it twice.
    sql: `
CREATE TABLE subscriptions (
  id {id},
  credential_id {int} NOT NULL REFERENCES credentials(id),
  offer TEXT NOT NULL,
  quota {int} NOT NULL,
  price TEXT NOT NULL,
  term_start {int} NOT NULL,
  term_end {int} NOT NULL,
  next_offer TEXT,
  next_offer_requested_at {int},
  status TEXT NOT NULL,
  created_at {int} NOT NULL
);
CREATE INDEX subscriptions_by_credential ON subscriptions(credential_id);
CREATE INDEX subscriptions_by_end ON subscriptions(status, term_end);
CREATE TABLE renewal_orders (
  id {id},
  subscription_id {int} NOT NULL REFERENCES subscriptions(id),
  term_start {int} NOT NULL,
  term_end {int} NOT NULL,
  created_at {int} NOT NULL,
  offer TEXT,
  validated_at {int},
  validated_by TEXT,
  UNIQUE (subscription_id, term_start)
);
CREATE TABLE lifecycle_notices (
  subscription_id {int} NOT NULL REFERENCES subscriptions(id),
  kind TEXT NOT NULL,
  term_end {int} NOT NULL,
  sent_at {int} NOT NULL,
  queue_id TEXT,
  PRIMARY KEY (subscription_id, kind, term_end)
);
ALTER TABLE plans ADD COLUMN subscription_id {int};
ALTER TABLE customers ADD COLUMN language TEXT
`,
  },
  {
    version: 13,
    name: 'cluster: node registry, job leases, job runs',
    // Additive only: nodes of the previous version keep running beside it (they neither read nor write these).
    // job_leases' primary key with a conditional upsert is what lets one node at a time hold a job.
    sql: `
CREATE TABLE nodes (
  name TEXT PRIMARY KEY,
  roles TEXT NOT NULL,
  version TEXT NOT NULL,
  listen TEXT NOT NULL,
  outbound_ips TEXT NOT NULL,
  started_at {int} NOT NULL,
  heartbeat_at {int} NOT NULL,
  heartbeat_ms {int} NOT NULL,
  stopped_at {int},
  sessions {int} NOT NULL DEFAULT 0,
  deliveries {int} NOT NULL DEFAULT 0
);
CREATE TABLE job_leases (
  job TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at {int} NOT NULL
);
CREATE TABLE job_runs (
  id {id},
  job TEXT NOT NULL,
  node TEXT NOT NULL,
  started_at {int} NOT NULL,
  ended_at {int}
);
CREATE INDEX job_runs_by_start ON job_runs(started_at)
`,
  },
];

const TYPES: Record<Dialect, Record<string, string>> = {
  sqlite: { id: 'INTEGER PRIMARY KEY AUTOINCREMENT', int: 'INTEGER', blob: 'BLOB' },
  postgres: { id: 'BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY', int: 'BIGINT', blob: 'BYTEA' },
};

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

export async function migrate(db: SqlDatabase, now: number): Promise<number[]> {
  const types = TYPES[db.dialect];
  return db.transaction(
    async (tx) => {
      // Several nodes may start at once against one PostgreSQL: only one migrates, the others wait and see it done.
      if (tx.dialect === 'postgres') await tx.run('SELECT pg_advisory_xact_lock(727001)');
      await tx.run(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const done = new Set((await tx.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
      const newest = Math.max(0, ...done);
      if (newest > LATEST_SCHEMA_VERSION) {
        throw new Error(
          `the database schema is version ${newest} but this Relais knows only up to ${LATEST_SCHEMA_VERSION}: upgrade Relais`,
        );
      }
      const applied: number[] = [];
      for (const migration of MIGRATIONS) {
        if (done.has(migration.version)) continue;
        if (migration.postgresOnly && tx.dialect !== 'postgres') {
          await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [migration.version, migration.name, now]);
          applied.push(migration.version);
          continue;
        }
        const script = migration.sql.replace(/\{(\w+)\}/g, (_, name: string) => types[name] ?? `{${name}}`);
        // A function body has semicolons of its own: such a migration is one statement.
        const statements = migration.postgresOnly ? [script.trim()] : script.split(';').map((s) => s.trim()).filter(Boolean);
        for (const statement of statements) await tx.run(statement);
        await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [migration.version, migration.name, now]);
        applied.push(migration.version);
      }
      return applied;
    },
    { durable: true, unbounded: true },
  );
}
