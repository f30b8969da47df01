/*
 * What the libFuzzer harnesses share: a property that does not hold is a
 * crash with a message (libFuzzer then saves the input), and a small
 * deterministic generator that turns a few input bytes into the window
 * sizes and chunkings a harness tries.
 */
#ifndef SR_FUZZ_H
#define SR_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr,                                        \
			        "%s:%d: property failed: %s: ", __FILE__,      \
			        __LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)

/* xorshift64*: the same seed gives the same choices. */
struct fuzz_rng {
	uint64_t s;
};

static inline void fuzz_rng_seed(struct fuzz_rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
	if (!r->s)
		r->s = 1;
}

static inline uint64_t fuzz_rng_next(struct fuzz_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1Dull;
}

/* A number in [lo, hi]. */
static inline size_t fuzz_rng_range(struct fuzz_rng *r, size_t lo, size_t hi)
{
	return lo + (size_t)(fuzz_rng_next(r) % (hi - lo + 1));
}

/* A heap copy of exactly n bytes, so that AddressSanitizer catches any
 * read past the window (malloc(0) is avoided: a window is never empty
 * when the splitter is called). */
static inline char *fuzz_copy(const char *p, size_t n)
{
	char *c = malloc(n ? n : 1);
	if (!c)
		abort();
	if (n)
		memcpy(c, p, n);
	return c;
}

#endif
