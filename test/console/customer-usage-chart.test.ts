import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unitsBySlice } from '../../src/console/views/usage-by-credential.js';
import { sliceBars } from '../../src/console/web/charts.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

test('the 24-hour chart sums minute buckets into 24 hourly slices ending now, every unit in exactly one', () => {
  const now = Date.UTC(2026, 10, 29, 14, 30, 0);
  const buckets = [
    // A bucket that started a minute before the window: still counted by the quota, so shown in the first slice.
    { bucketStart: now - DAY - 60_000, units: 2 },
    { bucketStart: now - DAY + 5 * 60_000, units: 3 },
    { bucketStart: now - 2 * HOUR - 1, units: 4 },
    { bucketStart: now - 2 * HOUR, units: 5 },
    { bucketStart: now - 60_000, units: 6 },
  ];
  const slices = unitsBySlice(buckets, DAY, now);
  assert.equal(slices.length, 24);
  assert.equal(slices[0]?.start, now - DAY);
  assert.equal(slices[23]?.start, now - HOUR);
  assert.deepEqual(
    slices.map((s) => s.units),
    [5, ...Array(20).fill(0), 4, 5, 6],
  );
  assert.equal(slices.reduce((n, s) => n + s.units, 0), 20);
});

test('the chart draws a bar per slice, its count in a title, and escapes its label', () => {
  const now = Date.UTC(2026, 10, 29, 14, 0, 0);
  const slices = Array.from({ length: 24 }, (_, i) => ({ start: now - DAY + i * HOUR, units: i === 23 ? 7 : 0 }));
  const svg = sliceBars(slices, HOUR, '<b>label</b>').text;
  assert.equal((svg.match(/<rect /g) ?? []).length, 24);
  assert.match(svg, /<title>13:00–14:00 UTC: 7<\/title>/);
  assert.match(svg, /aria-label="&lt;b&gt;label&lt;\/b&gt;"/);
  assert.doesNotMatch(svg, /NaN|undefined/);
});
