/**
 * Whether an error says the store could not be reached or could not finish the work right now (a restart, a
 * failover, a lost connection, a timeout, a lock), as opposed to a fault of the work itself (a constraint, a
 * bug). The first kind is worth the same work again once the store answers; the second would fail again.
 */
export function isStoreUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // Node's socket errors on the way to the server.
    if (NETWORK_CODES.has(code)) return true;
    // SQLite: another writer holds the lock beyond the busy timeout.
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return true;
    // PostgreSQL SQLSTATE: class 08 is a connection exception; the rest are listed.
    if (/^[0-9A-Z]{5}$/.test(code) && (code.startsWith('08') || PG_TRANSIENT.has(code))) return true;
  }
  // node-postgres reports its own connection troubles without a code.
  return PG_DRIVER_MESSAGES.some((pattern) => pattern.test(error.message));
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

const PG_TRANSIENT = new Set([
  '57P01', // admin_shutdown: the server is stopping (pg_ctl stop/restart)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up, or recovering
  '57014', // query_canceled: store.statement_timeout
  '25P03', // idle_in_transaction_session_timeout
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '25006', // read_only_sql_transaction: connected to a standby (the old primary after a switch)
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
]);

const PG_DRIVER_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /^Query read timeout/,
  /not queryable/,
  /^Client was closed and is not queryable/,
];
