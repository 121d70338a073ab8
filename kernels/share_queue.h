/*
 * share_queue.h - a thread's share of a parallel loop, as a queue that other threads
 * can take from when they run out of work of their own.
 *
 * Every thread starts with a contiguous share of units (the pixels it wrote in the
 * layer before, so its data is in its own core's caches) and takes them in order from
 * the front. A thread that has finished its share takes units from the back of the
 * others' shares: on these 2-vCPU virtual machines the two cores run at different
 * speeds from moment to moment (another guest's work on the same physical core), so
 * a static split left each thread waiting at the end of a layer for 5-9 % of the
 * run; a dynamic schedule balances that but moves every block's data between cores.
 *
 * Which thread computes a unit never changes what is computed in it, so results stay
 * bitwise identical for any thread count and any interleaving.
 */
#ifndef CNNRT_KERNELS_SHARE_QUEUE_H
#define CNNRT_KERNELS_SHARE_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>

/* Units [front, end) still to be taken, packed in one word (front in the low half)
 * so that either end moves with one compare-and-swap; one queue per cache line. */
struct share_queue {
    _Alignas(64) _Atomic unsigned long long ends;
    char pad[64 - sizeof(unsigned long long)];
};

/* Sets the queue to units [0, units). Every thread must see this before any take:
 * call it before the parallel region, or before a barrier. */
static inline void share_queue_init(struct share_queue *q, int units)
{
    atomic_store_explicit(&q->ends, (unsigned long long)(unsigned)units << 32,
                          memory_order_relaxed);
}

/* Tests only (0 otherwise): a thread starts with the share of thread
 * (own + share_queue_test_offset) % threads, from the back, and comes to its own
 * last, so that every unit is taken by another thread than its owner's where the
 * others are quick enough. Defined in gemm.c. */
extern int share_queue_test_offset;

/* The owner of the share a thread visits k-th (k = 0 .. nt-1). */
static inline int share_queue_visit(int tid, int k, int nt)
{
    return (tid + share_queue_test_offset + k) % nt;
}

/* Takes the next unit from the front (the owner) or the back (another thread) into
 * *unit. Returns false when the queue is empty. */
static inline bool share_queue_take(struct share_queue *q, bool front, int *unit)
{
    unsigned long long v = atomic_load_explicit(&q->ends, memory_order_relaxed);
    for (;;) {
        const unsigned first = (unsigned)v, end = (unsigned)(v >> 32);
        if (first >= end) return false;
        const unsigned long long next = front ? v + 1 : v - (1ull << 32);
        if (atomic_compare_exchange_weak_explicit(&q->ends, &v, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *unit = (int)(front ? first : end - 1);
            return true;
        }
    }
}

/* The next unit thread tid takes from the queues q[0 .. threads): its own share's
 * from the front, then the others' from the back, in share_queue_visit order. *k is
 * the visiting position, 0 before the first call and kept between calls; the unit
 * goes to *unit and its share's owner to *owner. Returns false when all are empty. */
static inline bool share_queue_next(struct share_queue *q, int tid, int threads, int *k,
                                    int *owner, int *unit)
{
    for (; *k < threads; ++*k) {
        *owner = share_queue_visit(tid, *k, threads);
        if (share_queue_take(&q[*owner], *owner == tid, unit)) return true;
    }
    return false;
}

#endif
