/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SipHash-2-4 (Aumasson & Bernstein) over a message of whole 64-bit little-endian words.
 *
 * The claim MAC input is a fixed 56-byte message (7 words), so only the word-aligned case is
 * implemented: no tail bytes, the final block is just the length byte in the top 8 bits.
 * Everything is straight-line ALU code: no loops, no stack arrays, nothing for the verifier to
 * reason about, and the JIT turns each SipRound into ~14 native instructions.
 *
 * The TypeScript reference (src/identity/keys.ts: siphash24) implements the general case and
 * is checked against the paper's test vectors; test/bpf/claim.test.ts checks this code against
 * it through the verifier (a wrong word order or rotation would make every MAC fail).
 */
#ifndef DIFW_LIB_SIPHASH_H
#define DIFW_LIB_SIPHASH_H

#define SIP_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

#define SIP_ROUND(v0, v1, v2, v3)                                                                  \
	do {                                                                                       \
		v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32);                  \
		v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;                                         \
		v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;                                         \
		v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32);                  \
	} while (0)

struct siphash_state {
	__u64 v0, v1, v2, v3;
};

static __always_inline void siphash_init(struct siphash_state *s, __u64 k0, __u64 k1)
{
	s->v0 = k0 ^ 0x736f6d6570736575ULL;
	s->v1 = k1 ^ 0x646f72616e646f6dULL;
	s->v2 = k0 ^ 0x6c7967656e657261ULL;
	s->v3 = k1 ^ 0x7465646279746573ULL;
}

/* Absorb one 8-byte little-endian message word (2 compression rounds). */
static __always_inline void siphash_word(struct siphash_state *s, __u64 m)
{
	__u64 v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;

	v3 ^= m;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= m;
	s->v0 = v0; s->v1 = v1; s->v2 = v2; s->v3 = v3;
}

/*
 * Finish a message of `nwords` whole words: the last block holds only the length (in bytes,
 * mod 256) in its top byte; then 4 finalization rounds.
 */
static __always_inline __u64 siphash_final(struct siphash_state *s, __u32 nwords)
{
	__u64 b = ((__u64)((nwords * 8) & 0xff)) << 56;
	__u64 v0, v1, v2, v3;

	siphash_word(s, b);
	v0 = s->v0; v1 = s->v1; v2 = s->v2 ^ 0xff; v3 = s->v3;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif /* DIFW_LIB_SIPHASH_H */
