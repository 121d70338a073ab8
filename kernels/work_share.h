/*
 * work_share.h - work units split between the threads of an OpenMP team, with the
 * idle ones taking over the rest of the busy ones' share.
 *
 * Each thread owns a contiguous range of units (so that it works on the rows it
 * wrote in the layer before, in its own core's caches) and takes them from the
 * front; a thread whose range is empty takes units from the back of the range with
 * the most left. On these virtual machines the two cores run at different speeds
 * from one moment to the next (other tenants on the host): with fixed shares the
 * faster one waited 8-10 % of a ResNet50 run at the end of its layers.
 *
 * Which thread runs a unit does not change its result: kernels compute every output
 * in a fixed order whoever runs it, so outputs stay bitwise identical.
 */
#ifndef CNNRT_KERNELS_WORK_SHARE_H
#define CNNRT_KERNELS_WORK_SHARE_H

#include <stdatomic.h>
#include <stdint.h>

/* Teams larger than this share work in fixed ranges (no taking over) beyond it. */
#define WORK_MAX_THREADS 64

/* One thread's range [next, end) of unit numbers, in one atomic word (next in the
 * low half, end in the high half); on its own cache line. */
struct work_range {
    _Alignas(64) _Atomic uint64_t packed;
};

static inline uint64_t work_pack(uint32_t next, uint32_t end)
{
    return (uint64_t)end << 32 | next;
}

static inline void work_range_init(struct work_range *r, int begin, int end)
{
    atomic_init(&r->packed, work_pack((uint32_t)begin, (uint32_t)end));
}

/* Units left in r. */
static inline int work_left(struct work_range *r)
{
    const uint64_t v = atomic_load_explicit(&r->packed, memory_order_relaxed);
    const uint32_t next = (uint32_t)v, end = (uint32_t)(v >> 32);
    return next < end ? (int)(end - next) : 0;
}

/* Takes the first (front) or last (back) unit of r: its number, or -1 if r is empty. */
static inline int work_take(struct work_range *r, int back)
{
    uint64_t v = atomic_load_explicit(&r->packed, memory_order_relaxed);
    for (;;) {
        const uint32_t next = (uint32_t)v, end = (uint32_t)(v >> 32);
        if (next >= end) return -1;
        const uint64_t taken = back ? work_pack(next, end - 1) : work_pack(next + 1, end);
        if (atomic_compare_exchange_weak_explicit(&r->packed, &v, taken, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (int)(back ? end - 1 : next);
    }
}

/* The next unit for thread tid of a team of nt sharing ranges[0..nt): the front of its
 * own range, else the back of the range with most left. Returns the unit number and
 * sets *owner to the range it came from, or returns -1 when all ranges are empty. */
static inline int work_next(struct work_range *ranges, int nt, int tid, int *owner)
{
    int u = work_take(&ranges[tid], 0);
    if (u >= 0) {
        *owner = tid;
        return u;
    }
    for (;;) {
        int victim = -1, most = 0;
        for (int t = 0; t < nt; t++) {
            const int left = t == tid ? 0 : work_left(&ranges[t]);
            if (left > most) {
                most = left;
                victim = t;
            }
        }
        if (victim < 0) return -1;
        u = work_take(&ranges[victim], 1);
        if (u >= 0) {
            *owner = victim;
            return u;
        }
    }
}

#endif
