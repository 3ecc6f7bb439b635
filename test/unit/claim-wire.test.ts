/**
 * SipHash-2-4 reference against the SipHash paper's test vectors (key 00..0f, message 00..n-1),
 * key derivation properties, and the claim option / MAC message encoding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { siphash24, pairKey, nodeKeyring, newClusterSecret, nextEpoch, prevEpoch, epochsToInstall } from '../../src/identity/keys.js';
import { addrBytes, claimMessage, claimMac, encodeClaimOption, findClaimOption, CLAIM_OPT_LEN } from '../../src/identity/wire.js';

const KEY = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
const msg = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => i));

test('siphash24 matches the published SipHash-2-4 vectors', () => {
  const vectors: [number, bigint][] = [
    [0, 0x726fdb47dd0e0e31n],
    [1, 0x74f839c593dc67fdn],
    [2, 0x0d6c8009d9a94f5an],
    [3, 0x85676696d7fb7e2dn],
    [4, 0xcf2794e0277187b7n],
    [7, 0xab0200f58b01d137n],
    [8, 0x93f5f5799a932462n],
    [15, 0xa129ca6149be45e5n],
    [16, 0x3f2acc7f57c29bdbn],
    [32, 0x7127512f72f27ccen],
  ];
  for (const [n, want] of vectors) assert.equal(siphash24(KEY, msg(n)), want, `vector n=${n}`);
  assert.notEqual(siphash24(Buffer.alloc(16), msg(0)), 0x726fdb47dd0e0e31n);
});

test('pair keys are symmetric, distinct per pair and epoch, and need a real secret', () => {
  const s = newClusterSecret();
  assert.deepEqual(pairKey(s, 1, 2, 0), pairKey(s, 2, 1, 0));
  assert.notDeepEqual(pairKey(s, 1, 2, 0), pairKey(s, 1, 2, 1));
  assert.notDeepEqual(pairKey(s, 1, 2, 0), pairKey(s, 1, 3, 0));
  assert.notDeepEqual(pairKey(s, 1, 2, 0), pairKey(newClusterSecret(), 1, 2, 0));
  assert.equal(pairKey(s, 1, 1, 7).length, 16);
  assert.throws(() => pairKey(Buffer.alloc(8), 1, 2, 0), /secret/);
  assert.throws(() => pairKey(s, 0, 2, 0), /node id/);
  assert.throws(() => pairKey(s, 1, 2, 256), /epoch/);
  const ring = nodeKeyring(s, 2, [1, 2, 3], [4, 5]);
  assert.equal(ring.length, 6);
  assert.ok(ring.every((k) => k.key.equals(pairKey(s, 2, k.node, k.epoch))));
  assert.equal(nextEpoch(255), 0);
  assert.equal(prevEpoch(0), 255);
  assert.deepEqual(epochsToInstall(0), [255, 0]);
  assert.deepEqual(epochsToInstall(7, { next: true }), [6, 7, 8]);
});

test('addresses encode as 16 bytes, IPv4 mapped', () => {
  assert.equal(addrBytes('198.18.0.1').toString('hex'), '00000000000000000000ffffc6120001');
  assert.equal(addrBytes('2001:db8::1').toString('hex'), '20010db8000000000000000000000001');
  assert.equal(addrBytes('::ffff:198.18.0.1').toString('hex'), '00000000000000000000ffffc6120001');
  assert.equal(addrBytes('2001:db8:1:2:3:4:5:6').toString('hex'), '20010db8000100020003000400050006');
  assert.throws(() => addrBytes('nope'));
});

test('claim message binds every field and the option round-trips', () => {
  const conn = { saddr: '198.18.0.1', daddr: '198.18.0.2', sport: 40000, dport: 80, isn: 0xdeadbeef, peerIsn: 0, synack: false };
  const o = { identity: 4242, node: 3, epoch: 9 };
  const m = claimMessage(o, conn);
  assert.equal(m.length, 32);
  assert.equal(m.toString('hex'), '010003009210000009' + '04' + '409c' + '5000' + '0000' + 'efbeadde' + '00000000' + 'c6120001' + 'c6120002');
  const m6 = claimMessage(o, { ...conn, saddr: '2001:db8::1', daddr: '2001:db8::2' });
  assert.equal(m6.length, 56);
  assert.equal(m6.toString('hex'), '010003009210000009' + '06' + '409c' + '5000' + '0000' + 'efbeadde' + '00000000' +
    '20010db8000000000000000000000001' + '20010db8000000000000000000000002');
  // an IPv6 socket's v4-mapped addresses are the IPv4 form: the MAC is the same as for IPv4
  assert.ok(claimMessage(o, { ...conn, saddr: '::ffff:198.18.0.1', daddr: '::ffff:198.18.0.2' }).equals(m));
  const key = pairKey(newClusterSecret(), 3, 5, 9);
  const base = claimMac(key, o, conn);
  const variants = [
    claimMac(key, { ...o, identity: 4243 }, conn),
    claimMac(key, { ...o, node: 4 }, conn),
    claimMac(key, { ...o, epoch: 10 }, conn),
    claimMac(key, o, { ...conn, isn: conn.isn + 1 }),
    claimMac(key, o, { ...conn, dport: 81 }),
    claimMac(key, o, { ...conn, sport: 40001 }),
    claimMac(key, o, { ...conn, saddr: '198.18.0.9' }),
    claimMac(key, o, { ...conn, daddr: '198.18.0.9' }),
    claimMac(key, o, { ...conn, synack: true }),
    claimMac(key, o, { ...conn, peerIsn: 1 }),
  ];
  for (const v of variants) assert.notEqual(v, base);
  const opt = encodeClaimOption({ version: 1, ...o, mac: base });
  assert.equal(opt.length, CLAIM_OPT_LEN);
  assert.equal(opt.subarray(0, 4).toString('hex'), 'fe14d1f0');
  // Behind MSS, SACK-permitted+timestamps and window scale, as Linux lays out a SYN.
  const block = Buffer.concat([Buffer.from('020405b4', 'hex'), Buffer.from('0402080a0000000100000000', 'hex'), Buffer.from('01030307', 'hex'), opt]);
  assert.deepEqual(findClaimOption(block), { version: 1, ...o, mac: base });
  assert.equal(findClaimOption(block.subarray(0, 20)), undefined);
  assert.throws(() => findClaimOption(block.subarray(0, 30)), /length/);
});
