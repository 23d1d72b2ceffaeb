import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClamdReply } from '../../src/antivirus/clamd-client.js';

// The replies clamd 1.x writes for INSTREAM, as documented in clamd(8) and seen in its source (with the z prefix, NUL-terminated).
test('clamd INSTREAM replies: clean, found, errors, and anything else is an error too', () => {
  assert.deepEqual(parseClamdReply('stream: OK\0'), { kind: 'clean' });
  assert.deepEqual(parseClamdReply('stream: Eicar-Test-Signature FOUND\0'), { kind: 'infected', signature: 'Eicar-Test-Signature' });
  assert.deepEqual(parseClamdReply('stream: Win.Test.EICAR_HDB-1 FOUND'), { kind: 'infected', signature: 'Win.Test.EICAR_HDB-1' });
  assert.deepEqual(parseClamdReply('INSTREAM size limit exceeded. ERROR\0'), { kind: 'error', reason: 'clamd error: INSTREAM size limit exceeded.' });
  assert.deepEqual(parseClamdReply('stream: Can\'t allocate memory ERROR\0'), { kind: 'error', reason: 'clamd error: Can\'t allocate memory' });
  assert.equal(parseClamdReply('UNKNOWN COMMAND\0').kind, 'error');
  assert.equal(parseClamdReply('').kind, 'error');
  assert.equal(parseClamdReply('stream: OK extra').kind, 'error');
});
