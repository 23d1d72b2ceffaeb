import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DestinationConcurrency } from '../../src/delivery/destination-concurrency.js';

test('a destination starts at the initial concurrency and earns one slot per window of successes, up to the limit', () => {
  const c = new DestinationConcurrency(5, 20, () => 0);
  assert.equal(c.limit('example.test'), 5);
  for (let i = 0; i < 4; i++) c.succeeded('example.test');
  assert.equal(c.limit('example.test'), 5);
  c.succeeded('example.test');
  assert.equal(c.limit('example.test'), 6, 'five successes at five slots give a sixth');
  for (let i = 0; i < 1000; i++) c.succeeded('example.test');
  assert.equal(c.limit('example.test'), 20, 'never above connections_per_host');
  assert.equal(c.limit('other.test'), 5, 'each destination learns on its own');
});

test('pushback costs a slot (never below one), and an initial value above the limit is capped', () => {
  const c = new DestinationConcurrency(5, 20, () => 0);
  c.pushedBack('slow.test');
  assert.equal(c.limit('slow.test'), 4);
  for (let i = 0; i < 10; i++) c.pushedBack('slow.test');
  assert.equal(c.limit('slow.test'), 1);
  assert.equal(new DestinationConcurrency(5, 2, () => 0).limit('x.test'), 2);
});

test('a destination left alone for the forget time starts again from the initial concurrency', () => {
  let now = 0;
  const c = new DestinationConcurrency(5, 20, () => now, 600_000);
  for (let i = 0; i < 1000; i++) c.succeeded('a.test');
  assert.equal(c.limit('a.test'), 20);
  now += 700_000;
  c.succeeded('b.test'); // any use sweeps, at most once a minute
  assert.equal(c.limit('a.test'), 5);
});
