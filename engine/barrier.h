/*
 * Every memory-ordering operation of the engine goes through these named
 * helpers, after liburing's barrier.h: a reader of the pipeline code sees
 * at a glance which stores publish data and which loads consume it.
 */
#ifndef SR_BARRIER_H
#define SR_BARRIER_H

#include <stdint.h>

#define sr__load_relaxed(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define sr__load_acquire(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define sr__store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define sr__store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* Compare-and-swap: true when *p held *expected and now holds desired;
 * otherwise *expected receives the current value. */
#define sr__cas(p, expected, desired)                                          \
	__atomic_compare_exchange_n((p), (expected), (desired), false,         \
	                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#define sr__exchange(p, v)  __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#define sr__fetch_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)

static inline void sr__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

#endif
