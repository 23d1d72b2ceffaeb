import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOf, countFrom, freesAt, quotaWindow } from '../../src/quota/window.js';

const DAY = 86_400_000;
const w = quotaWindow(DAY);
const now = Date.UTC(2026, 10, 28, 14, 31, 10);

test('one-minute buckets for a 24-hour window; a unit never leaves early', () => {
  assert.equal(w.bucketMs, 60_000);
  assert.equal(bucketOf(w, now), Date.UTC(2026, 10, 28, 14, 31));
  const from = countFrom(w, now + DAY);
  assert.ok(bucketOf(w, now) > from, 'still counted exactly 24 h later');
  assert.ok(bucketOf(w, now) <= countFrom(w, now + DAY + 60_000), 'gone one minute later');
});

test('frees at: when enough of the oldest units leave', () => {
  const snapshot = {
    quota: 5,
    used: 5,
    held: 0,
    buckets: [
      { bucketStart: Date.UTC(2026, 10, 28, 9, 0), units: 2 },
      { bucketStart: Date.UTC(2026, 10, 28, 10, 0), units: 3 },
    ],
  };
  assert.equal(freesAt(w, snapshot, 1, now), Date.UTC(2026, 10, 29, 9, 1));
  assert.equal(freesAt(w, snapshot, 3, now), Date.UTC(2026, 10, 29, 10, 1));
  assert.equal(freesAt(w, snapshot, 6, now), null);
  assert.equal(freesAt(w, { ...snapshot, used: 3, buckets: snapshot.buckets.slice(1) }, 1, now), now);
});

test('units held by transactions in progress count as sent now', () => {
  const snapshot = { quota: 5, used: 0, held: 5, buckets: [] };
  assert.equal(freesAt(w, snapshot, 1, now), Date.UTC(2026, 10, 29, 14, 32));
  assert.equal(freesAt(w, { quota: 0, used: 0, held: 0, buckets: [] }, 1, now), null);
});
