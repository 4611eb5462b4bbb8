import t from 'tap';
import { hashSecret, parseSecretHash, verifySecret } from '../src/util/scrypt-hash.js';

void t.test('scrypt hash verifies its secret', async (t) => {
  const encoded = await hashSecret('correct horse');
  t.match(encoded, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.equal(await verifySecret('correct horse', encoded), true, 'right secret');
  t.equal(await verifySecret('correct horse ', encoded), false, 'wrong secret');
  t.not(await hashSecret('correct horse'), encoded, 'fresh salt each time');
});

void t.test('scrypt hash rejects malformed strings', (t) => {
  t.throws(() => parseSecretHash('plain-text'), /not in the form/);
  t.throws(() => parseSecretHash('scrypt$1000$8$1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5'), /power of two/);
  t.throws(() => parseSecretHash(`scrypt$${2 ** 30}$8$1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5`), /power of two from 2/);
  t.throws(() => parseSecretHash('scrypt$16384$8$1$$'), /salt has 0 bytes/);
  t.end();
});
