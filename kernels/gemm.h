/*
 * gemm.h - single-precision matrix multiply with pre-packed weights and a fused
 * epilogue, the engine under convolution and dense layers.
 *
 *     C (M x N, row stride ldc) = epilogue( A (M x K) * B (K x N) )
 *
 * B (the weights) is packed once, at load time, into panels that the micro-kernel
 * streams (gemm_pack_b). A (the activations) is packed per call, a block at a time,
 * by a caller-supplied "A source": either a plain row-major matrix or the implicit
 * im2col view of an NHWC convolution input (no im2col buffer is ever materialised).
 *
 * Work is split over OpenMP threads by blocks of C; every element of C is computed
 * by one thread with a fixed summation order, so results are bitwise identical for
 * any thread count.
 */
#ifndef CNNRT_KERNELS_GEMM_H
#define CNNRT_KERNELS_GEMM_H

#include <stddef.h>

#include "kernels.h"

/* Register tile of the micro-kernel and cache blocks. K is cut only past 2048: a
 * 16-column panel of 2048 rows is 128 KiB, streamed from L2 by every tile after the
 * first; against blocks of 256 (a panel in L1), paired in the network: ResNet50 0.973
 * of the time, YOLOv3-416 0.980 (fewer passes over C, fewer kernel calls, and more
 * windows read in place); 1024 gave 0.975-0.977 and 0.979, 4608 nothing more. */
#define GEMM_MR 6
#define GEMM_NR 16
#ifndef GEMM_KC
#define GEMM_KC 2048
#endif
#ifndef GEMM_MC
#define GEMM_MC 96
#endif
/* A thread's last rows join its previous block up to this size rather than forming a
 * block of a few rows (which would stream every weight panel again for them). */
#define GEMM_MC_MAX (GEMM_MC + GEMM_MC / 4)

/* K is cut into blocks of (nearly) equal length, at most GEMM_KC: 2304 = 1152 + 1152,
 * not 2048 + 256, so that no micro-kernel call runs a short tail block. */
static inline int gemm_kc(int k)
{
    const int blocks = (k + GEMM_KC - 1) / GEMM_KC;
    return (k + blocks - 1) / blocks;
}

/* B packed for the micro-kernel: for each K block of b->kc rows (the last may be
 * shorter), for each panel of GEMM_NR columns (zero-padded), kc x GEMM_NR values. */
struct gemm_b {
    int k, n;      /* logical size */
    int n_padded;  /* n rounded up to GEMM_NR */
    int kc;        /* K block length, gemm_kc(k) */
    float *data;   /* k * n_padded floats, 64-byte aligned, owned */
};

/* Packs row-major b (k x n, row stride ldb) into out, multiplying column j by
 * col_scale[j] (in double, then rounded) when col_scale is not NULL: that is how a
 * BatchNorm is folded into the kernel. side (may be NULL) runs on one thread of the
 * team meanwhile. Returns 0, or -1 when out of memory (side has run either way). */
int gemm_pack_b(const float *b, int k, int n, int ldb, const double *col_scale,
                const struct side_job *side, struct gemm_b *out);

/* Allocates a packed B for k x n without filling it, for callers that write the
 * packed layout themselves (gemm_packed_index), padding columns included. */
int gemm_b_alloc(int k, int n, struct gemm_b *out);

/* Where element (row kk, column j) of the logical k x n matrix lives in b->data. */
static inline size_t gemm_packed_index(const struct gemm_b *b, int kk, int j)
{
    const int k0 = kk / b->kc * b->kc;
    const int kc = b->k - k0 < b->kc ? b->k - k0 : b->kc;
    return (size_t)k0 * b->n_padded + (size_t)(j / GEMM_NR) * kc * GEMM_NR +
           (size_t)(kk - k0) * GEMM_NR + j % GEMM_NR;
}

void gemm_b_free(struct gemm_b *b);

/* Where the rows of A come from. */
struct gemm_a {
    enum { GEMM_A_MATRIX, GEMM_A_IM2COL } kind;
    const float *data; /* MATRIX: row-major M x K with row stride lda; IM2COL: NHWC input */
    int lda;
    const struct window_desc *win; /* IM2COL: geometry; A row = output pixel, K = kh*kw*c */
    bool in_place; /* IM2COL: read rows from the input where they lie when the window
                    * allows it (1x1, or K in one block), else gather each block; the
                    * results are bitwise the same either way */
};

/* Floats of per-thread scratch gemm_run needs (packed A blocks). */
size_t gemm_scratch_per_thread(void);

/* C = epilogue(A * B). scratch holds gemm_scratch_per_thread() floats for each of
 * max_threads threads; at most max_threads OpenMP threads are used.
 * The epilogue's residual may be C itself (ep->residual == c, ep->ldr == ldc: the
 * output replaces the residual in place). When K is cut into blocks (b->kc < b->k)
 * that needs ep->act1 == ACT_LINEAR: C then starts as the residual and each block
 * adds into it, act2(residual + A*B + bias). In place, neither activation may be a
 * sigmoid (that one is finished lane by lane after the tile is stored). */
void gemm_run(const struct gemm_a *a, int m, const struct gemm_b *b, float *c, int ldc,
              const struct epilogue *ep, float *scratch, int max_threads);

/* The same product, single-threaded, on one block: rows [m0, m0+mc) and packed
 * columns [n0, n0+nc) (n0 a multiple of GEMM_NR). For callers that do their own
 * threading (Winograd). scratch holds gemm_scratch_per_thread() floats. */
void gemm_block(const struct gemm_a *a, int m0, int mc, const struct gemm_b *b, int n0, int nc,
                float *c, int ldc, const struct epilogue *ep, float *scratch);

/* Name of the micro-kernel in use ("avx2-fma 6/5/4x16": tiles of 6, 5 or 4 rows by 16
 * columns; or "generic 6x16"). */
const char *gemm_kernel_name(void);

#endif
