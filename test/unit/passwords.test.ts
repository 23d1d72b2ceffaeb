import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePassword, hashPassword, verifyPassword } from '../../src/accounts/passwords.js';

test('generated passwords: 22 characters, always upper case, lower case and a digit, never look-alikes', () => {
  // Without the guarantee, about 3.6% of passwords had no digit.
  for (let i = 0; i < 3000; i++) {
    const password = generatePassword();
    assert.equal(password.length, 22);
    assert.match(password, /[A-Z]/);
    assert.match(password, /[a-z]/);
    assert.match(password, /[0-9]/);
    assert.doesNotMatch(password, /[0O1lI]/);
  }
});

test('a hash verifies its password and nothing else', async () => {
  const hash = await hashPassword('correct horse');
  assert.equal(await verifyPassword('correct horse', hash), true);
  assert.equal(await verifyPassword('correct horsE', hash), false);
  assert.equal(await verifyPassword('x', 'not-a-hash'), false);
});
