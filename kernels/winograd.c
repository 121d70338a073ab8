/* winograd.c - F(4x4,3x3) and F(2x2,3x3) convolution: kernel transform at load,
 * tiled input transform, (m+2)^2 GEMMs, output transform with the fused epilogue. */
#include "winograd.h"
#include "share_queue.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Channels handled together by the transforms (one AVX2 vector). */
#define WG_VEC 8
#define WG_MAX_ALPHA 6

/* -------------------------------------------------------------- matrices -- */

/* G (alpha x 3), kernel transform. */
static const double g_f4[6][3] = {{1.0 / 4, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
static const double g_f2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};

/* Eight channels at once: GCC vector extensions compile to one AVX2 register (or two
 * SSE registers in the generic clone). */
typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4))); /* unaligned access */

static inline v8 load8(const float *p) { return *(const v8u *)p; }
static inline void store8(float *p, v8 v) { *(v8u *)p = v; }

/* B^T d for one line of alpha inputs. */
static inline void bt6(const v8 *d, int stride, v8 *r, int rstride)
{
    const v8 d0 = d[0], d1 = d[stride], d2 = d[2 * stride], d3 = d[3 * stride],
             d4 = d[4 * stride], d5 = d[5 * stride];
    r[0] = 4 * d0 - 5 * d2 + d4;
    r[rstride] = -4 * d1 - 4 * d2 + d3 + d4;
    r[2 * rstride] = 4 * d1 - 4 * d2 - d3 + d4;
    r[3 * rstride] = -2 * d1 - d2 + 2 * d3 + d4;
    r[4 * rstride] = 2 * d1 - d2 - 2 * d3 + d4;
    r[5 * rstride] = 4 * d1 - 5 * d3 + d5;
}

static inline void bt4(const v8 *d, int stride, v8 *r, int rstride)
{
    const v8 d0 = d[0], d1 = d[stride], d2 = d[2 * stride], d3 = d[3 * stride];
    r[0] = d0 - d2;
    r[rstride] = d1 + d2;
    r[2 * rstride] = d2 - d1;
    r[3 * rstride] = d1 - d3;
}

/* A^T m for one line of alpha values. */
static inline void at6(const v8 *m, int stride, v8 *o, int ostride)
{
    const v8 m0 = m[0], m1 = m[stride], m2 = m[2 * stride], m3 = m[3 * stride],
             m4 = m[4 * stride], m5 = m[5 * stride];
    const v8 s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    o[0] = m0 + s12 + s34;
    o[ostride] = d12 + 2 * d34;
    o[2 * ostride] = s12 + 4 * s34;
    o[3 * ostride] = d12 + 8 * d34 + m5;
}

static inline void at4(const v8 *m, int stride, v8 *o, int ostride)
{
    const v8 m0 = m[0], m1 = m[stride], m2 = m[2 * stride], m3 = m[3 * stride];
    o[0] = m0 + m1 + m2;
    o[ostride] = m1 - m2 - m3;
}

/* Activation on eight values (not softmax; sigmoid is done lane by lane). */
static inline v8 act8(v8 v, enum act_type act, float alpha)
{
    const v8 zero = {0};
    if (act == ACT_RELU) {
        v8i keep = v > zero;
        return (v8)((v8i)v & keep);
    }
    if (act == ACT_LEAKY) {
        v8i keep = v > zero;
        v8 neg = v * alpha;
        return (v8)(((v8i)v & keep) | ((v8i)neg & ~keep));
    }
    if (act == ACT_SIGMOID)
        for (int c = 0; c < 8; c++) v[c] = act_apply(act, alpha, v[c]);
    return v;
}

/* ------------------------------------------------------- kernel transform -- */

/* One packed panel of every position: input channels [k0, k0+kc) (a K block) and
 * output channels [co0, co0+GEMM_NR), in the order they lie in memory, so that a
 * freshly allocated panel is filled front to back (written column by column across
 * all panels, the same fill ran about twice as slowly: every 64-byte store landed on
 * another page).
 * u[pos][ci][co] = scale[co] * sum_{a,b} G[i][a] g[a][b][ci][co] G[j][b], in single
 * precision: a few short sums with exact-ish coefficients, whose rounding (~1e-7
 * relative) is far below Winograd's own error. Columns past cout come out zero. */
__attribute__((target_clones("avx2", "default"))) static void
transform_panel(const float *kernel, int cin, int cout, int alpha, const float (*gf)[3],
                const float *scale, const struct winograd_weights *w, int k0, int kc, int co0)
{
    const int n = cout - co0 < GEMM_NR ? cout - co0 : GEMM_NR;
    const v8 zero = {0};
    v8 sc[2] = {zero, zero};
    for (int c = 0; c < n; c++) sc[c / 8][c % 8] = scale[co0 + c];
    for (int ci = k0; ci < k0 + kc; ci++) {
        v8 g[9][2]; /* g[a*3+b] = kernel row (a, b, ci), columns co0.. */
        for (int ab = 0; ab < 9; ab++) {
            const float *src = kernel + ((size_t)ab * cin + ci) * cout + co0;
            if (n == GEMM_NR) {
                g[ab][0] = load8(src);
                g[ab][1] = load8(src + 8);
            } else {
                g[ab][0] = g[ab][1] = zero;
                for (int c = 0; c < n; c++) g[ab][c / 8][c % 8] = src[c];
            }
        }
        v8 gk[WG_MAX_ALPHA][3][2]; /* gk[i][b] = sum_a G[i][a] g[a][b] */
        for (int i = 0; i < alpha; i++)
            for (int b2 = 0; b2 < 3; b2++)
                for (int h = 0; h < 2; h++)
                    gk[i][b2][h] = gf[i][0] * g[0 * 3 + b2][h] + gf[i][1] * g[1 * 3 + b2][h] +
                                   gf[i][2] * g[2 * 3 + b2][h];
        const size_t at = gemm_packed_index(&w->u[0], ci, co0); /* same for every position */
        for (int i = 0; i < alpha; i++)
            for (int j = 0; j < alpha; j++) {
                float *dst = w->u[i * alpha + j].data + at;
                for (int h = 0; h < 2; h++)
                    store8(dst + 8 * h, (gk[i][0][h] * gf[j][0] + gk[i][1][h] * gf[j][1] +
                                         gk[i][2][h] * gf[j][2]) *
                                            sc[h]);
            }
    }
}

int winograd_prepare(const float *kernel, int cin, int cout, int m, const double *col_scale,
                     const struct side_job *side, struct winograd_weights *w)
{
    memset(w, 0, sizeof *w);
    const int alpha = m + 2, npos = alpha * alpha;
    const double(*g)[3] = m == 4 ? g_f4 : (const double(*)[3])g_f2;
    float *scale = NULL;
    if (m != 2 && m != 4) goto fail;
    w->u = calloc((size_t)npos, sizeof *w->u);
    scale = malloc(sizeof(float) * (size_t)cout);
    if (!w->u || !scale) goto fail;
    w->m = m;
    w->alpha = alpha;
    w->cin = cin;
    w->cout = cout;
    for (int pos = 0; pos < npos; pos++)
        if (gemm_b_alloc(cin, cout, &w->u[pos]) != 0) goto fail;
    for (int co = 0; co < cout; co++) scale[co] = col_scale ? (float)col_scale[co] : 1.0f;
    float gf[WG_MAX_ALPHA][3];
    for (int i = 0; i < alpha; i++)
        for (int a = 0; a < 3; a++) gf[i][a] = (float)g[i][a];
    const int kc = w->u[0].kc, kblocks = (cin + kc - 1) / kc;
    const int panels = w->u[0].n_padded / GEMM_NR, tasks = kblocks * panels;
#pragma omp parallel
    {
#pragma omp single nowait
        side_job_run(side);
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < tasks; task++) {
            const int k0 = task / panels * kc;
            transform_panel(kernel, cin, cout, alpha, (const float(*)[3])gf, scale, w, k0,
                            cin - k0 < kc ? cin - k0 : kc, task % panels * GEMM_NR);
        }
    }
    free(scale);
    return 0;
fail:
    side_job_run(side);
    free(scale);
    winograd_free(w);
    return -1;
}

void winograd_free(struct winograd_weights *w)
{
    if (!w || !w->u) return;
    for (int pos = 0; pos < w->alpha * w->alpha; pos++) gemm_b_free(&w->u[pos]);
    free(w->u);
    memset(w, 0, sizeof *w);
}

/* --------------------------------------------------------------- blocking -- */

struct wg_layout {
    int tiles_h, tiles_w, tiles; /* output tile grid */
    bool private_blocks;         /* each thread transforms its own tiles (else all share a block) */
    int block;                   /* tiles transformed together */
    size_t v_floats, m_floats;   /* per block */
};

/* Budget for one block's transformed input and products. Shared blocks (few tiles, all
 * threads work on one block) may use most of the L3 so that the (m+2)^2 GEMMs are big
 * enough to reuse each packed weight panel; private blocks (many tiles, each thread on
 * its own) are smaller, and keep every thread's data in its own core's caches: moving
 * activations between cores is expensive on these machines. */
#define WG_SHARED_BLOCK_BYTES (8u << 20)
#define WG_PRIVATE_BLOCK_BYTES (3u << 20)
#define WG_PRIVATE_MIN_TILES 64 /* tiles per thread for private blocks */
#define WG_SHARED_TASKS 16      /* GEMM tasks per thread in shared blocks */

static struct wg_layout layout_for(const struct window_desc *d, const struct winograd_weights *w,
                                   int threads)
{
    struct wg_layout L;
    L.tiles_h = (d->oh + w->m - 1) / w->m;
    L.tiles_w = (d->ow + w->m - 1) / w->m;
    L.tiles = L.tiles_h * L.tiles_w;
    const size_t npos = (size_t)w->alpha * w->alpha;
    const size_t per_tile = npos * (size_t)(w->cin + w->cout) * sizeof(float);
    L.private_blocks = threads > 1 && L.tiles / threads >= WG_PRIVATE_MIN_TILES;
    size_t budget = w->block_bytes ? w->block_bytes
                    : L.private_blocks ? WG_PRIVATE_BLOCK_BYTES
                                       : WG_SHARED_BLOCK_BYTES;
    int block = (int)(budget / per_tile);
    if (block < GEMM_MR) block = GEMM_MR;
    const int span = L.private_blocks ? (L.tiles + threads - 1) / threads : L.tiles;
    if (block > span) block = span;
    const int blocks = (span + block - 1) / block;
    L.block = (span + blocks - 1) / blocks; /* even blocks */
    L.v_floats = npos * (size_t)L.block * w->cin;
    L.m_floats = npos * (size_t)L.block * w->cout;
    return L;
}

/* Items in part t of n items cut into nt nearly equal parts (part t starts at
 * n * t / nt). */
static int part_len(int n, int t, int nt)
{
    return n * (t + 1) / nt - n * t / nt;
}

/* Thread tid of a team of nt sets the queues of its shares among `threads` to the
 * parts of n units (part_len): the team sets them all, whatever its size. */
static void share_parts_init(struct share_queue *q, int n, int tid, int nt, int threads)
{
    for (int t = tid; t < threads; t += nt) share_queue_init(&q[t], part_len(n, t, threads));
}

/* Tiles in shared block b. */
static int block_tiles(const struct wg_layout *L, int b)
{
    const int t0 = b * L->block;
    return L->tiles - t0 < L->block ? L->tiles - t0 : L->block;
}

/* Thread t's share of the tiles in private blocks, and the blocks it is cut into:
 * at least WG_SHARE_BLOCKS (so that a thread that is done can take a small piece of
 * the other's work), each at most L->block tiles. */
#define WG_SHARE_BLOCKS 4

struct tile_share {
    int first, last, blocks;
};

static struct tile_share tile_share_of(const struct wg_layout *L, int t, int nt)
{
    struct tile_share s = {(int)((long)L->tiles * t / nt), (int)((long)L->tiles * (t + 1) / nt), 0};
    const int len = s.last - s.first;
    int per_block = (len + WG_SHARE_BLOCKS - 1) / WG_SHARE_BLOCKS;
    if (per_block > L->block) per_block = L->block;
    if (per_block < 1) per_block = 1;
    s.blocks = (len + per_block - 1) / per_block;
    return s;
}

size_t winograd_scratch(const struct window_desc *d, const struct winograd_weights *w,
                        int max_threads)
{
    size_t need = 0;
    for (int t = 1; t <= max_threads; t++) { /* whatever thread count a run uses */
        struct wg_layout L = layout_for(d, w, t);
        size_t one = L.v_floats + L.m_floats + 64;
        size_t total = L.private_blocks ? one * (size_t)t : one;
        if (total > need) need = total;
    }
    return need;
}

/* ---------------------------------------------------------- transforms -- */

/* B^T d B of one alpha x alpha patch of eight channels, element (i, j) at
 * src + i * rs + j * cs, into position i * alpha + j at dst + (i * alpha + j) * ps:
 * a column pass, then a row pass whose results go straight to V. With alpha a
 * constant after inlining, only a column (or row) of vectors is live at a time. */
static inline void bt_patch(int alpha, const float *src, size_t rs, size_t cs, float *dst,
                            size_t ps)
{
    v8 tmp[WG_MAX_ALPHA * WG_MAX_ALPHA], d[WG_MAX_ALPHA], r[WG_MAX_ALPHA];
    for (int j = 0; j < alpha; j++) {
        for (int i = 0; i < alpha; i++) d[i] = load8(src + i * rs + j * cs);
        if (alpha == 6) bt6(d, 1, &tmp[j], 6);
        else bt4(d, 1, &tmp[j], 4);
    }
    for (int i = 0; i < alpha; i++) {
        if (alpha == 6) bt6(&tmp[i * 6], 1, r, 1);
        else bt4(&tmp[i * 4], 1, r, 1);
        for (int j = 0; j < alpha; j++) store8(dst + (size_t)(i * alpha + j) * ps, r[j]);
    }
}

/* bt_patch for alpha 6 or 4, with the size a constant in each branch. */
static inline void bt_patch_alpha(int alpha, const float *src, size_t rs, size_t cs, float *dst,
                                  size_t ps)
{
    if (alpha == 6) bt_patch(6, src, rs, cs, dst, ps);
    else bt_patch(4, src, rs, cs, dst, ps);
}

/* V[pos][t][ci] for block tiles t in [tfirst, tlast) of the block of tb tiles that
 * starts at tile t0. Patches inside the image are read in place; border patches and
 * a last partial group of channels are gathered (zeros outside) first: a quarter to
 * a half of the tiles of the 7x7 to 56x56 maps of ResNet50 cross the border. */
__attribute__((target_clones("avx2", "default"))) static void
input_transform(const struct window_desc *d, const struct winograd_weights *w, const float *in,
                int tiles_w, int t0, int tb, int tfirst, int tlast, float *v)
{
    const int alpha = w->alpha, m = w->m, cin = w->cin;
    const size_t pos_stride = (size_t)tb * cin, row = (size_t)d->w * cin;
    v8 tile[WG_MAX_ALPHA * WG_MAX_ALPHA];
    const v8 zero = {0};
    for (int t = tfirst; t < tlast; t++) {
        const int ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
        const int y0 = ty * m - d->pad_top, x0 = tx * m - d->pad_left;
        /* the patch rows [i0, i1) and columns [j0, j1) that lie inside the image */
        const int i0 = y0 < 0 ? -y0 : 0, i1 = d->h - y0 < alpha ? d->h - y0 : alpha;
        const int j0 = x0 < 0 ? -x0 : 0, j1 = d->w - x0 < alpha ? d->w - x0 : alpha;
        const bool inside = i0 == 0 && j0 == 0 && i1 == alpha && j1 == alpha;
        if (!inside) /* the padding: zeros that every channel group of the patch keeps */
            for (int p = 0; p < alpha * alpha; p++) tile[p] = zero;
        for (int c0 = 0; c0 < cin; c0 += WG_VEC) {
            const int nc = cin - c0 < WG_VEC ? cin - c0 : WG_VEC;
            float *dst = v + (size_t)t * cin + c0;
            if (inside && nc == WG_VEC) {
                const float *src = in + ((size_t)y0 * d->w + x0) * cin + c0;
                bt_patch_alpha(alpha, src, row, (size_t)cin, dst, pos_stride);
                continue;
            }
            /* a border patch: the part inside the image, a whole group as one vector
             * load (filled lane by lane, the vector went through the stack and its
             * reload waited on the eight stores), no test per position */
            for (int i = i0; i < i1; i++) {
                const float *src = in + ((size_t)(y0 + i) * d->w + (x0 + j0)) * cin + c0;
                for (int j = j0; j < j1; j++, src += cin) {
                    if (nc == WG_VEC) {
                        tile[i * alpha + j] = load8(src);
                    } else {
                        v8 val = zero;
                        for (int c = 0; c < nc; c++) val[c] = src[c];
                        tile[i * alpha + j] = val;
                    }
                }
            }
            const float *src = (const float *)tile;
            if (nc == WG_VEC) {
                bt_patch_alpha(alpha, src, (size_t)alpha * WG_VEC, WG_VEC, dst, pos_stride);
                continue;
            }
            v8 out[WG_MAX_ALPHA * WG_MAX_ALPHA]; /* a partial group: transform, store nc */
            bt_patch_alpha(alpha, src, (size_t)alpha * WG_VEC, WG_VEC, (float *)out, WG_VEC);
            for (int p = 0; p < alpha * alpha; p++)
                for (int c = 0; c < nc; c++) dst[(size_t)p * pos_stride + c] = out[p][c];
        }
    }
}

/* Output pixels of block tiles [tfirst, tlast) (block of tb tiles starting at tile
 * t0) from M[pos][t][co], with the epilogue. */
__attribute__((target_clones("avx2", "default"))) static void
output_transform(const struct window_desc *d, const struct winograd_weights *w, const float *mm,
                 int tiles_w, int t0, int tb, int tfirst, int tlast, const struct epilogue *ep,
                 float *out, int ldo)
{
    const int alpha = w->alpha, m = w->m, cout = w->cout;
    const size_t pos_stride = (size_t)tb * cout;
    v8 tile[WG_MAX_ALPHA * WG_MAX_ALPHA], tmp[4 * WG_MAX_ALPHA], res[16];
    const v8 zero = {0};
    for (int t = tfirst; t < tlast; t++) {
        const int ty = (t0 + t) / tiles_w, tx = (t0 + t) % tiles_w;
        for (int c0 = 0; c0 < cout; c0 += WG_VEC) {
            const int nc = cout - c0 < WG_VEC ? cout - c0 : WG_VEC;
            const float *src = mm + (size_t)t * cout + c0;
            for (int p = 0; p < alpha * alpha; p++, src += pos_stride) {
                if (nc == WG_VEC) {
                    tile[p] = load8(src);
                } else {
                    v8 val = zero;
                    for (int c = 0; c < nc; c++) val[c] = src[c];
                    tile[p] = val;
                }
            }
            if (alpha == 6) {
                for (int j = 0; j < 6; j++) at6(&tile[j], 6, &tmp[j], 6);   /* 4 rows x 6 */
                for (int i = 0; i < 4; i++) at6(&tmp[i * 6], 1, &res[i * 4], 1);
            } else {
                for (int j = 0; j < 4; j++) at4(&tile[j], 4, &tmp[j], 4);   /* 2 rows x 4 */
                for (int i = 0; i < 2; i++) at4(&tmp[i * 4], 1, &res[i * 4], 1);
            }
            v8 bias = zero;
            if (ep && ep->bias) {
                if (nc == WG_VEC) bias = load8(ep->bias + c0);
                else for (int c = 0; c < nc; c++) bias[c] = ep->bias[c0 + c];
            }
            for (int i = 0; i < m; i++) {
                const int y = ty * m + i;
                if (y >= d->oh) break;
                for (int j = 0; j < m; j++) {
                    const int x = tx * m + j;
                    if (x >= d->ow) break;
                    const size_t px = (size_t)y * d->ow + x;
                    v8 val = res[i * 4 + j];
                    if (ep) {
                        val = act8(val + bias, ep->act1, ep->alpha1);
                        if (ep->residual) {
                            const float *r = ep->residual + px * ep->ldr + c0;
                            if (nc == WG_VEC) val += load8(r);
                            else for (int c = 0; c < nc; c++) val[c] += r[c];
                        }
                        val = act8(val, ep->act2, ep->alpha2);
                    }
                    float *o = out + px * ldo + c0;
                    if (nc == WG_VEC) store8(o, val);
                    else for (int c = 0; c < nc; c++) o[c] = val[c];
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ run -- */

/* The (m+2)^2 GEMMs of a block, tasks [task0, task1) of npos * nsplit. */
static void block_gemms(const struct winograd_weights *w, int tb, const float *v, float *mm,
                        int nsplit, int task0, int task1, float *gemm_scratch)
{
    const int panels = (w->cout + GEMM_NR - 1) / GEMM_NR;
    for (int task = task0; task < task1; task++) {
        const int pos = task / nsplit, part = task % nsplit;
        const int p0 = panels * part / nsplit, p1 = panels * (part + 1) / nsplit;
        if (p1 <= p0) continue;
        struct gemm_a a = {GEMM_A_MATRIX, v + (size_t)pos * tb * w->cin, w->cin, NULL, false};
        gemm_block(&a, 0, tb, &w->u[pos], p0 * GEMM_NR, (p1 - p0) * GEMM_NR,
                   mm + (size_t)pos * tb * w->cout, w->cout, NULL, gemm_scratch);
    }
}

void winograd_conv(const struct window_desc *d, const struct winograd_weights *w, const float *in,
                   const struct epilogue *ep, float *out, int ldo, float *scratch, int max_threads)
{
    int threads = omp_get_max_threads();
    if (threads > max_threads) threads = max_threads;
    if (threads < 1) threads = 1;
    const struct wg_layout L = layout_for(d, w, threads);
    const int npos = w->alpha * w->alpha;
    if (L.private_blocks) {
        /* each thread: a contiguous range of tiles (the rows it wrote in the layer
         * before, mostly), block by block through all three phases; then blocks from
         * the end of the others' ranges (share_queue.h) */
        const size_t per_thread = L.v_floats + L.m_floats + 64;
        struct share_queue queue[threads];
        for (int t = 0; t < threads; t++) /* (a smaller team takes the rest from the back) */
            share_queue_init(&queue[t], tile_share_of(&L, t, threads).blocks);
#pragma omp parallel num_threads(threads)
        {
            const int tid = omp_get_thread_num();
            float *v = scratch + (size_t)tid * per_thread, *mm = v + L.v_floats;
            int k = 0, owner, blk;
            while (share_queue_next(queue, tid, threads, &k, &owner, &blk)) {
                const struct tile_share s = tile_share_of(&L, owner, threads);
                const int t0 = s.first + (int)((long)(s.last - s.first) * blk / s.blocks);
                const int t1 = s.first + (int)((long)(s.last - s.first) * (blk + 1) / s.blocks);
                input_transform(d, w, in, L.tiles_w, t0, t1 - t0, 0, t1 - t0, v);
                block_gemms(w, t1 - t0, v, mm, 1, 0, npos, NULL);
                output_transform(d, w, mm, L.tiles_w, t0, t1 - t0, 0, t1 - t0, ep, out, ldo);
            }
        }
        return;
    }
    float *v = scratch, *mm = scratch + L.v_floats;
    const int panels = (w->cout + GEMM_NR - 1) / GEMM_NR;
    int nsplit = (WG_SHARED_TASKS * threads + npos - 1) / npos;
    if (nsplit > panels) nsplit = panels;
    const int blocks = (L.tiles + L.block - 1) / L.block;
    /* few tiles: every phase of each block is shared by the threads: tiles for the
     * transforms (a range per thread, whose end the others may take), (position,
     * column range) pairs for the GEMMs */
    struct share_queue qin[threads], qout[threads];
    /* (a smaller team takes the rest from the back) */
    share_parts_init(qin, block_tiles(&L, 0), 0, 1, threads);
#pragma omp parallel num_threads(threads)
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int b = 0; b < blocks; b++) {
            const int t0 = b * L.block, tb = block_tiles(&L, b);
            int k = 0, owner, t; /* t: a tile of owner's part of the block */
            while (share_queue_next(qin, tid, threads, &k, &owner, &t)) {
                const int tile = tb * owner / threads + t;
                input_transform(d, w, in, L.tiles_w, t0, tb, tile, tile + 1, v);
            }
            share_parts_init(qout, tb, tid, nt, threads);
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
            for (int task = 0; task < npos * nsplit; task++)
                block_gemms(w, tb, v, mm, nsplit, task, task + 1, NULL);
            /* (implicit barrier) */
            k = 0;
            while (share_queue_next(qout, tid, threads, &k, &owner, &t)) {
                const int tile = tb * owner / threads + t;
                output_transform(d, w, mm, L.tiles_w, t0, tb, tile, tile + 1, ep, out, ldo);
            }
            if (b + 1 < blocks) share_parts_init(qin, block_tiles(&L, b + 1), tid, nt, threads);
#pragma omp barrier
        }
    }
}
