/* gemm.c - packed SGEMM: B packed at load time, A packed per block (from a matrix
 * or straight from an NHWC input through the implicit im2col view), a 6x16 AVX2/FMA
 * micro-kernel (generic C elsewhere) whose store applies the fused epilogue. */
#include "gemm.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ B -- */

int gemm_pack_b(const float *b, int k, int n, int ldb, struct gemm_b *out)
{
    const int np = (n + GEMM_NR - 1) / GEMM_NR * GEMM_NR;
    float *d = NULL;
    if (posix_memalign((void **)&d, 64, (size_t)k * np * sizeof(float) + 64) != 0) return -1;
    for (int k0 = 0; k0 < k; k0 += GEMM_KC) {
        const int kc = k - k0 < GEMM_KC ? k - k0 : GEMM_KC;
        float *block = d + (size_t)k0 * np;
        for (int j0 = 0; j0 < np; j0 += GEMM_NR) {
            float *panel = block + (size_t)(j0 / GEMM_NR) * kc * GEMM_NR;
            for (int kk = 0; kk < kc; kk++)
                for (int j = 0; j < GEMM_NR; j++)
                    panel[kk * GEMM_NR + j] = j0 + j < n ? b[(size_t)(k0 + kk) * ldb + j0 + j] : 0.0f;
        }
    }
    *out = (struct gemm_b){k, n, np, d};
    return 0;
}

void gemm_b_free(struct gemm_b *b)
{
    if (!b) return;
    free(b->data);
    b->data = NULL;
}

/* ------------------------------------------------------------------ A -- */

/* Gathers rows [m0, m0+mc) and columns [k0, k0+kc) of the im2col view of an NHWC
 * input into dst, row-major with row stride kc: each (ky, kx) segment of a row is a
 * contiguous run of input channels (or zeros on padding), so this is a few memcpys
 * per row. Rows up to the next multiple of GEMM_MR past mc are zeroed. */
static void pack_a_im2col(const struct window_desc *d, const float *in, int m0, int mc, int k0,
                          int kc, float *dst)
{
    const int rows = (mc + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
    const int kend = k0 + kc;
    for (int r = 0; r < rows; r++) {
        float *out = dst + (size_t)r * kc;
        if (r >= mc) {
            memset(out, 0, (size_t)kc * sizeof(float));
            continue;
        }
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
                memset(out + (k - k0), 0, (size_t)run * sizeof(float));
            } else if (x >= 0 && x0 + d->kw <= d->w) {
                run = row_len - within;
                if (run > kend - k) run = kend - k;
                memcpy(out + (k - k0), in + ((size_t)y * d->w + x) * d->c + within % d->c,
                       (size_t)run * sizeof(float));
            } else {
                const int ci = within % d->c;
                run = d->c - ci < kend - k ? d->c - ci : kend - k;
                if (x < 0 || x >= d->w)
                    memset(out + (k - k0), 0, (size_t)run * sizeof(float));
                else
                    memcpy(out + (k - k0), in + ((size_t)y * d->w + x) * d->c + ci,
                           (size_t)run * sizeof(float));
            }
            k += run;
        }
    }
}

/* ---------------------------------------------------------- micro-kernels -- */

enum { UKR_ACCUMULATE = 1, UKR_EPILOGUE = 2 };

/* Epilogue of one tile: pointers already offset to the tile's first row/column. */
struct tile_ep {
    const float *bias;     /* column-indexed, NULL if none */
    enum act_type act1, act2;
    float alpha1, alpha2;
    const float *residual; /* row stride ldr, NULL if none */
    int ldr;
};

/* Scalar epilogue over an mr x nr tile of c (row stride ldc). */
static void tile_epilogue_scalar(float *c, int ldc, int mr, int nr, const struct tile_ep *e)
{
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float v = c[(size_t)i * ldc + j];
            if (e->bias) v += e->bias[j];
            v = act_apply(e->act1, e->alpha1, v);
            if (e->residual) v += e->residual[(size_t)i * e->ldr + j];
            c[(size_t)i * ldc + j] = act_apply(e->act2, e->alpha2, v);
        }
}

/* A micro-kernel computes a full GEMM_MR x GEMM_NR tile: row i of A is a + i*lda
 * (kc values), B is one packed panel (kc x GEMM_NR). */
typedef void (*ukr_fn)(int kc, const float *a, int lda, const float *b, float *c, int ldc,
                       int flags, const struct tile_ep *e);

/* Portable C micro-kernel. */
static void ukr_generic(int kc, const float *a, int lda, const float *b, float *c, int ldc,
                        int flags, const struct tile_ep *e)
{
    float acc[GEMM_MR][GEMM_NR] = {{0}};
    for (int k = 0; k < kc; k++)
        for (int i = 0; i < GEMM_MR; i++)
            for (int j = 0; j < GEMM_NR; j++) acc[i][j] += a[(size_t)i * lda + k] * b[k * GEMM_NR + j];
    for (int i = 0; i < GEMM_MR; i++)
        for (int j = 0; j < GEMM_NR; j++) {
            float *dst = &c[(size_t)i * ldc + j];
            *dst = (flags & UKR_ACCUMULATE) ? *dst + acc[i][j] : acc[i][j];
        }
    if (flags & UKR_EPILOGUE) tile_epilogue_scalar(c, ldc, GEMM_MR, GEMM_NR, e);
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

__attribute__((target("avx2,fma"))) static void ukr_avx2(int kc, const float *a, int lda,
                                                        const float *b, float *c, int ldc,
                                                        int flags, const struct tile_ep *e)
{
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * (size_t)lda, *a3 = a + 3 * (size_t)lda;
    const float *a4 = a + 4 * (size_t)lda, *a5 = a + 5 * (size_t)lda;
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
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
    __m256 acc[GEMM_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                              {c30, c31}, {c40, c41}, {c50, c51}};
    const bool vector_ep = (flags & UKR_EPILOGUE) && e->act1 != ACT_SIGMOID && e->act2 != ACT_SIGMOID;
    __m256 bias0 = _mm256_setzero_ps(), bias1 = _mm256_setzero_ps();
    if (vector_ep && e->bias) {
        bias0 = _mm256_loadu_ps(e->bias);
        bias1 = _mm256_loadu_ps(e->bias + 8);
    }
    const __m256 alpha1 = _mm256_set1_ps(vector_ep ? e->alpha1 : 0);
    const __m256 alpha2 = _mm256_set1_ps(vector_ep ? e->alpha2 : 0);
    for (int i = 0; i < GEMM_MR; i++) {
        float *row = c + (size_t)i * ldc;
        __m256 v0 = acc[i][0], v1 = acc[i][1];
        if (flags & UKR_ACCUMULATE) {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(row));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(row + 8));
        }
        if (vector_ep) {
            v0 = act_avx2(_mm256_add_ps(v0, bias0), e->act1, alpha1);
            v1 = act_avx2(_mm256_add_ps(v1, bias1), e->act1, alpha1);
            if (e->residual) {
                const float *res = e->residual + (size_t)i * e->ldr;
                v0 = _mm256_add_ps(v0, _mm256_loadu_ps(res));
                v1 = _mm256_add_ps(v1, _mm256_loadu_ps(res + 8));
            }
            v0 = act_avx2(v0, e->act2, alpha2);
            v1 = act_avx2(v1, e->act2, alpha2);
        }
        _mm256_storeu_ps(row, v0);
        _mm256_storeu_ps(row + 8, v1);
    }
    if ((flags & UKR_EPILOGUE) && !vector_ep) tile_epilogue_scalar(c, ldc, GEMM_MR, GEMM_NR, e);
}

static ukr_fn select_kernel(void)
{
    static ukr_fn chosen;
    if (!chosen) {
        __builtin_cpu_init();
        chosen = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? ukr_avx2
                                                                                    : ukr_generic;
    }
    return chosen;
}

const char *gemm_kernel_name(void)
{
    return select_kernel() == ukr_avx2 ? "avx2-fma 6x16" : "generic 6x16";
}

/* Runs the micro-kernel on a tile that may be partial (mr < MR or nr < NR) through
 * a full-size local tile. */
static void ukr_edge(ukr_fn ukr, int kc, const float *a, int lda, const float *b, float *c, int ldc,
                     int mr, int nr, int flags, const struct tile_ep *e)
{
    float tile[GEMM_MR * GEMM_NR] __attribute__((aligned(64)));
    float bias[GEMM_NR], res[GEMM_MR * GEMM_NR];
    struct tile_ep local = *e;
    for (int i = 0; i < GEMM_MR; i++)
        for (int j = 0; j < GEMM_NR; j++)
            tile[i * GEMM_NR + j] = (flags & UKR_ACCUMULATE) && i < mr && j < nr ? c[(size_t)i * ldc + j] : 0.0f;
    if ((flags & UKR_EPILOGUE) && e->bias) {
        for (int j = 0; j < GEMM_NR; j++) bias[j] = j < nr ? e->bias[j] : 0.0f;
        local.bias = bias;
    }
    if ((flags & UKR_EPILOGUE) && e->residual) {
        for (int i = 0; i < GEMM_MR; i++)
            for (int j = 0; j < GEMM_NR; j++)
                res[i * GEMM_NR + j] = i < mr && j < nr ? e->residual[(size_t)i * e->ldr + j] : 0.0f;
        local.residual = res;
        local.ldr = GEMM_NR;
    }
    ukr(kc, a, lda, b, tile, GEMM_NR, flags, &local);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) c[(size_t)i * ldc + j] = tile[i * GEMM_NR + j];
}

/* ---------------------------------------------------------------- driver -- */

size_t gemm_scratch_per_thread(void)
{
    return (size_t)((GEMM_MC + GEMM_MR - 1) / GEMM_MR * GEMM_MR) * GEMM_KC + 16;
}

/* Rows [m0 + i, m0 + i + GEMM_MR) of A for columns [k0, k0+kc): a pointer and row
 * stride, copying into pad (zero-filled past the last row) when the tile is partial. */
static const float *a_rows(const struct gemm_a *a, const float *packed, int m0, int mc, int i,
                           int k0, int kc, float *pad, int *lda)
{
    if (a->kind == GEMM_A_IM2COL) {
        *lda = kc;
        return packed + (size_t)i * kc;
    }
    const float *src = a->data + (size_t)(m0 + i) * a->lda + k0;
    if (mc - i >= GEMM_MR) {
        *lda = a->lda;
        return src;
    }
    for (int r = 0; r < GEMM_MR; r++)
        for (int k = 0; k < kc; k++) pad[r * kc + k] = r < mc - i ? src[(size_t)r * a->lda + k] : 0.0f;
    *lda = kc;
    return pad;
}

void gemm_block(const struct gemm_a *a, int m0, int mc, const struct gemm_b *b, int n0, int nc,
                float *c, int ldc, const struct epilogue *ep, float *scratch)
{
    const ukr_fn ukr = select_kernel();
    float pad[GEMM_MR * GEMM_KC] __attribute__((aligned(64)));
    const int n_end = n0 + nc < b->n ? n0 + nc : b->n;
    for (int k0 = 0; k0 < b->k; k0 += GEMM_KC) {
        const int kc = b->k - k0 < GEMM_KC ? b->k - k0 : GEMM_KC;
        if (a->kind == GEMM_A_IM2COL) pack_a_im2col(a->win, a->data, m0, mc, k0, kc, scratch);
        const float *bblock = b->data + (size_t)k0 * b->n_padded;
        const int flags = (k0 > 0 ? UKR_ACCUMULATE : 0) | (k0 + kc == b->k && ep ? UKR_EPILOGUE : 0);
        for (int j = n0; j < n_end; j += GEMM_NR) {
            const float *bp = bblock + (size_t)(j / GEMM_NR) * kc * GEMM_NR;
            const int nr = n_end - j < GEMM_NR ? n_end - j : GEMM_NR;
            for (int i = 0; i < mc; i += GEMM_MR) {
                const int mr = mc - i < GEMM_MR ? mc - i : GEMM_MR;
                int lda;
                const float *ap = a_rows(a, scratch, m0, mc, i, k0, kc, pad, &lda);
                float *cp = c + (size_t)(m0 + i) * ldc + j;
                struct tile_ep te = {0};
                if (ep) {
                    te = (struct tile_ep){ep->bias ? ep->bias + j : NULL, ep->act1, ep->act2,
                                          ep->alpha1, ep->alpha2,
                                          ep->residual ? ep->residual + (size_t)(m0 + i) * ep->ldr + j
                                                       : NULL,
                                          ep->ldr};
                }
                if (mr == GEMM_MR && nr == GEMM_NR) ukr(kc, ap, lda, bp, cp, ldc, flags, &te);
                else ukr_edge(ukr, kc, ap, lda, bp, cp, ldc, mr, nr, flags, &te);
            }
        }
    }
}

void gemm_run(const struct gemm_a *a, int m, const struct gemm_b *b, float *c, int ldc,
              const struct epilogue *ep, float *scratch, int max_threads)
{
    int threads = omp_get_max_threads();
    if (threads > max_threads) threads = max_threads;
    if (threads < 1) threads = 1;
    const int mblocks = (m + GEMM_MC - 1) / GEMM_MC;
    const int panels = b->n_padded / GEMM_NR;
    /* enough tasks to balance the threads: split the columns when rows are few */
    int nsplit = 1;
    if (mblocks < 4 * threads) nsplit = (4 * threads + mblocks - 1) / mblocks;
    if (nsplit > panels) nsplit = panels;
    const int tasks = mblocks * nsplit;
    const size_t per_thread = gemm_scratch_per_thread();
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
