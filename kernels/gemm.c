/* gemm.c - packed SGEMM: B packed at load time; A read in place (a matrix, a strided
 * 1x1 conv's pixels, a first layer's image rows) or gathered per block through the
 * implicit im2col view of an NHWC input; an AVX2/FMA micro-kernel of 16 columns and
 * 6, 5 or 4 rows (generic C elsewhere) whose store applies the fused epilogue. */
#include "gemm.h"
#include "share_queue.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ B -- */

/* Packed panels: 64-byte aligned. Not on transparent huge pages: measured on these
 * virtual machines, THP made a fresh process load YOLOv3 about twice as slowly (the
 * hypervisor backs fresh 2 MiB pages slowly) with no measurable gain per run. */
static float *alloc_panels(size_t floats)
{
    void *p = NULL;
    return posix_memalign(&p, 64, (floats + 16) * sizeof(float)) == 0 ? p : NULL;
}

int gemm_b_alloc(int k, int n, struct gemm_b *out)
{
    const int np = (n + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    float *d = alloc_panels((size_t)k * np);
    if (!d) return -1;
    *out = (struct gemm_b){k, n, np, gemm_kc(k), d};
    return 0;
}

int gemm_pack_b(const float *b, int k, int n, int ldb, const double *col_scale,
                const struct side_job *side, struct gemm_b *out)
{
    const int np = (n + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    float *d = alloc_panels((size_t)k * np);
    if (!d) {
        side_job_run(side);
        return -1;
    }
    const int kcb = gemm_kc(k);
    const int kblocks = (k + kcb - 1) / kcb;
#pragma omp parallel if (side || (size_t)k * n > (1u << 18))
    {
#pragma omp single nowait
        side_job_run(side);
#pragma omp for schedule(dynamic, 1)
        for (int kb = 0; kb < kblocks; kb++) {
            const int k0 = kb * kcb;
            const int kc = k - k0 < kcb ? k - k0 : kcb;
            float *block = d + (size_t)k0 * np;
            for (int j0 = 0; j0 < np; j0 += GEMM_NR) {
                float *panel = block + (size_t)(j0 / GEMM_NR) * kc * GEMM_NR;
                const int w = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
                for (int kk = 0; kk < kc; kk++) {
                    float *dst = panel + (size_t)kk * GEMM_NR;
                    const float *src = b + (size_t)(k0 + kk) * ldb + j0;
                    if (col_scale)
                        for (int j = 0; j < w; j++) dst[j] = (float)(src[j] * col_scale[j0 + j]);
                    else
                        memcpy(dst, src, (size_t)w * sizeof(float));
                    for (int j = w; j < GEMM_NR; j++) dst[j] = 0.0f;
                }
            }
        }
    }
    *out = (struct gemm_b){k, n, np, kcb, d};
    return 0;
}

void gemm_b_free(struct gemm_b *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
}

/* ------------------------------------------------------------------ A -- */

/* Copies n floats; the runs of a first layer (3 channels: 3 to 21 floats) are too
 * short for a memcpy call to pay. */
static inline void copy_run(float *dst, const float *src, int n)
{
    if (n > 32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    for (int i = 0; i < n; i++) dst[i] = src[i];
}

static inline void zero_run(float *dst, int n)
{
    for (int i = 0; i < n; i++) dst[i] = 0.0f;
}

/* pack_a_im2col for whole rows: the output position advances without divisions and
 * each kernel row is one run when the window is inside the image. */
static void pack_a_im2col_rows(const struct window_desc *d, const float *in, int m0, int mc,
                               float *dst)
{
    const int row_len = d->kw * d->c, kc = d->kh * row_len;
    int oy = m0 / d->ow, ox = m0 % d->ow;
    for (int r = 0; r < mc; r++) {
        float *out = dst + (size_t)r * kc;
        const int y0 = oy * d->sh - d->pad_top, x0 = ox * d->sw - d->pad_left;
        const bool x_inside = x0 >= 0 && x0 + d->kw <= d->w;
        for (int ky = 0; ky < d->kh; ky++, out += row_len) {
            const int y = y0 + ky;
            if (y < 0 || y >= d->h) {
                zero_run(out, row_len);
            } else if (x_inside) {
                copy_run(out, in + ((size_t)y * d->w + x0) * d->c, row_len);
            } else {
                for (int kx = 0; kx < d->kw; kx++) {
                    const int x = x0 + kx;
                    if (x < 0 || x >= d->w) zero_run(out + kx * d->c, d->c);
                    else copy_run(out + kx * d->c, in + ((size_t)y * d->w + x) * d->c, d->c);
                }
            }
        }
        if (++ox == d->ow) {
            ox = 0;
            oy++;
        }
    }
}

/* Gathers rows [m0, m0+mc) and columns [k0, k0+kc) of the im2col view of an NHWC
 * input into dst, row-major with row stride kc: each (ky, kx) segment of a row is a
 * contiguous run of input channels (or zeros on padding), so this is a few memcpys
 * per row. */
static void pack_a_im2col(const struct window_desc *d, const float *in, int m0, int mc, int k0,
                          int kc, float *dst)
{
    if (k0 == 0 && kc == d->kh * d->kw * d->c) { /* whole rows (small K: a first layer) */
        pack_a_im2col_rows(d, in, m0, mc, dst);
        return;
    }
    const int kend = k0 + kc;
    for (int r = 0; r < mc; r++) {
        float *out = dst + (size_t)r * kc;
        const int row = m0 + r;
        const int oy = row / d->ow, ox = row % d->ow;
        const int y0 = oy * d->sh - d->pad_top, x0 = ox * d->sw - d->pad_left;
        const int row_len = d->kw * d->c; /* one kernel row: kw pixels of c channels */
        for (int k = k0; k < kend;) {
            const int ky = k / row_len, within = k % row_len;
            const int kx = within / d->c;
            const int y = y0 + ky, x = x0 + kx;
            /* the pixels x .. x0+kw-1 of input row y are adjacent in NHWC: copy them as
             * one run when they are all inside the image */
            int run;
            if (y < 0 || y >= d->h) {
                run = row_len - within;
                if (run > kend - k) run = kend - k;
                zero_run(out + (k - k0), run);
            } else if (x >= 0 && x0 + d->kw <= d->w) {
                run = row_len - within;
                if (run > kend - k) run = kend - k;
                copy_run(out + (k - k0), in + ((size_t)y * d->w + x) * d->c + within % d->c, run);
            } else {
                const int ci = within % d->c;
                run = d->c - ci < kend - k ? d->c - ci : kend - k;
                if (x < 0 || x >= d->w)
                    zero_run(out + (k - k0), run);
                else
                    copy_run(out + (k - k0), in + ((size_t)y * d->w + x) * d->c + ci, run);
            }
            k += run;
        }
    }
}

/* Rows of A read where they lie instead of being copied into a block: row r of the
 * block is nseg segments of seg_len floats, segment s at ptr[r] + s * stride[r]. A
 * strided 1x1 convolution reads each output pixel's input pixel (one segment); a
 * first layer (K fits one block) reads each window's kh image rows (kw * c floats
 * each). Rows whose window crosses the border are gathered into the block scratch
 * as usual (their segments back to back). */
struct a_rows {
    int nseg, seg_len;
    const float *ptr[GEMM_MC_MAX];
    int stride[GEMM_MC_MAX];
};

/* Fills rows for block rows [m0, m0+mc), K columns [k0, k0+kc); false where the
 * layout does not allow it (a window over several K blocks). */
static bool rows_in_place(const struct window_desc *d, const float *in, int m0, int mc, int k0,
                          int kc, float *scratch, struct a_rows *rows)
{
    const bool pixel = d->kh == 1 && d->kw == 1;
    if (mc > GEMM_MC_MAX || (!pixel && (k0 != 0 || kc != d->kh * d->kw * d->c))) return false;
    rows->nseg = pixel ? 1 : d->kh;
    rows->seg_len = pixel ? kc : d->kw * d->c;
    const int image_row = d->w * d->c;
    int oy = m0 / d->ow, ox = m0 % d->ow;
    for (int r = 0; r < mc; r++) {
        const int y0 = oy * d->sh - d->pad_top, x0 = ox * d->sw - d->pad_left;
        if (y0 >= 0 && y0 + d->kh <= d->h && x0 >= 0 && x0 + d->kw <= d->w) {
            rows->ptr[r] = in + ((size_t)y0 * d->w + x0) * d->c + k0;
            rows->stride[r] = image_row;
        } else {
            float *dst = scratch + (size_t)r * kc;
            pack_a_im2col(d, in, m0 + r, 1, k0, kc, dst);
            rows->ptr[r] = dst;
            rows->stride[r] = rows->seg_len;
        }
        if (++ox == d->ow) {
            ox = 0;
            oy++;
        }
    }
    return true;
}

/* ---------------------------------------------------------- micro-kernels -- */

enum { UKR_ACCUMULATE = 1, UKR_EPILOGUE = 2 };

/* Zeros standing in for the rows of a partial tile that lie past the matrix. */
static const float zero_row[GEMM_KC] __attribute__((aligned(64)));

/* One column panel of C: rows [0, m) x GEMM_NR columns (nr valid) against one packed
 * B panel, for one K block. The kernel walks the rows GEMM_MR at a time, so that the
 * per-panel set-up (masks, bias, activation constants) is paid once. */
struct panel {
    int kc;
    const float *a;            /* row 0 of A at the block's first column */
    size_t lda;                /* floats between consecutive rows of A */
    const struct a_rows *rows; /* rows read in place, in segments (NULL: a and lda) */
    int m;                     /* rows */
    const float *b;            /* packed panel, kc x GEMM_NR */
    float *c;                  /* C at the panel's first element */
    int ldc;
    int nr;                    /* valid columns of the panel */
    int flags;                 /* UKR_ACCUMULATE: add to C; UKR_EPILOGUE: finish it */
    const float *bias;         /* at the panel's first column, or NULL */
    const float *residual;     /* at the panel's first element, or NULL */
    int ldr;
    enum act_type act1, act2;
    float alpha1, alpha2;
    const float *next_b;       /* the packed panel used after this one, or NULL */
    size_t next_b_floats;
};

typedef void (*panel_fn)(const struct panel *p);

/* Row r of A for the tile starting at row i (zero_row past the last row), and the
 * floats between its segments (0 for a matrix row: one segment). `segmented` is
 * p->rows != NULL, a constant where the kernel is specialised. */
static inline const float *panel_row(const struct panel *p, bool segmented, int i, int r,
                                     int *stride)
{
    *stride = 0;
    if (i + r >= p->m) return zero_row;
    if (!segmented) return p->a + (size_t)(i + r) * p->lda;
    *stride = p->rows->stride[i + r];
    return p->rows->ptr[i + r];
}

/* Element (row, k) of A, row < m. */
static inline float panel_a(const struct panel *p, int row, int k)
{
    if (!p->rows) return p->a[(size_t)row * p->lda + k];
    const int seg = k / p->rows->seg_len;
    return p->rows->ptr[row][(size_t)seg * p->rows->stride[row] + (k - seg * p->rows->seg_len)];
}

/* Portable C kernel (and the reference for the SIMD one). */
static void panel_generic(const struct panel *p)
{
    for (int i = 0; i < p->m; i += GEMM_MR) {
        const int mr = p->m - i < GEMM_MR ? p->m - i : GEMM_MR;
        float acc[GEMM_MR][GEMM_NR] = {{0}};
        for (int r = 0; r < mr; r++)
            for (int k = 0; k < p->kc; k++) {
                const float a = panel_a(p, i + r, k);
                for (int j = 0; j < GEMM_NR; j++) acc[r][j] += a * p->b[k * GEMM_NR + j];
            }
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < p->nr; j++) {
                float *dst = &p->c[(size_t)(i + r) * p->ldc + j];
                float v = (p->flags & UKR_ACCUMULATE) ? *dst + acc[r][j] : acc[r][j];
                if (p->flags & UKR_EPILOGUE) {
                    if (p->bias) v += p->bias[j];
                    v = act_apply(p->act1, p->alpha1, v);
                    if (p->residual) v += p->residual[(size_t)(i + r) * p->ldr + j];
                    v = act_apply(p->act2, p->alpha2, v);
                }
                *dst = v;
            }
    }
}

/* Rows of a panel cut into tiles of nearly equal height, at most GEMM_MR: `extra`
 * tiles of base + 1 rows, then base-row tiles. 49 rows are 4 x 6 + 5 x 5 (not 8 x 6
 * + 1, which computes 54); the SIMD kernel runs tiles of 6, 5 or 4 rows (fewer rows
 * on the 4-row kernel), so a tile costs about its height. */
struct tiling {
    int tiles, base, extra;
};

static inline struct tiling tiling_for(int m)
{
    const int tiles = (m + GEMM_MR - 1) / GEMM_MR;
    return (struct tiling){tiles, m / tiles, m % tiles};
}

__attribute__((target("avx2,fma"))) static inline __m256 act_avx2(__m256 v, enum act_type act,
                                                                  __m256 alpha)
{
    if (act == ACT_RELU) return _mm256_max_ps(v, _mm256_setzero_ps());
    if (act == ACT_LEAKY) {
        __m256 neg = _mm256_mul_ps(v, alpha);
        return _mm256_blendv_ps(neg, v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ));
    }
    return v;
}

/* Loads 8 floats of which the first n (0..8) are valid; the rest read as 0. */
__attribute__((target("avx2,fma"))) static inline __m256 load_part(const float *p, __m256i mask,
                                                                   int n)
{
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

__attribute__((target("avx2,fma"))) static inline void store_part(float *p, __m256i mask, int n,
                                                                  __m256 v)
{
    if (n >= 8) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, mask, v);
}

/* The AVX2 kernel, specialised at compile time for matrix rows (one segment: none of
 * the segment bookkeeping, which cost 1.5-3 % on hot GEMMs) and for rows read in place
 * in segments. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
panel_avx2_body(const struct panel *t, const bool segmented)
{
    /* per panel: column masks of a partial panel (lanes j < n0 of the first vector,
     * < n1 of the second), bias and activation constants */
    const int n0 = t->nr < 8 ? t->nr : 8, n1 = t->nr > 8 ? t->nr - 8 : 0;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n0), lane);
    const __m256i mask1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(n1), lane);
    const bool epilogue = t->flags & UKR_EPILOGUE;
    const bool scalar_act = epilogue && (t->act1 == ACT_SIGMOID || t->act2 == ACT_SIGMOID);
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (epilogue && t->bias) {
        bias0 = load_part(t->bias, mask0, n0);
        if (n1) bias1 = load_part(t->bias + 8, mask1, n1);
    }
    const __m256 alpha1 = _mm256_set1_ps(t->alpha1), alpha2 = _mm256_set1_ps(t->alpha2);
    /* The next panel is prefetched into L2, a slice per tile. Weights come from DRAM
     * once per forward pass; without this the first tile of every panel waits for
     * them (the hardware prefetcher runs only a few lines ahead). Measured in the
     * network: about 2 % off ResNet50. */
    const struct tiling tl = tiling_for(t->m);
    const int nseg = segmented ? t->rows->nseg : 1, seg_len = segmented ? t->rows->seg_len : t->kc;
    /* Panels of at most 3 tiles (a dense layer's single row; the 16-row GEMMs of
     * F(2x2) Winograd on 7x7 maps) use each weight only a few times: they stream
     * weights as fast as DRAM gives them, and a burst of prefetches per tile waits
     * on the memory system. Prefetching 8 KiB ahead inside the k loop keeps it busy
     * instead: a 2048 x 1000 dense layer 17-19 -> 19-22 GB/s (DRAM gives 25-28),
     * the GEMMs of a 7x7 512 -> 512 F(2x2) layer 1.29-1.35 -> 1.15-1.24 ms (paired
     * medians, cold caches). Taller panels gain nothing from it (14x14, 49 rows). */
    const bool stream_pf = tl.tiles <= 3;
    const size_t pf_bytes = stream_pf ? 0 : t->next_b_floats * sizeof(float);
    const size_t pf_step = (pf_bytes / 64 + tl.tiles - 1) / tl.tiles * 64;
    size_t pf = 0;
    for (int ti = 0, i = 0; ti < tl.tiles; ti++) {
    const int mr = ti < tl.extra ? tl.base + 1 : tl.base;
    for (const size_t pf_stop = pf + pf_step; pf < pf_stop && pf < pf_bytes; pf += 64)
        _mm_prefetch((const char *)t->next_b + pf, _MM_HINT_T1);
    int s0, s1, s2, s3, s4, s5;
    const float *a0 = panel_row(t, segmented, i, 0, &s0), *a1 = panel_row(t, segmented, i, 1, &s1),
                *a2 = panel_row(t, segmented, i, 2, &s2), *a3 = panel_row(t, segmented, i, 3, &s3),
                *a4 = panel_row(t, segmented, i, 4, &s4), *a5 = panel_row(t, segmented, i, 5, &s5);
    const float *b = t->b;
    float *ctile = t->c + (size_t)i * t->ldc;
    const float *rtile = t->residual ? t->residual + (size_t)i * t->ldr : NULL;
    i += mr;
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    /* The k loop in assembly: compilers spill here (12 accumulators, 6 row pointers),
     * which costs a third of the peak. Per k: two aligned loads of the B panel, one
     * broadcast of A per row, two FMAs per row; unrolled by two. Tiles of 6, 5 or 4
     * rows: a 4-row tile still has the 8 independent accumulators that two FMA pipes
     * of latency 4 need. Row pointers, B and the pair count travel in one block: the
     * asm has room for only 30 operands and the 12 accumulators take 24. One pass per
     * segment of the rows (one for a matrix; a window's image rows when rows are read
     * in place), the accumulators kept across passes: each output still sums over k in
     * order, so reading in place gives the bits of gathering. */
    for (int seg = 0; seg < nseg; seg++) {
    struct {
        const float *a[GEMM_MR];
        const float *b;
        long pairs;
    } args = {{a0, a1, a2, a3, a4, a5}, b, seg_len / 2};
#define UKR_ROW(areg, off, breg, c0, c1)                                                   \
    "vbroadcastss " off "(%%" areg ",%%rax), %%" breg "\n\t"                              \
    "vfmadd231ps %%ymm12, %%" breg ", %[" c0 "]\n\t"                                       \
    "vfmadd231ps %%ymm13, %%" breg ", %[" c1 "]\n\t"
#define UKR_STEP4(b0, b1, off)                                                              \
    "vmovaps " b0 "(%%r14), %%ymm12\n\t"                                                    \
    "vmovaps " b1 "(%%r14), %%ymm13\n\t"                                                    \
    UKR_ROW("r8", off, "ymm14", "c00", "c01") UKR_ROW("r9", off, "ymm15", "c10", "c11")      \
    UKR_ROW("r10", off, "ymm14", "c20", "c21") UKR_ROW("r11", off, "ymm15", "c30", "c31")
#define UKR_STEP5(b0, b1, off) UKR_STEP4(b0, b1, off) UKR_ROW("r12", off, "ymm14", "c40", "c41")
#define UKR_STEP6(b0, b1, off) UKR_STEP5(b0, b1, off) UKR_ROW("r13", off, "ymm15", "c50", "c51")
#define UKR_PF "prefetcht0 8192(%%r14)\n\tprefetcht0 8256(%%r14)\n\t" /* the 2 lines 8 KiB on */
#define UKR_LOOP(STEP, PF)                                                                  \
    "mov 0(%[args]), %%r8\n\t"                                                              \
    "mov 8(%[args]), %%r9\n\t"                                                              \
    "mov 16(%[args]), %%r10\n\t"                                                            \
    "mov 24(%[args]), %%r11\n\t"                                                            \
    "mov 32(%[args]), %%r12\n\t"                                                            \
    "mov 40(%[args]), %%r13\n\t"                                                            \
    "mov 48(%[args]), %%r14\n\t"                                                            \
    "mov 56(%[args]), %%r15\n\t"                                                            \
    "xor %%eax, %%eax\n\t"                                                                  \
    "test %%r15, %%r15\n\t"                                                                 \
    "jz 2f\n\t"                                                                             \
    "1:\n\t" PF STEP("0", "32", "0") STEP("64", "96", "4")                                       \
    "add $8, %%rax\n\t"                                                                     \
    "add $128, %%r14\n\t"                                                                   \
    "dec %%r15\n\t"                                                                         \
    "jnz 1b\n\t"                                                                            \
    "2:\n\t"
#define UKR_OPERANDS                                                                        \
    : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20),   \
      [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41),   \
      [c50] "+x"(c50), [c51] "+x"(c51)                                                      \
    : [args] "r"(&args)                                                                     \
    : "rax", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "xmm12", "xmm13", "xmm14",  \
      "xmm15", "cc", "memory"
#define UKR_RUN(PF)                                                                         \
    do {                                                                                    \
        if (mr >= 6) __asm__ volatile(UKR_LOOP(UKR_STEP6, PF) UKR_OPERANDS);                \
        else if (mr == 5) __asm__ volatile(UKR_LOOP(UKR_STEP5, PF) UKR_OPERANDS);           \
        else __asm__ volatile(UKR_LOOP(UKR_STEP4, PF) UKR_OPERANDS);                        \
    } while (0)
    if (stream_pf) UKR_RUN(UKR_PF);
    else UKR_RUN("");
#undef UKR_ROW
#undef UKR_STEP4
#undef UKR_STEP5
#undef UKR_STEP6
#undef UKR_LOOP
#undef UKR_RUN
#undef UKR_PF
#undef UKR_OPERANDS
    b += (seg_len & ~1) * GEMM_NR;
    if (seg_len & 1) { /* the odd last k */
        const int k = seg_len - 1;
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 av = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a1 + k);
        c10 = _mm256_fmadd_ps(av, b0, c10);
        c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a2 + k);
        c20 = _mm256_fmadd_ps(av, b0, c20);
        c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a3 + k);
        c30 = _mm256_fmadd_ps(av, b0, c30);
        c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a4 + k);
        c40 = _mm256_fmadd_ps(av, b0, c40);
        c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a5 + k);
        c50 = _mm256_fmadd_ps(av, b0, c50);
        c51 = _mm256_fmadd_ps(av, b1, c51);
        b += GEMM_NR;
    }
    a0 += s0;
    a1 += s1;
    a2 += s2;
    a3 += s3;
    a4 += s4;
    a5 += s5;
    }
    __m256 acc[GEMM_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                              {c30, c31}, {c40, c41}, {c50, c51}};
    for (int r = 0; r < mr; r++) {
        float *row = ctile + (size_t)r * t->ldc;
        __m256 v0 = acc[r][0], v1 = acc[r][1];
        if (t->flags & UKR_ACCUMULATE) {
            v0 = _mm256_add_ps(v0, load_part(row, mask0, n0));
            if (n1) v1 = _mm256_add_ps(v1, load_part(row + 8, mask1, n1));
        }
        if (epilogue && !scalar_act) {
            v0 = act_avx2(_mm256_add_ps(v0, bias0), t->act1, alpha1);
            v1 = act_avx2(_mm256_add_ps(v1, bias1), t->act1, alpha1);
            if (t->residual) {
                const float *res = rtile + (size_t)r * t->ldr;
                v0 = _mm256_add_ps(v0, load_part(res, mask0, n0));
                if (n1) v1 = _mm256_add_ps(v1, load_part(res + 8, mask1, n1));
            }
            v0 = act_avx2(v0, t->act2, alpha2);
            v1 = act_avx2(v1, t->act2, alpha2);
        }
        store_part(row, mask0, n0, v0);
        if (n1) store_part(row + 8, mask1, n1, v1);
    }
    if (scalar_act) /* rare (sigmoid is never fused in our models): finish lane by lane */
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < t->nr; j++) {
                float *dst = &ctile[(size_t)r * t->ldc + j];
                float v = *dst;
                if (t->bias) v += t->bias[j];
                v = act_apply(t->act1, t->alpha1, v);
                if (rtile) v += rtile[(size_t)r * t->ldr + j];
                *dst = act_apply(t->act2, t->alpha2, v);
            }
    }
}

__attribute__((target("avx2,fma"))) static void panel_avx2(const struct panel *t)
{
    panel_avx2_body(t, false);
}

__attribute__((target("avx2,fma"))) static void panel_avx2_rows(const struct panel *t)
{
    panel_avx2_body(t, true);
}

/* The kernel for this CPU, for matrix rows or (segmented) rows read in place. */
static panel_fn select_kernel(bool segmented)
{
    static int avx2 = -1;
    if (avx2 < 0) {
        __builtin_cpu_init();
        avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    if (!avx2) return panel_generic;
    return segmented ? panel_avx2_rows : panel_avx2;
}

const char *gemm_kernel_name(void)
{
    return select_kernel(false) == panel_avx2 ? "avx2-fma 6/5/4x16" : "generic 6x16";
}

/* ---------------------------------------------------------------- driver -- */

size_t gemm_scratch_per_thread(void)
{
    return (size_t)((GEMM_MC_MAX + GEMM_MR - 1) / GEMM_MR * GEMM_MR) * GEMM_KC + 16;
}

void gemm_block(const struct gemm_a *a, int m0, int mc, const struct gemm_b *b, int n0, int nc,
                float *c, int ldc, const struct epilogue *ep, float *scratch)
{
    const panel_fn kernel = select_kernel(false), kernel_rows = select_kernel(true);
    const int n_end = n0 + nc < b->n ? n0 + nc : b->n;
    struct panel p;
    struct a_rows rows;
    p.m = mc;
    p.ldc = ldc;
    p.ldr = ep ? ep->ldr : 0;
    p.act1 = ep ? ep->act1 : ACT_LINEAR;
    p.act2 = ep ? ep->act2 : ACT_LINEAR;
    p.alpha1 = ep ? ep->alpha1 : 0;
    p.alpha2 = ep ? ep->alpha2 : 0;
    /* The residual is C itself: with several K blocks, C starts as the residual and
     * every block adds into it (act1 is linear, see gemm.h); with one block the store
     * of each row follows the read of its residual, as always. */
    const bool add_into_residual = ep && ep->residual == c && ep->ldr == ldc && b->kc < b->k;
    for (int k0 = 0; k0 < b->k; k0 += b->kc) {
        const int kc = b->k - k0 < b->kc ? b->k - k0 : b->kc;
        p.rows = NULL;
        if (a->kind == GEMM_A_IM2COL && a->in_place &&
            rows_in_place(a->win, a->data, m0, mc, k0, kc, scratch, &rows)) {
            p.rows = &rows;
        } else if (a->kind == GEMM_A_IM2COL) {
            pack_a_im2col(a->win, a->data, m0, mc, k0, kc, scratch);
            p.a = scratch;
            p.lda = (size_t)kc;
        } else {
            p.a = a->data + (size_t)m0 * a->lda + k0;
            p.lda = (size_t)a->lda;
        }
        const float *bblock = b->data + (size_t)k0 * b->n_padded;
        p.kc = kc;
        p.flags = (k0 > 0 || add_into_residual ? UKR_ACCUMULATE : 0) |
                  (k0 + kc == b->k && ep ? UKR_EPILOGUE : 0);
        for (int j = n0; j < n_end; j += GEMM_NR) {
            p.b = bblock + (size_t)(j / GEMM_NR) * kc * GEMM_NR;
            p.nr = n_end - j < GEMM_NR ? n_end - j : GEMM_NR;
            p.bias = ep && ep->bias ? ep->bias + j : NULL;
            p.c = c + (size_t)m0 * ldc + j;
            p.residual = ep && ep->residual && !add_into_residual
                             ? ep->residual + (size_t)m0 * ep->ldr + j
                             : NULL;
            /* the panel this call uses next (the kernel prefetches it) */
            if (j + GEMM_NR < n_end) {
                p.next_b = p.b + (size_t)kc * GEMM_NR;
                p.next_b_floats = (size_t)kc * GEMM_NR;
            } else if (k0 + kc < b->k) {
                const int kc_next = b->k - (k0 + kc) < b->kc ? b->k - (k0 + kc) : b->kc;
                p.next_b = b->data + (size_t)(k0 + kc) * b->n_padded +
                           (size_t)(n0 / GEMM_NR) * kc_next * GEMM_NR;
                p.next_b_floats = (size_t)kc_next * GEMM_NR;
            } else {
                p.next_b = NULL;
                p.next_b_floats = 0;
            }
            (p.rows ? kernel_rows : kernel)(&p);
        }
    }
}

/* First row of thread t's share when m rows are split between nt threads: equal
 * shares (tiles of 4 to 6 rows cover any count; rounding the shares to whole 6-row
 * tiles gave one thread of ResNet50's 14x14 stage 96 rows and the other 100). */
static int row_split(int m, int t, int nt)
{
    return t >= nt ? m : (int)((long)m * t / nt);
}

int share_queue_test_offset = 0;

/* Units of a thread's share of many rows (see share_queue.h): row blocks of GEMM_MC
 * rows (the last up to GEMM_MC_MAX: a block of a few rows would stream every weight
 * panel again for them), each cut into column chunks so that a share has at least
 * GEMM_SHARE_UNITS units: a thread that is done takes a small piece of the other's
 * work, not a whole block. */
#define GEMM_SHARE_UNITS 16

struct row_share {
    int r0, r1;     /* rows */
    int blocks;     /* row blocks */
    int chunks;     /* column chunks per block */
};

static struct row_share row_share_of(int m, int t, int nt, int panels)
{
    struct row_share s = {row_split(m, t, nt), row_split(m, t + 1, nt), 0, 0};
    const int len = s.r1 - s.r0;
    s.blocks = len <= GEMM_MC_MAX ? 1 : 1 + (len - GEMM_MC_MAX + GEMM_MC - 1) / GEMM_MC;
    s.chunks = (GEMM_SHARE_UNITS + s.blocks - 1) / s.blocks;
    if (s.chunks > panels) s.chunks = panels;
    return s;
}

void gemm_run(const struct gemm_a *a, int m, const struct gemm_b *b, float *c, int ldc,
              const struct epilogue *ep, float *scratch, int max_threads)
{
    int threads = omp_get_max_threads();
    if (threads > max_threads) threads = max_threads;
    if (threads < 1) threads = 1;
    const size_t per_thread = gemm_scratch_per_thread();
    const int panels = b->n_padded / GEMM_NR;
    if (threads > 1 && m >= threads * GEMM_MC) {
        /* Many rows: each thread takes one contiguous range of them, block by block, and
         * then helps with the end of the others' ranges (share_queue.h). A conv's row
         * is an output pixel, and the layer before wrote the same pixels on the same
         * thread (here or in winograd_conv), so the activations stay in that core's
         * caches. Measured against a dynamic schedule of blocks and column ranges
         * (paired runs in the network): 3-5 % off ResNet50, 2 % off YOLOv3; the
         * queues then took 0.3-4 % off ResNet50 and 2-4 % off YOLOv3 (the threads
         * wait less for each other at the end of a layer). */
        struct share_queue queue[threads];
        for (int t = 0; t < threads; t++) { /* (a smaller team takes the rest from the back) */
            const struct row_share s = row_share_of(m, t, threads, panels);
            share_queue_init(&queue[t], s.blocks * s.chunks);
        }
#pragma omp parallel num_threads(threads)
        {
            const int tid = omp_get_thread_num();
            float *pa = scratch + (size_t)tid * per_thread;
            int k = 0, owner, unit;
            while (share_queue_next(queue, tid, threads, &k, &owner, &unit)) {
                const struct row_share s = row_share_of(m, owner, threads, panels);
                const int blk = unit / s.chunks, ch = unit % s.chunks;
                const int m0 = s.r0 + blk * GEMM_MC;
                const int mc = blk == s.blocks - 1 ? s.r1 - m0 : GEMM_MC;
                const int p0 = panels * ch / s.chunks, p1 = panels * (ch + 1) / s.chunks;
                gemm_block(a, m0, mc, b, p0 * GEMM_NR, (p1 - p0) * GEMM_NR, c, ldc, ep, pa);
            }
        }
        return;
    }
    /* Few rows: the columns are split too, into enough tasks to balance the threads
     * (16 per thread: with 4, a thread still waited for the other's last task) */
    const int mblocks = (m + GEMM_MC - 1) / GEMM_MC;
    int nsplit = 1;
    if (threads > 1 && mblocks < GEMM_SHARE_UNITS * threads)
        nsplit = (GEMM_SHARE_UNITS * threads + mblocks - 1) / mblocks;
    if (nsplit > panels) nsplit = panels;
    const int tasks = mblocks * nsplit;
#pragma omp parallel num_threads(threads) if (tasks > 1)
    {
        float *pa = scratch + (size_t)omp_get_thread_num() * per_thread;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tasks; t++) {
            const int mb = t / nsplit, ns = t % nsplit;
            const int m0 = mb * GEMM_MC;
            const int mc = m - m0 < GEMM_MC ? m - m0 : GEMM_MC;
            const int p0 = panels * ns / nsplit, p1 = panels * (ns + 1) / nsplit;
            if (p1 > p0)
                gemm_block(a, m0, mc, b, p0 * GEMM_NR, (p1 - p0) * GEMM_NR, c, ldc, ep, pa);
        }
    }
}
