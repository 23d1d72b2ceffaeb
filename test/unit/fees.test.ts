import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { feesFor, totalsByCurrency } from '../../src/reputation/fees.js';

test('fees in config: "AMOUNT CURRENCY", checked at load, none by default', () => {
  assert.deepEqual(parseConfig({}).fees, {});
  assert.deepEqual(parseConfig({ fees: { reinstatement: '50.00 EUR' } }).fees, { reinstatement: '50.00 EUR' });
  for (const bad of ['50 euros', '50,00 EUR', 'EUR 50', '-5.00 EUR', '1.2345 EUR', '50.00 eur']) {
    assert.throws(() => parseConfig({ fees: { reinstatement: bad } }), /fees\.reinstatement: expected "AMOUNT CURRENCY"/, bad);
  }
  assert.throws(() => parseConfig({ fees: { reinstatment: '50.00 EUR' } } as never), /unknown setting "fees\.reinstatment"/);
});

test('which fees a reinstatement charges depends on the reason', () => {
  const schedule = { reinstatement: '50.00 EUR', blocklist_removal: '120.00 EUR', late_reinstatement: '25.00 EUR' };
  assert.deepEqual(feesFor('blocklist', schedule).map((f) => f.fee), ['reinstatement', 'blocklist_removal']);
  for (const reason of ['complaint', 'bounces', 'manual'] as const) {
    assert.deepEqual(feesFor(reason, schedule), [{ fee: 'reinstatement', amount: '50.00', currency: 'EUR' }]);
  }
  // A lapsed subscription put back pays the late fee (the service terms' "frais de remise en service"), not abuse work.
  assert.deepEqual(feesFor('expired', schedule), [{ fee: 'late_reinstatement', amount: '25.00', currency: 'EUR' }]);
  assert.deepEqual(feesFor('expired', { reinstatement: '50.00 EUR' }), []);
  assert.deepEqual(feesFor('quota', schedule), []);
  assert.deepEqual(feesFor('blocklist', { blocklist_removal: '120 CHF' }), [{ fee: 'blocklist_removal', amount: '120', currency: 'CHF' }]);
});

test('totals per currency are exact decimal sums', () => {
  const lines = [
    { amount: '0.10', currency: 'EUR' },
    { amount: '0.20', currency: 'EUR' },
    { amount: '120', currency: 'EUR' },
    { amount: '1000', currency: 'JPY' },
    { amount: '0.005', currency: 'KWD' },
    { amount: '1.5', currency: 'KWD' },
  ];
  assert.deepEqual(totalsByCurrency(lines), [
    { currency: 'EUR', amount: '120.30' },
    { currency: 'JPY', amount: '1000' },
    { currency: 'KWD', amount: '1.505' },
  ]);
  assert.deepEqual(totalsByCurrency([]), []);
});
