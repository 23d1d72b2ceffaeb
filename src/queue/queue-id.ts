import crypto from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * Queue ids sort by acceptance time (10 characters of milliseconds) and are unique across nodes (6 random
 * characters, 30 bits per millisecond), so an id alone is enough to find a message anywhere.
 */
export function newQueueId(at: number): string {
  let time = '';
  let t = Math.floor(at);
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = crypto.randomBytes(6);
  let tail = '';
  for (const byte of random) tail += CROCKFORD[byte % 32];
  return time + tail;
}
