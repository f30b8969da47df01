/*
 * Byte tests eight bytes at a time on a 64-bit word ("SIMD within a
 * register"): ids and CSV fields are short, so a call into memchr costs
 * more than it saves, and a byte loop costs a branch per byte. Words are
 * loaded whole; a tail shorter than a word is covered by one last word
 * that overlaps the previous one, and strings under 8 bytes use a loop.
 */
#ifndef SR_SWAR_H
#define SR_SWAR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SR_ONES  0x0101010101010101ULL
#define SR_HIGHS 0x8080808080808080ULL

static inline uint64_t sr__word(const char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

/* Non-zero when some byte of w equals a, b, c or d (exact as a whole). */
static inline uint64_t sr__word_any4(uint64_t w, unsigned char a,
                                     unsigned char b, unsigned char c,
                                     unsigned char d)
{
	uint64_t xa = w ^ (SR_ONES * a), xb = w ^ (SR_ONES * b);
	uint64_t xc = w ^ (SR_ONES * c), xd = w ^ (SR_ONES * d);
	return (((xa - SR_ONES) & ~xa) | ((xb - SR_ONES) & ~xb) |
	        ((xc - SR_ONES) & ~xc) | ((xd - SR_ONES) & ~xd)) &
	       SR_HIGHS;
}

/* Non-zero when some byte of w is below 0x20 or is 0x7F. */
static inline uint64_t sr__word_control(uint64_t w)
{
	uint64_t x = w ^ (SR_ONES * 0x7F);
	return (((w - SR_ONES * 0x20) & ~w) | ((x - SR_ONES) & ~x)) & SR_HIGHS;
}

static inline int sr__has_any4(const char *p, size_t n, unsigned char a,
                               unsigned char b, unsigned char c,
                               unsigned char d)
{
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			if (p[i] == (char)a || p[i] == (char)b ||
			    p[i] == (char)c || p[i] == (char)d)
				return 1;
		return 0;
	}
	uint64_t hit = 0;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		hit |= sr__word_any4(sr__word(p + i), a, b, c, d);
	if (i < n)
		hit |= sr__word_any4(sr__word(p + n - 8), a, b, c, d);
	return (hit & SR_HIGHS) != 0;
}

static inline int sr__has_control(const char *p, size_t n)
{
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7F)
				return 1;
		return 0;
	}
	uint64_t hit = 0;
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		hit |= sr__word_control(sr__word(p + i));
	if (i < n)
		hit |= sr__word_control(sr__word(p + n - 8));
	return hit != 0;
}

#endif
