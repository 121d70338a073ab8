/*
 * test_kernels.c - every fast kernel of kernels/kernels.h against its reference twin
 * (kernels/reference/), and the reference kernels against hand-computed cases.
 *
 * Every output buffer is allocated with a guard region after it (and, for strided
 * outputs, a gap after each row) filled with a sentinel NaN; the sentinel must
 * survive the call and the region the kernel owns must be fully overwritten (a
 * left-over sentinel is a NaN, and NaN/Inf never passes a comparison). Inputs are
 * checked to be unchanged.
 *
 * Tolerance (ONNX Runtime style, scaled by the reduction): for a result that sums K
 * products whose absolute values add up to S (computed by running the reference on
 * |x| and |w|), |got - want| <= 1e-5 + 1e-4*|want| + 1e-6*sqrt(K)*S. Float rounding
 * of a K-term sum is about 6e-8*sqrt(K)*S (worst case 6e-8*K*S), so this leaves a
 * factor ~16 of headroom for blocked GEMMs and Winograd transforms, while losing or
 * misplacing a single term (error ~S/K) fails for every K below ~10^4. Ops that only
 * move or compare values (pooling max, concat, padding, upsampling, add in input
 * order, relu/leaky) must be bitwise identical.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "kernels.h"
#include "share_queue.h"
#include "test.h"
#include "winograd.h"

void openblas_set_num_threads(int num_threads);

/* ------------------------------------------------------------- helpers -- */

#define GUARD 67                       /* floats after every output buffer */
#define SENTINEL_BITS 0x7fc0d00dU      /* a quiet NaN with a payload no kernel produces */

#define TOL_ATOL 1e-5
#define TOL_RTOL 1e-4
#define TOL_SUM 1e-6 /* times sqrt(K) * S */

static float sentinel(void)
{
    float f;
    uint32_t b = SENTINEL_BITS;
    memcpy(&f, &b, sizeof f);
    return f;
}

static bool is_sentinel(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b == SENTINEL_BITS;
}

/* n floats plus GUARD, every one set to the sentinel. Never NULL (aborts the test
 * binary when out of memory, which only a broken test can cause). */
static float *guarded_new(size_t n)
{
    float *p = malloc((n + GUARD) * sizeof *p);
    if (!p) {
        fprintf(stderr, "test_kernels: out of memory\n");
        abort();
    }
    for (size_t i = 0; i < n + GUARD; i++) p[i] = sentinel();
    return p;
}

/* Number of guard floats after p[0..n) that were overwritten. */
static int guard_damage(const float *p, size_t n)
{
    int bad = 0;
    for (size_t i = n; i < n + GUARD; i++) bad += !is_sentinel(p[i]);
    return bad;
}

/* Number of floats in the row gaps [n, ld) of rows rows that were overwritten. */
static size_t gap_damage(const float *p, size_t rows, int n, int ld)
{
    size_t bad = 0;
    for (size_t r = 0; r < rows; r++)
        for (int k = n; k < ld; k++) bad += !is_sentinel(p[r * (size_t)ld + k]);
    return bad;
}

static float *random_new(size_t n, unsigned seed, float lo, float hi)
{
    float *p = guarded_new(n);
    test_fill_random(p, n, seed, lo, hi);
    return p;
}

static float *copy_new(const float *src, size_t n)
{
    float *p = guarded_new(n);
    memcpy(p, src, n * sizeof *p);
    return p;
}

static float *abs_new(const float *src, size_t n)
{
    float *p = guarded_new(n);
    for (size_t i = 0; i < n; i++) p[i] = fabsf(src[i]);
    return p;
}

static bool same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* Small deterministic generator for test shapes. */
static unsigned rng_state = 12345u;
static int rnd(int lo, int hi) /* uniform in [lo, hi] */
{
    rng_state = rng_state * 1103515245u + 12345u;
    return lo + (int)((rng_state >> 8) % (unsigned)(hi - lo + 1));
}

/* Result of comparing got against want. */
struct cmp {
    double worst; /* largest |got-want| / tol; INFINITY on NaN/Inf */
    size_t at;    /* where */
};

/* Compares rows x n values stored with row stride ld (got and want) against the
 * tolerance above; scale (rows x n, stride n, may be NULL) holds S per value and k
 * the reduction length K. */
static struct cmp compare_rows(const float *got, const float *want, size_t rows, int n, int ld,
                               const float *scale, double k)
{
    struct cmp c = {0, 0};
    const double sum_tol = TOL_SUM * sqrt(k);
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            size_t i = r * (size_t)ld + j;
            double g = got[i], e = want[i];
            double ratio;
            if (!isfinite(g) || !isfinite(e)) ratio = INFINITY;
            else {
                double tol = TOL_ATOL + TOL_RTOL * fabs(e);
                if (scale) tol += sum_tol * scale[r * (size_t)n + j];
                ratio = fabs(g - e) / tol;
            }
            if (ratio > c.worst || (isinf(ratio) && !isinf(c.worst))) {
                c.worst = ratio;
                c.at = i;
            }
        }
    return c;
}

static const char *act_name(enum act_type a)
{
    static const char *const names[] = {"linear", "relu", "leaky", "softmax", "sigmoid"};
    return a < ACT_COUNT ? names[a] : "?";
}

static const enum act_type fusable_acts[4] = {ACT_LINEAR, ACT_RELU, ACT_LEAKY, ACT_SIGMOID};

/* Epilogue variant number 0..63: bit 0 bias, bits 1-2 act1, bit 3 residual, bits 4-5 act2. */
#define EPI_VARIANTS 64

struct epi_data {
    struct epilogue ep;
    float *bias, *residual; /* owned, may be NULL */
};

static void epi_make(struct epi_data *e, int variant, int n, size_t rows, int ldr, unsigned seed)
{
    memset(e, 0, sizeof *e);
    if (variant & 1) e->bias = random_new((size_t)n, seed + 1, -1.0f, 1.0f);
    if (variant & 8) e->residual = random_new(rows * (size_t)ldr, seed + 2, -1.0f, 1.0f);
    e->ep.bias = e->bias;
    e->ep.act1 = fusable_acts[(variant >> 1) & 3];
    e->ep.alpha1 = 0.1f + 0.01f * (float)(seed % 17);
    e->ep.residual = e->residual;
    e->ep.ldr = ldr;
    e->ep.act2 = fusable_acts[(variant >> 4) & 3];
    e->ep.alpha2 = 0.3f - 0.01f * (float)(seed % 13);
}

static void epi_free(struct epi_data *e)
{
    free(e->bias);
    free(e->residual);
}

static void epi_describe(const struct epilogue *ep, char *buf, size_t len)
{
    snprintf(buf, len, "bias=%s act1=%s residual=%s act2=%s", ep->bias ? "yes" : "no",
             act_name(ep->act1), ep->residual ? "yes" : "no", act_name(ep->act2));
}

/* Adds the epilogue's magnitudes (|bias|, |residual|) to the error scale. */
static void epi_add_scale(const struct epilogue *ep, size_t rows, int n, float *scale)
{
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < n; k++) {
            float s = 0;
            if (ep->bias) s += fabsf(ep->bias[k]);
            if (ep->residual) s += fabsf(ep->residual[r * (size_t)ep->ldr + k]);
            scale[r * (size_t)n + k] += s;
        }
}

/* ------------------------------------------------- reference kernels: oracle -- */

static struct window_desc window(int h, int w, int c, int kh, int kw, int sh, int sw, int pt,
                                 int pb, int pl, int pr)
{
    struct window_desc d = {h, w, c, kh, kw, sh, sw, pt, pl, 0, 0};
    d.oh = (h + pt + pb - kh) / sh + 1;
    d.ow = (w + pl + pr - kw) / sw + 1;
    return d;
}

TEST(kernels_compare_rejects_nan_and_inf)
{
    float e[3] = {1, 2, 3}, g[3] = {1, 2, 3};
    CHECK(compare_rows(g, e, 1, 3, 3, NULL, 1).worst == 0);
    g[1] = NAN;
    CHECK(isinf(compare_rows(g, e, 1, 3, 3, NULL, 1).worst));
    g[1] = INFINITY;
    CHECK(isinf(compare_rows(g, e, 1, 3, 3, NULL, 1).worst));
    g[1] = sentinel();
    CHECK(isinf(compare_rows(g, e, 1, 3, 3, NULL, 1).worst));
    g[1] = 2.001f;
    CHECK(compare_rows(g, e, 1, 3, 3, NULL, 1).worst > 1);
    CHECK(compare_rows(g, e, 1, 3, 3, NULL, 1).at == 1);
}

TEST(kernels_reference_conv_hand_cases)
{
    /* 3x3 input 1..9, 3x3 kernel of ones, padding 1: neighbourhood sums */
    const float in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float ones[9];
    for (int i = 0; i < 9; i++) ones[i] = 1;
    const float sums[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
    struct window_desc d = window(3, 3, 1, 3, 3, 1, 1, 1, 1, 1, 1);
    CHECK(d.oh == 3 && d.ow == 3);
    float out[9];
    conv2d_ref(&d, 1, in, ones, NULL, out, 1);
    for (int i = 0; i < 9; i++) CHECK_MSG(out[i] == sums[i], "sum %d: %g != %g", i, out[i], sums[i]);

    /* Keras convolution is a cross-correlation: a kernel with a single 1 at (ky=0,
     * kx=0) shifts the input down-right by one, it is not flipped */
    float corner[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
    conv2d_ref(&d, 1, in, corner, NULL, out, 1);
    const float shifted[9] = {0, 0, 0, 0, 1, 2, 0, 4, 5};
    for (int i = 0; i < 9; i++) CHECK_MSG(out[i] == shifted[i], "shift %d: %g", i, out[i]);

    /* valid 2x2 kernel (ky, kx) = [[1, 2], [3, 4]] */
    const float k22[4] = {1, 2, 3, 4};
    struct window_desc v = window(3, 3, 1, 2, 2, 1, 1, 0, 0, 0, 0);
    CHECK(v.oh == 2 && v.ow == 2);
    conv2d_ref(&v, 1, in, k22, NULL, out, 1);
    /* (0,0): 1*1 + 2*2 + 4*3 + 5*4 = 37; each step right adds 10, down adds 30 */
    CHECK(out[0] == 37 && out[1] == 47 && out[2] == 67 && out[3] == 77);

    /* HWIO layout: 1x1 conv, Cin 2, Cout 2, kernel rows are input channels */
    const float px[2] = {1, 2};
    const float k11[4] = {1, 10, 100, 1000}; /* [ci][co] */
    struct window_desc p = window(1, 1, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    conv2d_ref(&p, 2, px, k11, NULL, out, 2);
    CHECK(out[0] == 201 && out[1] == 2010);

    /* ZeroPadding2D((1,0),(1,0)) + 3x3 stride 2 valid on 4x4 input 0..15 */
    float in16[16];
    for (int i = 0; i < 16; i++) in16[i] = (float)i;
    struct window_desc s2 = window(4, 4, 1, 3, 3, 2, 2, 1, 0, 1, 0);
    CHECK(s2.oh == 2 && s2.ow == 2);
    conv2d_ref(&s2, 1, in16, ones, NULL, out, 1);
    CHECK(out[0] == 10 && out[1] == 24 && out[2] == 51 && out[3] == 90);

    /* row stride ldo = 3 > cout = 1 leaves the gap alone */
    float strided[27];
    for (int i = 0; i < 27; i++) strided[i] = -7;
    conv2d_ref(&d, 1, in, ones, NULL, strided, 3);
    for (int i = 0; i < 9; i++) {
        CHECK(strided[3 * i] == sums[i]);
        CHECK(strided[3 * i + 1] == -7 && strided[3 * i + 2] == -7);
    }
}

TEST(kernels_reference_epilogue_hand_cases)
{
    CHECK(act_apply(ACT_RELU, 0, -2) == 0 && act_apply(ACT_RELU, 0, 3) == 3);
    CHECK(act_apply(ACT_LEAKY, 0.1f, -2) == -0.2f && act_apply(ACT_LEAKY, 0.1f, 2) == 2);
    CHECK(act_apply(ACT_SIGMOID, 0, 0) == 0.5f);
    CHECK(fabsf(act_apply(ACT_SIGMOID, 0, 2) - 0.880797078f) < 1e-6f);
    CHECK(act_apply(ACT_SIGMOID, 0, -200) == 0 && act_apply(ACT_SIGMOID, 0, 200) == 1);
    CHECK(act_apply(ACT_LINEAR, 0, -5) == -5);

    /* v = acc + bias; relu; + residual; leaky(0.5) */
    float out[4] = {-3, 1, -1, 2}; /* two pixels x two channels */
    const float bias[2] = {1, -2};
    const float res[6] = {-4, 1, 99, 2, -1, 99}; /* ldr = 3 */
    struct epilogue ep = {bias, ACT_RELU, 0, res, 3, ACT_LEAKY, 0.5f};
    epilogue_apply_ref(&ep, 2, 2, out, 2);
    /* pixel 0: relu(-2)=0 -4 -> -2; relu(-1)=0 +1 -> 1
     * pixel 1: relu(0)=0 +2 -> 2; relu(0)=0 -1 -> -0.5 */
    CHECK(out[0] == -2 && out[1] == 1 && out[2] == 2 && out[3] == -0.5f);
    float same[2] = {5, -5};
    epilogue_apply_ref(NULL, 1, 2, same, 2);
    CHECK(same[0] == 5 && same[1] == -5);
}

TEST(kernels_reference_pool_hand_cases)
{
    /* 2x2 all-negative input, 3x3 window stride 1, padding 1 */
    const float in[4] = {-1, -2, -3, -4};
    struct window_desc d = window(2, 2, 1, 3, 3, 1, 1, 1, 1, 1, 1);
    float out[4];
    max_pool_ref(&d, -INFINITY, in, out); /* Keras "same": padding never wins */
    for (int i = 0; i < 4; i++) CHECK(out[i] == -1);
    max_pool_ref(&d, 0.0f, in, out); /* a folded ZeroPadding2D: the zeros count */
    for (int i = 0; i < 4; i++) CHECK(out[i] == 0);

    /* 4x4 input, 2x2 window stride 2, two channels (ch 1 = -ch 0) */
    float in2[32];
    for (int i = 0; i < 16; i++) {
        in2[2 * i] = (float)i;
        in2[2 * i + 1] = (float)-i;
    }
    struct window_desc p = window(4, 4, 2, 2, 2, 2, 2, 0, 0, 0, 0);
    float o2[8];
    max_pool_ref(&p, -INFINITY, in2, o2);
    const float want[8] = {5, 0, 7, -2, 13, -8, 15, -10};
    for (int i = 0; i < 8; i++) CHECK_MSG(o2[i] == want[i], "pool %d: %g != %g", i, o2[i], want[i]);

    /* global average over 2x2 pixels, 2 channels */
    const float g[8] = {1, 10, 2, 20, 3, 30, 4, 40};
    float avg[2];
    global_avg_pool_ref(g, 2, 2, 2, avg);
    CHECK(avg[0] == 2.5f && avg[1] == 25);
}

TEST(kernels_reference_elementwise_hand_cases)
{
    /* dense: rows 2, cin 2, cout 3, bias */
    const float x[4] = {1, 2, -1, 0};
    const float k[6] = {1, 2, 3, 4, 5, 6}; /* (cin, cout) */
    const float b[3] = {0.5f, 0, -1};
    struct epilogue ep = {b, ACT_LINEAR, 0, NULL, 0, ACT_LINEAR, 0};
    float y[6];
    dense_ref(x, 2, 2, 3, k, &ep, y);
    const float yw[6] = {9.5f, 12, 14, -0.5f, -2, -4};
    for (int i = 0; i < 6; i++) CHECK_MSG(y[i] == yw[i], "dense %d: %g", i, y[i]);

    /* add in input order, concat, upsample, zero pad */
    const float a0[3] = {1, 2, 3}, a1[3] = {10, 20, 30}, a2[3] = {100, 200, 300};
    const float *adds[3] = {a0, a1, a2};
    float s[3];
    add_ref(adds, 3, 3, s);
    CHECK(s[0] == 111 && s[1] == 222 && s[2] == 333);

    const float c0[4] = {1, 2, 3, 4};     /* 2 pixels x 2 channels */
    const float c1[2] = {9, 8};           /* 2 pixels x 1 channel */
    const float *cats[2] = {c0, c1};
    const int cs[2] = {2, 1};
    float cat[6];
    concat_ref(cats, cs, 2, 2, cat);
    const float catw[6] = {1, 2, 9, 3, 4, 8};
    for (int i = 0; i < 6; i++) CHECK(cat[i] == catw[i]);

    const float u[2] = {1, 2}; /* 1x2, c 1 */
    float up[12];
    upsample_nearest_ref(u, 1, 2, 1, 2, 3, up); /* -> 2x6 */
    const float upw[12] = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2};
    for (int i = 0; i < 12; i++) CHECK(up[i] == upw[i]);

    const float z[2] = {5, 6}; /* 1x2, c 1 */
    float zp[12];
    zero_pad_ref(z, 1, 2, 1, 1, 0, 0, 2, zp); /* -> 2x4 */
    const float zpw[8] = {0, 0, 0, 0, 5, 6, 0, 0};
    for (int i = 0; i < 8; i++) CHECK(zp[i] == zpw[i]);

    /* softmax of [0, ln 3] is [1/4, 3/4]; large logits do not overflow */
    float sm[4] = {0, logf(3), 1000, 1000};
    softmax_ref(sm, 2, 2, sm);
    CHECK(fabsf(sm[0] - 0.25f) < 1e-7f && fabsf(sm[1] - 0.75f) < 1e-7f);
    CHECK(sm[2] == 0.5f && sm[3] == 0.5f);

    /* batch norm: (3 - 1) / sqrt(4) * 2 + 1 = 3; without gamma/beta: 1 */
    const float bx[1] = {3}, gm[1] = {2}, bt[1] = {1}, mean[1] = {1}, var[1] = {4};
    float by;
    batch_norm_ref(bx, 1, 1, gm, bt, mean, var, 0.0f, &by);
    CHECK(by == 3);
    batch_norm_ref(bx, 1, 1, NULL, NULL, mean, var, 0.0f, &by);
    CHECK(by == 1);

    float act[4] = {-1, 2, -3, 0};
    activation_ref(act, 4, ACT_LEAKY, 0.25f, act); /* in place */
    CHECK(act[0] == -0.25f && act[1] == 2 && act[2] == -0.75f && act[3] == 0);
}

/* ------------------------------------------------------------- conv2d -- */

/* Records a failure and makes the enclosing function return NULL. */
#define REQUIRE_OR(cond)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            test_fail(__FILE__, __LINE__, "%s", #cond);           \
            return NULL;                                          \
        }                                                         \
    } while (0)

struct conv_case {
    int h, w, c, cout, kh, kw, sh, sw;
    int pt, pb, pl, pr;
    int extra_ld;  /* ldo = cout + extra_ld */
    int extra_ldr; /* residual row stride = cout + extra_ldr */
    int variant;   /* epilogue variant */
};

/* Keras "same" padding for one axis. */
static void same_pad(int in, int k, int s, int *before, int *after)
{
    int out = (in + s - 1) / s;
    int total = (out - 1) * s + k - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - total / 2;
}

static void conv_case_describe(const struct conv_case *cc, char *buf, size_t len)
{
    char epi[128];
    struct epi_data e;
    epi_make(&e, cc->variant, 1, 1, 1, 0);
    epi_describe(&e.ep, epi, sizeof epi);
    epi_free(&e);
    snprintf(buf, len,
             "in %dx%dx%d, %dx%d kernel, stride %dx%d, pad t%d b%d l%d r%d, cout %d, ldo +%d, "
             "ldr +%d, %s",
             cc->h, cc->w, cc->c, cc->kh, cc->kw, cc->sh, cc->sw, cc->pt, cc->pb, cc->pl, cc->pr,
             cc->cout, cc->extra_ld, cc->extra_ldr, epi);
}

static int conv_checked;    /* cases run, for the summary check */
static double conv_worst;   /* largest error / tolerance seen */

static bool verbose(void)
{
    const char *v = getenv("CNNRT_TEST_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

static void conv_report(const char *test)
{
    if (verbose()) printf("    %s: %d cases, worst error %.3g of the tolerance\n", test, conv_checked, conv_worst);
}

/* The convolution engines under test: the BLAS path of kernels.h, the packed GEMM
 * with implicit im2col (gemm.h) and Winograd F(2x2) / F(4x4) (winograd.h, 3x3 stride
 * 1 only). */
enum engine { ENGINE_BLAS, ENGINE_GEMM, ENGINE_WINO2, ENGINE_WINO4, ENGINE_COUNT };
static const char *const engine_names[ENGINE_COUNT] = {"conv2d_gemm", "gemm_run", "winograd F2",
                                                       "winograd F4"};
#define SCRATCH_THREADS 2

static bool engine_applies(enum engine e, const struct window_desc *d)
{
    if (e == ENGINE_WINO2 || e == ENGINE_WINO4)
        return d->kh == 3 && d->kw == 3 && d->sh == 1 && d->sw == 1;
    return true;
}

/* Runs engine e; returns the scratch it used (guarded, caller frees) and its size. */
static float *engine_run(enum engine e, const struct window_desc *d, int cout, const float *in,
                         const float *kernel, const struct epilogue *ep, float *out, int ldo,
                         size_t *n_scratch)
{
    float *scratch = NULL;
    switch (e) {
    case ENGINE_BLAS:
        *n_scratch = conv2d_gemm_scratch(d);
        scratch = guarded_new(*n_scratch);
        conv2d_gemm(d, cout, in, kernel, ep, out, ldo, scratch);
        break;
    case ENGINE_GEMM: {
        struct gemm_b b;
        REQUIRE_OR(gemm_pack_b(kernel, d->kh * d->kw * d->c, cout, cout, NULL, NULL, &b) == 0);
        *n_scratch = gemm_scratch_per_thread() * SCRATCH_THREADS;
        scratch = guarded_new(*n_scratch);
        const bool pointwise = d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 &&
                               d->pad_top == 0 && d->pad_left == 0 && d->oh == d->h && d->ow == d->w;
        struct gemm_a a = {pointwise ? GEMM_A_MATRIX : GEMM_A_IM2COL, in, d->c, d, true};
        gemm_run(&a, d->oh * d->ow, &b, out, ldo, ep, scratch, SCRATCH_THREADS);
        if (!pointwise) {
            /* rows read in place and rows gathered block by block: the same bits */
            const size_t n_out = (size_t)d->oh * d->ow * ldo;
            float *gathered = guarded_new(n_out);
            memcpy(gathered, out, n_out * sizeof(float)); /* the row gaps, and an in-place residual */
            a.in_place = false;
            gemm_run(&a, d->oh * d->ow, &b, gathered, ldo, ep, scratch, SCRATCH_THREADS);
            CHECK_MSG(same_bits(gathered, out, n_out),
                      "gemm_run %dx%dx%d %dx%d/%d: rows read in place differ from gathered rows",
                      d->h, d->w, d->c, d->kh, d->kw, d->sh);
            free(gathered);
        }
        gemm_b_free(&b);
        break;
    }
    case ENGINE_WINO2:
    case ENGINE_WINO4: {
        struct winograd_weights w;
        REQUIRE_OR(winograd_prepare(kernel, d->c, cout, e == ENGINE_WINO2 ? 2 : 4, NULL, NULL, &w) == 0);
        *n_scratch = winograd_scratch(d, &w, SCRATCH_THREADS);
        scratch = guarded_new(*n_scratch);
        winograd_conv(d, &w, in, ep, out, ldo, scratch, SCRATCH_THREADS);
        winograd_free(&w);
        break;
    }
    case ENGINE_COUNT: break;
    }
    return scratch;
}

/* Runs one case through conv2d_ref and every engine that applies; records failures. */
static void conv_case_run(const struct conv_case *cc, unsigned seed)
{
    char what[320];
    conv_case_describe(cc, what, sizeof what);
    struct window_desc d = window(cc->h, cc->w, cc->c, cc->kh, cc->kw, cc->sh, cc->sw, cc->pt,
                                  cc->pb, cc->pl, cc->pr);
    if (d.oh <= 0 || d.ow <= 0) {
        test_fail(__FILE__, __LINE__, "bad test case: %s", what);
        return;
    }
    const int ldo = cc->cout + cc->extra_ld, ldr = cc->cout + cc->extra_ldr;
    const size_t pixels = (size_t)d.oh * d.ow;
    const size_t n_in = (size_t)cc->h * cc->w * cc->c;
    const size_t n_k = (size_t)cc->kh * cc->kw * cc->c * cc->cout;
    const size_t n_out = pixels * (size_t)ldo;
    float *in = random_new(n_in, seed, -1.0f, 1.0f);
    float *kernel = random_new(n_k, seed + 7, -1.0f, 1.0f);
    float *in0 = copy_new(in, n_in), *kernel0 = copy_new(kernel, n_k);
    struct epi_data e;
    epi_make(&e, cc->variant, cc->cout, pixels, ldr, seed);
    float *res0 = e.residual ? copy_new(e.residual, pixels * (size_t)ldr) : NULL;

    float *want = guarded_new(n_out);
    conv2d_ref(&d, cc->cout, in, kernel, &e.ep, want, ldo);
    CHECK_MSG(!guard_damage(want, n_out) && !gap_damage(want, pixels, cc->cout, ldo),
              "conv2d_ref %s: wrote outside its output", what);

    /* error scale: the same convolution of magnitudes, plus |bias| + |residual| */
    float *ain = abs_new(in, n_in), *ak = abs_new(kernel, n_k);
    float *scale = guarded_new(pixels * (size_t)cc->cout);
    conv2d_ref(&d, cc->cout, ain, ak, NULL, scale, cc->cout);
    epi_add_scale(&e.ep, pixels, cc->cout, scale);
    const double k = (double)cc->kh * cc->kw * cc->c;

    for (int eng = 0; eng < ENGINE_COUNT; eng++) {
        if (!engine_applies((enum engine)eng, &d)) continue;
        const char *name = engine_names[eng];
        float *got = guarded_new(n_out);
        size_t n_scratch = 0;
        float *scratch = engine_run((enum engine)eng, &d, cc->cout, in, kernel, &e.ep, got, ldo,
                                    &n_scratch);
        struct cmp c = compare_rows(got, want, pixels, cc->cout, ldo, scale, k);
        CHECK_MSG(c.worst <= 1.0, "%s %s: value %zu (pixel %zu, channel %zu) is %.9g, expected "
                  "%.9g (%.3g x tolerance)", name, what, c.at, c.at / (size_t)ldo, c.at % (size_t)ldo,
                  (double)got[c.at], (double)want[c.at], c.worst);
        CHECK_MSG(!guard_damage(got, n_out), "%s %s: wrote %d floats past the output", name, what,
                  guard_damage(got, n_out));
        CHECK_MSG(!gap_damage(got, pixels, cc->cout, ldo), "%s %s: wrote into the row gaps (ldo)",
                  name, what);
        CHECK_MSG(!scratch || !guard_damage(scratch, n_scratch),
                  "%s %s: wrote past the %zu scratch floats", name, what, n_scratch);
        CHECK_MSG(same_bits(in, in0, n_in) && same_bits(kernel, kernel0, n_k) &&
                      (!res0 || same_bits(e.residual, res0, pixels * (size_t)ldr)),
                  "%s %s: modified an input", name, what);
        if (c.worst > conv_worst) conv_worst = c.worst;
        free(got);
        free(scratch);
    }
    conv_checked++;

    free(in);
    free(kernel);
    free(in0);
    free(kernel0);
    free(res0);
    epi_free(&e);
    free(want);
    free(ain);
    free(ak);
    free(scale);
}

static struct conv_case conv_same(int h, int w, int c, int cout, int k, int s, int variant)
{
    struct conv_case cc = {h, w, c, cout, k, k, s, s, 0, 0, 0, 0, 0, 0, variant};
    same_pad(h, k, s, &cc.pt, &cc.pb);
    same_pad(w, k, s, &cc.pl, &cc.pr);
    return cc;
}

static struct conv_case conv_valid(int h, int w, int c, int cout, int k, int s, int variant)
{
    return (struct conv_case){h, w, c, cout, k, k, s, s, 0, 0, 0, 0, 0, 0, variant};
}

TEST(kernels_conv2d_gemm_named_shapes)
{
    conv_checked = 0;
    conv_worst = 0;
    struct conv_case cases[] = {
        conv_valid(7, 7, 16, 32, 1, 1, 1),   /* 1x1 stride 1: the no-im2col path */
        conv_valid(1, 1, 1, 1, 1, 1, 0),     /* smallest possible */
        conv_valid(5, 3, 9, 10, 1, 1, 3),    /* 1x1, C and Cout not multiples of 8 */
        conv_valid(9, 9, 12, 20, 1, 2, 1),   /* 1x1 stride 2 (ResNet projection) */
        conv_valid(8, 8, 12, 20, 1, 2, 9),   /* 1x1 stride 2, even size, residual */
        conv_same(8, 8, 8, 16, 3, 1, 3),     /* 3x3 same stride 1 */
        conv_valid(7, 9, 3, 5, 3, 1, 1),     /* 3x3 valid, odd sizes */
        conv_same(8, 8, 5, 6, 3, 2, 5),      /* 3x3 same stride 2, even: pad 0 top, 1 bottom */
        conv_same(9, 9, 5, 6, 3, 2, 5),      /* 3x3 same stride 2, odd: pad 1/1 */
        conv_valid(11, 7, 4, 3, 3, 2, 0),    /* 3x3 valid stride 2 */
        conv_same(16, 16, 3, 8, 7, 2, 3),    /* 7x7 stride 2 same */
        conv_same(6, 6, 1, 1, 3, 1, 0),      /* C = 1, Cout = 1 */
        conv_same(10, 7, 13, 11, 5, 1, 21),  /* 5x5 same, C = 13, Cout = 11 */
        conv_same(20, 20, 32, 64, 3, 1, 37), /* larger, blocked GEMM paths */
        conv_same(13, 13, 64, 72, 3, 1, 5),  /* Winograd-sized channels, odd tiles */
        conv_same(1, 1, 4, 4, 3, 1, 1),      /* 1x1 input, 3x3 window: centre only */
        conv_same(2, 3, 4, 5, 3, 1, 1),      /* window larger than the input */
        conv_same(2, 2, 4, 5, 7, 2, 1),      /* 7x7 over a 2x2 input */
        conv_valid(10, 10, 3, 4, 2, 3, 0),   /* stride larger than the kernel */
        conv_valid(4, 4, 64, 3, 4, 4, 1),    /* patchify */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) conv_case_run(&cases[i], 100 + (unsigned)i);

    /* ZeroPadding2D((1,0),(1,0)) folded into a 3x3 stride-2 valid conv (YOLOv3) */
    struct conv_case yolo = {8, 8, 6, 10, 3, 3, 2, 2, 1, 0, 1, 0, 0, 0, 7};
    conv_case_run(&yolo, 200);
    struct conv_case yolo_odd = {9, 7, 6, 10, 3, 3, 2, 2, 1, 0, 1, 0, 0, 0, 7};
    conv_case_run(&yolo_odd, 201);
    /* ZeroPadding2D(3) folded into ResNet's 7x7 stride-2 valid conv */
    struct conv_case resnet = {15, 16, 3, 8, 7, 7, 2, 2, 3, 3, 3, 3, 0, 0, 3};
    conv_case_run(&resnet, 202);
    /* a padded 1x1 (folded padding in front of a 1x1 conv) is not pointwise */
    struct conv_case pad1x1 = {5, 5, 3, 4, 1, 1, 1, 1, 1, 1, 2, 0, 0, 0, 1};
    conv_case_run(&pad1x1, 203);
    /* ... with K in two blocks: rows read in place start at the block's first channel,
     * border rows are gathered from it (K > GEMM_KC = 2048) */
    struct conv_case pad1x1_blocks = {5, 6, 2100, 20, 1, 1, 2, 2, 1, 0, 1, 1, 0, 0, 9};
    conv_case_run(&pad1x1_blocks, 210);
    /* a strided 1x1 with K in two blocks (a projection shortcut with C > 2048) */
    struct conv_case s2_blocks = conv_valid(7, 8, 2100, 24, 1, 2, 3);
    conv_case_run(&s2_blocks, 211);
    /* windows with K in several blocks are gathered block by block even when reading
     * in place is asked for: K blocks of 1350 over kernel rows of 900 (blocks cross
     * into the next kernel row), and a 3x3 stride 2 with C = 256 (K = 2304: blocks of
     * a row and a half) */
    struct conv_case rows_blocks = conv_same(6, 5, 300, 20, 3, 1, 9);
    conv_case_run(&rows_blocks, 212);
    struct conv_case s2_rows = conv_same(7, 7, 256, 24, 3, 2, 3);
    conv_case_run(&s2_rows, 213);
    /* 3x3 stride 1 with C > 2048: Winograd's weights transformed and multiplied in two
     * K blocks too */
    struct conv_case wide = conv_same(4, 5, 2101, 12, 3, 1, 9); /* blocks 1051 + 1050 */
    conv_case_run(&wide, 214);
    /* non-square kernels and strides */
    struct conv_case rect = {9, 8, 5, 6, 1, 3, 1, 2, 0, 0, 1, 1, 2, 0, 11};
    conv_case_run(&rect, 204);
    struct conv_case rect2 = {8, 9, 5, 6, 3, 1, 2, 1, 1, 1, 0, 0, 0, 3, 11};
    conv_case_run(&rect2, 205);
    /* output row stride larger than cout (writing into a concat), every path */
    struct conv_case ld1 = conv_valid(6, 6, 8, 8, 1, 1, 9);
    ld1.extra_ld = 8;
    ld1.extra_ldr = 5;
    conv_case_run(&ld1, 206);
    struct conv_case ld3 = conv_same(6, 5, 7, 9, 3, 1, 15);
    ld3.extra_ld = 3;
    conv_case_run(&ld3, 207);
    struct conv_case ld3s2 = conv_same(9, 6, 7, 9, 3, 2, 41);
    ld3s2.extra_ld = 1;
    ld3s2.extra_ldr = 2;
    conv_case_run(&ld3s2, 208);
    CHECK(conv_checked == 34);
    conv_report("named shapes");
}

TEST(kernels_conv2d_gemm_every_epilogue)
{
    /* all 64 combinations of bias x act1 x residual x act2, on the pointwise and
     * the im2col path, half of them with strided output and residual */
    conv_checked = 0;
    conv_worst = 0;
    for (int v = 0; v < EPI_VARIANTS; v++) {
        struct conv_case a = conv_same(5, 6, 5, 7, 3, 1, v);
        a.extra_ld = (v & 1) ? 2 : 0;
        a.extra_ldr = (v & 2) ? 3 : 0;
        conv_case_run(&a, 300 + (unsigned)v);
        struct conv_case b = conv_valid(4, 3, 6, 9, 1, 1, v);
        b.extra_ld = (v & 4) ? 1 : 0;
        b.extra_ldr = (v & 1) ? 4 : 0;
        conv_case_run(&b, 400 + (unsigned)v);
    }
    conv_report("epilogues");
}

TEST(kernels_conv2d_gemm_random_shapes)
{
    static const int ks[] = {1, 1, 2, 3, 3, 3, 5, 7};
    rng_state = 2024u;
    conv_checked = 0;
    conv_worst = 0;
    int run = 0;
    while (run < 160) {
        struct conv_case cc;
        memset(&cc, 0, sizeof cc);
        cc.kh = ks[rnd(0, 7)];
        cc.kw = rnd(0, 4) ? cc.kh : ks[rnd(0, 7)];
        cc.sh = rnd(1, 3) == 3 ? rnd(1, 3) : rnd(1, 2);
        cc.sw = rnd(0, 4) ? cc.sh : rnd(1, 3);
        cc.h = rnd(1, 20);
        cc.w = rnd(1, 20);
        cc.c = rnd(0, 9) ? rnd(1, 20) : rnd(30, 70);
        cc.cout = rnd(0, 9) ? rnd(1, 36) : rnd(40, 80);
        switch (rnd(0, 2)) {
        case 0: break; /* valid */
        case 1:
            same_pad(cc.h, cc.kh, cc.sh, &cc.pt, &cc.pb);
            same_pad(cc.w, cc.kw, cc.sw, &cc.pl, &cc.pr);
            break;
        default: /* asymmetric, as a folded ZeroPadding2D gives */
            cc.pt = rnd(0, cc.kh - 1);
            cc.pb = rnd(0, cc.kh - 1);
            cc.pl = rnd(0, cc.kw - 1);
            cc.pr = rnd(0, cc.kw - 1);
        }
        if (cc.h + cc.pt + cc.pb < cc.kh || cc.w + cc.pl + cc.pr < cc.kw) continue;
        cc.extra_ld = rnd(0, 3) ? 0 : rnd(1, 5);
        cc.extra_ldr = rnd(0, 3) ? 0 : rnd(1, 5);
        cc.variant = rnd(0, EPI_VARIANTS - 1);
        conv_case_run(&cc, 1000 + (unsigned)run);
        run++;
    }
    conv_report("random shapes");
}

TEST(kernels_winograd_many_blocks_and_threads)
{
    /* tiny blocks: many blocks, partial last block, tiles that straddle the border */
    conv_checked = 0;
    conv_worst = 0;
    /* the last two have enough tiles for private per-thread blocks with 2 threads */
    const int shapes[][4] = {{19, 23, 16, 24}, {9, 9, 40, 8}, {30, 30, 8, 33}, {44, 40, 8, 16},
                             {71, 66, 9, 5}};
    for (int s = 0; s < 5; s++) {
        for (int m = 2; m <= 4; m += 2) {
            const int h = shapes[s][0], w = shapes[s][1], c = shapes[s][2], cout = shapes[s][3];
            struct window_desc d = window(h, w, c, 3, 3, 1, 1, 1, 1, 1, 1);
            float *in = random_new((size_t)h * w * c, 2100 + (unsigned)s, -1, 1);
            float *kernel = random_new((size_t)9 * c * cout, 2200 + (unsigned)s, -1, 1);
            struct epi_data e;
            const size_t pixels = (size_t)d.oh * d.ow, n_out = pixels * (size_t)cout;
            epi_make(&e, 1 | 4 | 8, cout, pixels, cout, 2300 + (unsigned)s);
            float *want = guarded_new(n_out);
            conv2d_ref(&d, cout, in, kernel, &e.ep, want, cout);
            struct winograd_weights wg;
            REQUIRE(winograd_prepare(kernel, c, cout, m, NULL, NULL, &wg) == 0);
            wg.block_bytes = 1; /* the smallest block: GEMM_MR tiles */
            const size_t n_scratch = winograd_scratch(&d, &wg, 2);
            float *scratch = guarded_new(n_scratch);
            float *one = guarded_new(n_out), *two = guarded_new(n_out);
            omp_set_num_threads(1);
            winograd_conv(&d, &wg, in, &e.ep, one, cout, scratch, 2);
            omp_set_num_threads(2);
            winograd_conv(&d, &wg, in, &e.ep, two, cout, scratch, 2);
            float *stolen = guarded_new(n_out); /* each thread starts on the other's blocks */
            share_queue_test_offset = 1;
            winograd_conv(&d, &wg, in, &e.ep, stolen, cout, scratch, 2);
            share_queue_test_offset = 0;
            CHECK_MSG(same_bits(one, stolen, n_out) && !guard_damage(stolen, n_out),
                      "winograd F%d: blocks taken by the other thread differ", m);
            /* from inside a parallel region: 2 threads asked for, a team of 1 given */
            const int levels = omp_get_max_active_levels();
            omp_set_max_active_levels(1);
#pragma omp parallel num_threads(2)
#pragma omp single
            winograd_conv(&d, &wg, in, &e.ep, stolen, cout, scratch, 2);
            omp_set_max_active_levels(levels);
            CHECK_MSG(same_bits(one, stolen, n_out) && !guard_damage(stolen, n_out),
                      "winograd F%d: a team of 1 where 2 were asked for differs", m);
            free(stolen);
            float *ain = abs_new(in, (size_t)h * w * c), *ak = abs_new(kernel, (size_t)9 * c * cout);
            float *scale = guarded_new(n_out);
            conv2d_ref(&d, cout, ain, ak, NULL, scale, cout);
            epi_add_scale(&e.ep, pixels, cout, scale);
            struct cmp cm = compare_rows(one, want, pixels, cout, cout, scale, 9.0 * c);
            CHECK_MSG(cm.worst <= 1.0, "winograd F%d %dx%dx%d->%d small blocks: %.3g x tolerance",
                      m, h, w, c, cout, cm.worst);
            CHECK_MSG(same_bits(one, two, n_out), "winograd F%d: 1 and 2 threads differ", m);
            CHECK(!guard_damage(scratch, n_scratch) && !guard_damage(one, n_out));
            if (cm.worst > conv_worst) conv_worst = cm.worst;
            conv_checked++;
            winograd_free(&wg);
            free(in);
            free(kernel);
            epi_free(&e);
            free(want);
            free(scratch);
            free(one);
            free(two);
            free(ain);
            free(ak);
            free(scale);
        }
    }
    conv_report("winograd blocks");
}

TEST(kernels_gemm_engine_threads_bitwise_identical)
{
    /* the packed GEMM splits rows or columns between threads depending on the shape:
     * both splits must give the bits of one thread (14 x 14: a thread's last 100 rows
     * are one block, beyond GEMM_MC, of K = 252 columns) */
    const int shapes[][3] = {{7, 7, 64}, {40, 40, 16}, {3, 3, 200}, {14, 14, 28}};
    for (int s = 0; s < 4; s++) {
        const int h = shapes[s][0], c = shapes[s][2], cout = 72;
        struct window_desc d = window(h, shapes[s][1], c, 3, 3, 1, 1, 1, 1, 1, 1);
        float *in = random_new((size_t)h * shapes[s][1] * c, 2400 + (unsigned)s, -1, 1);
        float *kernel = random_new((size_t)9 * c * cout, 2500 + (unsigned)s, -1, 1);
        const size_t n_out = (size_t)d.oh * d.ow * cout;
        struct gemm_b b;
        REQUIRE(gemm_pack_b(kernel, 9 * c, cout, cout, NULL, NULL, &b) == 0);
        float *scratch = guarded_new(gemm_scratch_per_thread() * 2);
        float *one = guarded_new(n_out), *two = guarded_new(n_out);
        struct gemm_a a = {GEMM_A_IM2COL, in, c, &d, true};
        omp_set_num_threads(1);
        gemm_run(&a, d.oh * d.ow, &b, one, cout, NULL, scratch, 2);
        omp_set_num_threads(2);
        gemm_run(&a, d.oh * d.ow, &b, two, cout, NULL, scratch, 2);
        CHECK_MSG(same_bits(one, two, n_out), "gemm_run %dx%dx%d: 1 and 2 threads differ", h,
                  shapes[s][1], c);
        CHECK_MSG(!guard_damage(scratch, gemm_scratch_per_thread() * 2),
                  "gemm_run %dx%dx%d: wrote past the scratch", h, shapes[s][1], c);
        gemm_b_free(&b);
        free(in);
        free(kernel);
        free(scratch);
        free(one);
        free(two);
    }
}

/* gemm_run splits rows between threads (a range each from GEMM_MC rows per
 * thread, whose end the others may take (share_queue.h), else row blocks x column
 * ranges handed out dynamically): for row counts
 * around those thresholds, 2 and 3 threads must write every output, nothing past it,
 * and the bits of one thread (K = 2100: two K blocks; N = 300: a partial last panel). */
TEST(kernels_gemm_run_row_splits_cover_every_output)
{
    const int k = 2100, n = 300, rows[] = {1, 7, 49, 191, 192, 196, 250, 400, 1000};
    float *bw = random_new((size_t)k * n, 2600, -1, 1), *bias = random_new(n, 2601, -1, 1);
    float *a = random_new((size_t)1000 * k, 2602, -1, 1);
    struct gemm_b b;
    REQUIRE(gemm_pack_b(bw, k, n, n, NULL, NULL, &b) == 0);
    float *scratch = guarded_new(gemm_scratch_per_thread() * 3);
    const struct epilogue ep = {bias, ACT_RELU, 0, NULL, 0, ACT_LINEAR, 0};
    const struct gemm_a ga = {GEMM_A_MATRIX, a, k, NULL, false};
    const int threads_before = omp_get_max_threads();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const int m = rows[i];
        float *one = guarded_new((size_t)m * n);
        omp_set_num_threads(1);
        gemm_run(&ga, m, &b, one, n, &ep, scratch, 3);
        for (int threads = 2; threads <= 3; threads++)
            for (int offset = 0; offset <= 1; offset++) { /* 1: threads take others' units */
                float *many = guarded_new((size_t)m * n);
                omp_set_num_threads(threads);
                share_queue_test_offset = offset;
                gemm_run(&ga, m, &b, many, n, &ep, scratch, 3);
                share_queue_test_offset = 0;
                CHECK_MSG(!guard_damage(many, (size_t)m * n) &&
                              same_bits(one, many, (size_t)m * n),
                          "gemm_run %d rows, %d threads, queue offset %d: not the bits of one "
                          "thread", m, threads, offset);
                free(many);
            }
        { /* called from inside a parallel region: asked for 3 threads, given a team of 1,
           * which must take the other shares too */
            float *nested = guarded_new((size_t)m * n);
            const int levels = omp_get_max_active_levels();
            omp_set_max_active_levels(1);
            omp_set_num_threads(3);
            int team = 0;
#pragma omp parallel num_threads(2)
#pragma omp single
            {
#pragma omp parallel num_threads(3)
#pragma omp single
                team = omp_get_num_threads();
                gemm_run(&ga, m, &b, nested, n, &ep, scratch, 3);
            }
            omp_set_max_active_levels(levels);
            CHECK_MSG(team == 1 && !guard_damage(nested, (size_t)m * n) &&
                          same_bits(one, nested, (size_t)m * n),
                      "gemm_run %d rows, a team of %d where 3 were asked for: not the bits of "
                      "one thread", m, team);
            free(nested);
        }
        size_t unwritten = 0; /* the sentinel is a NaN; every real output is finite */
        for (size_t e = 0; e < (size_t)m * n; e++) unwritten += !isfinite(one[e]);
        CHECK_MSG(!guard_damage(one, (size_t)m * n) && unwritten == 0,
                  "gemm_run %d rows, one thread: %zu outputs unwritten, or wrote past C", m,
                  unwritten);
        free(one);
    }
    CHECK(!guard_damage(scratch, gemm_scratch_per_thread() * 3));
    omp_set_num_threads(threads_before);
    gemm_b_free(&b);
    free(bw);
    free(bias);
    free(a);
    free(scratch);
}

/* share_queue: an owner taking from the front and other threads from the back take
 * every unit exactly once, the owner's in increasing order. */
TEST(kernels_share_queue_takes_every_unit_once)
{
    enum { MAX_UNITS = 300 };
    for (int trial = 0; trial < 200; trial++) {
        const int units = trial % 7 == 0 ? trial % 3 : 1 + (trial * 37) % MAX_UNITS;
        const int nt = 2 + trial % 3;
        struct share_queue q;
        share_queue_init(&q, units);
        _Atomic int taken[MAX_UNITS] = {0};
        int out_of_order = 0, out_of_range = 0;
#pragma omp parallel num_threads(nt) reduction(+ : out_of_order, out_of_range)
        {
            const bool owner = omp_get_thread_num() == 0;
            int unit, last = owner ? -1 : units;
            while (share_queue_take(&q, owner, &unit)) {
                if (unit < 0 || unit >= units) {
                    out_of_range++;
                    continue;
                }
                taken[unit]++;
                if (owner ? unit <= last : unit >= last) out_of_order++;
                last = unit;
            }
        }
        int wrong = 0;
        for (int u = 0; u < units; u++) wrong += taken[u] != 1;
        CHECK_MSG(wrong == 0 && out_of_order == 0 && out_of_range == 0,
                  "%d units, %d threads: %d taken other than once, %d out of order, %d out of "
                  "range", units, nt, wrong, out_of_order, out_of_range);
        int unit;
        CHECK(!share_queue_take(&q, true, &unit) && !share_queue_take(&q, false, &unit));
    }
}

TEST(kernels_residual_in_place)
{
    /* The output may replace the residual in place (the planner does that for a
     * ResNet block's shortcut). One K block or Winograd: the very same bits as with a
     * separate output. Several K blocks (act1 linear): C starts as the residual and the
     * blocks add into it, a different summation order, so compared within rounding. */
    struct {
        int h, w, c, k; /* input h x w x c, k x k "same" conv */
        enum act_type act1;
        int wino;       /* 0: GEMM, else Winograd F(wino x wino) */
    } cases[] = {{9, 7, 40, 1, ACT_LEAKY, 0},  {6, 5, 2100, 1, ACT_LINEAR, 0},
                 {5, 6, 40, 3, ACT_LINEAR, 0}, {7, 8, 24, 3, ACT_RELU, 4},
                 {6, 6, 24, 3, ACT_LEAKY, 2}};
    for (int t = 0; t < 5; t++) {
        const int h = cases[t].h, w = cases[t].w, c = cases[t].c, k = cases[t].k, cout = 37;
        const int pad = k / 2;
        struct window_desc d = window(h, w, c, k, k, 1, 1, pad, pad, pad, pad);
        const size_t pixels = (size_t)d.oh * d.ow, n_out = pixels * cout;
        const size_t n_k = (size_t)k * k * c * cout;
        float *in = random_new((size_t)h * w * c, 2600 + (unsigned)t, -1, 1);
        float *kernel = random_new(n_k, 2700 + (unsigned)t, -1, 1);
        float *bias = random_new((size_t)cout, 2800 + (unsigned)t, -1, 1);
        float *res = random_new(n_out, 2900 + (unsigned)t, -1, 1);
        float *apart = guarded_new(n_out), *inplace = guarded_new(n_out);
        memcpy(inplace, res, n_out * sizeof(float));
        struct epilogue ep = {bias, cases[t].act1, 0.1f, res, cout, ACT_RELU, 0};
        struct epilogue ep_in = ep;
        ep_in.residual = inplace;
        struct gemm_b b = {0};
        struct winograd_weights wg = {0};
        float *scratch;
        if (cases[t].wino) {
            REQUIRE(winograd_prepare(kernel, c, cout, cases[t].wino, NULL, NULL, &wg) == 0);
            scratch = guarded_new(winograd_scratch(&d, &wg, 2));
            winograd_conv(&d, &wg, in, &ep, apart, cout, scratch, 2);
            winograd_conv(&d, &wg, in, &ep_in, inplace, cout, scratch, 2);
        } else {
            REQUIRE(gemm_pack_b(kernel, k * k * c, cout, cout, NULL, NULL, &b) == 0);
            scratch = guarded_new(gemm_scratch_per_thread() * 2);
            struct gemm_a a = {k == 1 ? GEMM_A_MATRIX : GEMM_A_IM2COL, in, c, &d, true};
            gemm_run(&a, (int)pixels, &b, apart, cout, &ep, scratch, 2);
            gemm_run(&a, (int)pixels, &b, inplace, cout, &ep_in, scratch, 2);
        }
        const bool blocks = !cases[t].wino && b.kc < b.k;
        CHECK_MSG(blocks == (!cases[t].wino && k * k * c > GEMM_KC), "case %d: K blocks", t);
        if (!blocks) {
            CHECK_MSG(same_bits(apart, inplace, n_out), "case %d: in place differs", t);
        } else {
            double worst = 0;
            for (size_t i = 0; i < n_out; i++) {
                const double diff = fabs((double)apart[i] - inplace[i]);
                if (diff > worst) worst = diff;
            }
            /* sums of 2100 products of values in [-1, 1]: rounding is ~1e-5 */
            CHECK_MSG(worst < 1e-4, "case %d: in place differs by %.3g", t, worst);
        }
        CHECK_MSG(!guard_damage(inplace, n_out), "case %d: wrote past the output", t);
        gemm_b_free(&b);
        winograd_free(&wg);
        free(in);
        free(kernel);
        free(bias);
        free(res);
        free(apart);
        free(inplace);
        free(scratch);
    }
}

/* ------------------------------------------------------------- epilogue -- */

TEST(kernels_epilogue_apply_matches_reference)
{
    rng_state = 77u;
    for (int v = 0; v < EPI_VARIANTS; v++) {
        const size_t rows = (size_t)rnd(1, 300);
        const int n = rnd(1, 40), ldo = n + (v & 1 ? rnd(1, 4) : 0), ldr = n + (v & 2 ? 3 : 0);
        struct epi_data e;
        epi_make(&e, v, n, rows, ldr, 500 + (unsigned)v);
        float *want = guarded_new(rows * (size_t)ldo);
        for (size_t r = 0; r < rows; r++) test_fill_random(want + r * ldo, (size_t)n, 600 + (unsigned)(v * 1000 + r), -3, 3);
        float *got = copy_new(want, rows * (size_t)ldo);
        float *scale = guarded_new(rows * (size_t)n);
        for (size_t r = 0; r < rows; r++)
            for (int k = 0; k < n; k++) scale[r * n + k] = fabsf(want[r * ldo + k]);
        epi_add_scale(&e.ep, rows, n, scale);
        epilogue_apply_ref(&e.ep, rows, n, want, ldo);
        epilogue_apply(&e.ep, rows, n, got, ldo);
        char what[128];
        epi_describe(&e.ep, what, sizeof what);
        struct cmp c = compare_rows(got, want, rows, n, ldo, scale, 1);
        CHECK_MSG(c.worst <= 1, "epilogue %s (%zu x %d, ldo %d): value %zu is %.9g, expected %.9g",
                  what, rows, n, ldo, c.at, (double)got[c.at], (double)want[c.at]);
        CHECK_MSG(!guard_damage(got, rows * (size_t)ldo) && !gap_damage(got, rows, n, ldo),
                  "epilogue %s: wrote outside the rows", what);
        epi_free(&e);
        free(want);
        free(got);
        free(scale);
    }
    /* an epilogue with every field off leaves the values alone */
    const struct epilogue off = {NULL, ACT_LINEAR, 0, NULL, 0, ACT_LINEAR, 0};
    float x[3] = {-1, 0, 1};
    epilogue_apply(&off, 1, 3, x, 3);
    CHECK(x[0] == -1 && x[1] == 0 && x[2] == 1);
}

/* ------------------------------------------------------------- pooling -- */

static int pool_checked;

static void max_pool_case(int h, int w, int c, int kh, int kw, int sh, int sw, int pt, int pb,
                          int pl, int pr, float pad_value, unsigned seed)
{
    struct window_desc d = window(h, w, c, kh, kw, sh, sw, pt, pb, pl, pr);
    char what[200];
    snprintf(what, sizeof what, "in %dx%dx%d, %dx%d window, stride %dx%d, pad t%d b%d l%d r%d, "
             "pad value %g", h, w, c, kh, kw, sh, sw, pt, pb, pl, pr, (double)pad_value);
    const size_t n_in = (size_t)h * w * c, n_out = (size_t)d.oh * d.ow * c;
    /* negative inputs so that a 0 vs -inf padding mix-up shows */
    float *in = random_new(n_in, seed, -2.0f, 0.5f);
    float *in0 = copy_new(in, n_in);
    float *want = guarded_new(n_out), *got = guarded_new(n_out);
    max_pool_ref(&d, pad_value, in, want);
    max_pool(&d, pad_value, in, got);
    struct cmp cm = compare_rows(got, want, n_out, 1, 1, NULL, 1);
    CHECK_MSG(cm.worst < INFINITY && same_bits(got, want, n_out),
              "max_pool %s: value %zu is %.9g, expected %.9g", what, cm.at, (double)got[cm.at],
              (double)want[cm.at]);
    CHECK_MSG(!guard_damage(got, n_out), "max_pool %s: wrote past the output", what);
    CHECK_MSG(same_bits(in, in0, n_in), "max_pool %s: modified its input", what);
    pool_checked++;
    free(in);
    free(in0);
    free(want);
    free(got);
}

TEST(kernels_max_pool_matches_reference)
{
    pool_checked = 0;
    int pt, pb, pl, pr;
    /* ResNet pool1: ZeroPadding2D(1) folded into a 3x3 stride-2 valid pool */
    max_pool_case(16, 16, 8, 3, 3, 2, 2, 1, 1, 1, 1, 0.0f, 1);
    max_pool_case(15, 13, 3, 3, 3, 2, 2, 1, 1, 1, 1, 0.0f, 2);
    /* 64 channels as in ResNet50 (two register chunks), 75 (two and a rest of 11) */
    max_pool_case(17, 16, 64, 3, 3, 2, 2, 1, 1, 1, 1, 0.0f, 30);
    max_pool_case(9, 10, 75, 3, 3, 2, 2, 1, 0, 1, 0, -INFINITY, 31);
    /* Keras "same" pools: padding is -inf (YOLOv3-tiny 2x2 stride 1, SPP 5/9/13) */
    same_pad(13, 2, 1, &pt, &pb);
    max_pool_case(13, 13, 16, 2, 2, 1, 1, pt, pb, pt, pb, -INFINITY, 3);
    for (int k = 5; k <= 13; k += 4) {
        same_pad(13, k, 1, &pt, &pb);
        max_pool_case(13, 13, 5, k, k, 1, 1, pt, pb, pt, pb, -INFINITY, 4 + (unsigned)k);
    }
    same_pad(9, 3, 2, &pt, &pb);
    same_pad(8, 3, 2, &pl, &pr);
    max_pool_case(9, 8, 3, 3, 3, 2, 2, pt, pb, pl, pr, -INFINITY, 20);
    max_pool_case(8, 8, 1, 2, 2, 2, 2, 0, 0, 0, 0, -INFINITY, 21); /* plain 2x2, C = 1 */
    max_pool_case(1, 1, 7, 1, 1, 1, 1, 0, 0, 0, 0, -INFINITY, 22);
    max_pool_case(3, 3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 0.0f, 23);
    max_pool_case(3, 3, 2, 3, 3, 1, 1, 1, 1, 1, 1, -INFINITY, 23);
    rng_state = 99u;
    for (int i = 0; i < 120; i++) {
        int h = rnd(1, 20), w = rnd(1, 20), c = rnd(1, 70), kh = rnd(1, 5), kw = rnd(0, 3) ? kh : rnd(1, 5);
        int sh = rnd(1, 3), sw = rnd(0, 3) ? sh : rnd(1, 3);
        pt = rnd(0, kh - 1);
        pb = rnd(0, kh - 1);
        pl = rnd(0, kw - 1);
        pr = rnd(0, kw - 1);
        if (h + pt + pb < kh || w + pl + pr < kw) continue;
        max_pool_case(h, w, c, kh, kw, sh, sw, pt, pb, pl, pr, (i & 1) ? 0.0f : -INFINITY,
                      100 + (unsigned)i);
    }
    CHECK(pool_checked > 100);
}

TEST(kernels_global_avg_pool_matches_reference)
{
    static const int shapes[][3] = {{1, 1, 1}, {7, 7, 2048}, {3, 5, 13}, {13, 13, 8},
                                    {1, 9, 3}, {16, 16, 1}, {2, 2, 100}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int h = shapes[i][0], w = shapes[i][1], c = shapes[i][2];
        size_t n_in = (size_t)h * w * c;
        float *in = random_new(n_in, 40 + (unsigned)i, -1, 3);
        float *in0 = copy_new(in, n_in);
        float *want = guarded_new((size_t)c), *got = guarded_new((size_t)c);
        global_avg_pool_ref(in, h, w, c, want);
        global_avg_pool(in, h, w, c, got);
        float *ain = abs_new(in, n_in), *scale = guarded_new((size_t)c);
        global_avg_pool_ref(ain, h, w, c, scale); /* mean |x| */
        struct cmp cm = compare_rows(got, want, 1, c, c, scale, (double)h * w);
        CHECK_MSG(cm.worst <= 1, "global_avg_pool %dx%dx%d: channel %zu is %.9g, expected %.9g", h,
                  w, c, cm.at, (double)got[cm.at], (double)want[cm.at]);
        CHECK_MSG(!guard_damage(got, (size_t)c), "global_avg_pool %dx%dx%d: wrote past the output",
                  h, w, c);
        CHECK(same_bits(in, in0, n_in));
        free(in);
        free(in0);
        free(want);
        free(got);
        free(ain);
        free(scale);
    }
}

/* ---------------------------------------------------------------- dense -- */

static void dense_case(size_t rows, int cin, int cout, int variant, unsigned seed)
{
    const size_t n_in = rows * (size_t)cin, n_k = (size_t)cin * cout, n_out = rows * (size_t)cout;
    float *in = random_new(n_in, seed, -1, 1), *kernel = random_new(n_k, seed + 3, -1, 1);
    float *in0 = copy_new(in, n_in), *kernel0 = copy_new(kernel, n_k);
    struct epi_data e;
    epi_make(&e, variant, cout, rows, cout, seed);
    float *want = guarded_new(n_out), *got = guarded_new(n_out);
    dense_ref(in, rows, cin, cout, kernel, &e.ep, want);
    dense(in, rows, cin, cout, kernel, &e.ep, got);
    float *ain = abs_new(in, n_in), *ak = abs_new(kernel, n_k), *scale = guarded_new(n_out);
    dense_ref(ain, rows, cin, cout, ak, NULL, scale);
    epi_add_scale(&e.ep, rows, cout, scale);
    char epi[128];
    epi_describe(&e.ep, epi, sizeof epi);
    struct cmp cm = compare_rows(got, want, rows, cout, cout, scale, cin);
    CHECK_MSG(cm.worst <= 1, "dense rows %zu cin %d cout %d %s: value %zu is %.9g, expected %.9g "
              "(%.3g x tolerance)", rows, cin, cout, epi, cm.at, (double)got[cm.at],
              (double)want[cm.at], cm.worst);
    CHECK_MSG(!guard_damage(got, n_out), "dense rows %zu cin %d cout %d: wrote past the output",
              rows, cin, cout);
    CHECK_MSG(same_bits(in, in0, n_in) && same_bits(kernel, kernel0, n_k),
              "dense rows %zu cin %d cout %d: modified an input", rows, cin, cout);
    free(in);
    free(kernel);
    free(in0);
    free(kernel0);
    epi_free(&e);
    free(want);
    free(got);
    free(ain);
    free(ak);
    free(scale);
}

TEST(kernels_dense_matches_reference)
{
    dense_case(1, 2048, 10, 1, 1);  /* ResNet head with few classes (gemv path) */
    dense_case(1, 1, 1, 0, 2);
    dense_case(1, 17, 33, 3, 3);
    dense_case(49, 64, 24, 1, 4);   /* per-pixel dense (gemm path) */
    dense_case(2, 5, 3, 9, 5);
    dense_case(1, 300, 1000, 1, 6);
    rng_state = 5u;
    for (int v = 0; v < EPI_VARIANTS; v++)
        dense_case((size_t)(v % 3 ? 1 : rnd(2, 20)), rnd(1, 120), rnd(1, 70), v, 700 + (unsigned)v);
}

/* ----------------------------------------------------- data movement ops -- */

TEST(kernels_add_n_matches_reference)
{
    static const size_t sizes[] = {1, 7, 1000, 4099};
    for (int n_in = 1; n_in <= 8; n_in++)
        for (size_t si = 0; si < 4; si++) {
            size_t n = sizes[si];
            float *ins[8];
            for (int k = 0; k < n_in; k++)
                ins[k] = random_new(n, 50 + (unsigned)(k * 10 + si), -(float)(k + 1), (float)(k + 1));
            float *want = guarded_new(n), *got = guarded_new(n);
            add_ref((const float *const *)ins, n_in, n, want);
            add_n((const float *const *)ins, n_in, n, got);
            CHECK_MSG(same_bits(got, want, n) && compare_rows(got, want, n, 1, 1, NULL, 1).worst < 1,
                      "add_n of %d inputs x %zu values differs from the reference", n_in, n);
            CHECK_MSG(!guard_damage(got, n), "add_n of %d x %zu: wrote past the output", n_in, n);
            for (int k = 0; k < n_in; k++) free(ins[k]);
            free(want);
            free(got);
        }
}

TEST(kernels_concat_matches_reference)
{
    rng_state = 8u;
    for (int i = 0; i < 40; i++) {
        int n_in = rnd(1, 5);
        size_t pixels = (size_t)rnd(1, 60);
        int cs[5], total = 0;
        float *ins[5];
        for (int k = 0; k < n_in; k++) {
            cs[k] = rnd(0, 3) ? rnd(1, 20) : 1;
            total += cs[k];
            ins[k] = random_new(pixels * (size_t)cs[k], 900 + (unsigned)(i * 5 + k), -1, 1);
        }
        size_t n = pixels * (size_t)total;
        float *want = guarded_new(n), *got = guarded_new(n);
        concat_ref((const float *const *)ins, cs, n_in, pixels, want);
        concat((const float *const *)ins, cs, n_in, pixels, got);
        CHECK_MSG(same_bits(got, want, n) && compare_rows(got, want, n, 1, 1, NULL, 1).worst < 1,
                  "concat of %d inputs, %zu pixels differs", n_in, pixels);
        CHECK_MSG(!guard_damage(got, n), "concat: wrote past the output");
        for (int k = 0; k < n_in; k++) free(ins[k]);
        free(want);
        free(got);
    }
}

TEST(kernels_upsample_matches_reference)
{
    rng_state = 9u;
    for (int i = 0; i < 40; i++) {
        int h = rnd(1, 9), w = rnd(1, 9), c = rnd(1, 20), sh = rnd(1, 3), sw = rnd(0, 2) ? sh : rnd(1, 3);
        size_t n_in = (size_t)h * w * c, n = n_in * sh * sw;
        float *in = random_new(n_in, 1100 + (unsigned)i, -1, 1);
        float *want = guarded_new(n), *got = guarded_new(n);
        upsample_nearest_ref(in, h, w, c, sh, sw, want);
        upsample_nearest(in, h, w, c, sh, sw, got);
        CHECK_MSG(same_bits(got, want, n) && compare_rows(got, want, n, 1, 1, NULL, 1).worst < 1,
                  "upsample %dx%dx%d by %dx%d differs", h, w, c, sh, sw);
        CHECK_MSG(!guard_damage(got, n), "upsample %dx%dx%d by %dx%d: wrote past the output", h, w,
                  c, sh, sw);
        free(in);
        free(want);
        free(got);
    }
}

TEST(kernels_zero_pad_matches_reference)
{
    rng_state = 10u;
    for (int i = 0; i < 40; i++) {
        int h = rnd(1, 12), w = rnd(1, 12), c = rnd(1, 10);
        int t = rnd(0, 3), b = rnd(0, 3), l = rnd(0, 3), r = rnd(0, 3);
        size_t n_in = (size_t)h * w * c, n = (size_t)(h + t + b) * (w + l + r) * c;
        float *in = random_new(n_in, 1200 + (unsigned)i, -1, 1);
        float *want = guarded_new(n), *got = guarded_new(n);
        zero_pad_ref(in, h, w, c, t, b, l, r, want);
        zero_pad(in, h, w, c, t, b, l, r, got);
        CHECK_MSG(same_bits(got, want, n) && compare_rows(got, want, n, 1, 1, NULL, 1).worst < 1,
                  "zero_pad %dx%dx%d by t%d b%d l%d r%d differs", h, w, c, t, b, l, r);
        CHECK_MSG(!guard_damage(got, n), "zero_pad: wrote past the output");
        free(in);
        free(want);
        free(got);
    }
}

TEST(kernels_activation_matches_reference)
{
    static const size_t sizes[] = {1, 5, 64, 1001, 10007};
    for (int a = 0; a < 4; a++)
        for (size_t si = 0; si < 5; si++) {
            enum act_type act = fusable_acts[a];
            size_t n = sizes[si];
            float *in = random_new(n, 1300 + (unsigned)(a * 10 + si), -100, 100);
            for (size_t i = 0; i < n; i += 3) in[i] *= 0.01f; /* values near 0 as well */
            float *want = guarded_new(n), *got = guarded_new(n);
            activation_ref(in, n, act, 0.1f, want);
            activation(in, n, act, 0.1f, got);
            struct cmp cm = compare_rows(got, want, n, 1, 1, NULL, 1);
            if (act == ACT_SIGMOID)
                CHECK_MSG(cm.worst <= 1, "sigmoid of %g is %.9g, expected %.9g", (double)in[cm.at],
                          (double)got[cm.at], (double)want[cm.at]);
            else
                CHECK_MSG(cm.worst < INFINITY && same_bits(got, want, n),
                          "%s of %zu values differs from the reference", act_name(act), n);
            CHECK_MSG(!guard_damage(got, n), "activation %s: wrote past the output", act_name(act));
            /* in place (in and out may alias) */
            activation(in, n, act, 0.1f, in);
            cm = compare_rows(in, want, n, 1, 1, NULL, 1);
            CHECK_MSG(cm.worst <= 1, "%s in place differs at %zu", act_name(act), cm.at);
            free(in);
            free(want);
            free(got);
        }
}

/* --------------------------------------------------------- determinism -- */

/* OpenBLAS 0.3.21 (Debian 12) sgemm/sgemv do not give the same bits with 1 and 2
 * threads (the blocking depends on the thread count: e.g. M=196 N=48 K=288 differs in
 * 3183 of 9408 values, by up to 3e-3 relative to the value), and conv2d_gemm and dense
 * call them. Reported to the lead; while true, such differences are printed as a known
 * bug instead of failing. Set to false once conv2d_gemm and dense no longer depend on
 * OpenBLAS's threading. The same switch is in test_plan.c. */
#define KNOWN_BUG_GEMM_THREADS false

static void check_gemm_threads(bool same, const char *what)
{
    if (same) return;
    if (KNOWN_BUG_GEMM_THREADS)
        printf("    known bug (not counted): %s: 1 and 2 threads give different bits\n", what);
    else
        test_fail(__FILE__, __LINE__, "%s: 1 and 2 threads give different bits", what);
}

static void set_threads(int n)
{
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

TEST(kernels_one_and_two_threads_bitwise_identical)
{
    static const struct conv_case cases[] = {
        {14, 14, 32, 48, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 47},
        {14, 14, 32, 48, 1, 1, 1, 1, 0, 0, 0, 0, 5, 0, 9},
        {15, 15, 16, 24, 3, 3, 2, 2, 1, 0, 1, 0, 0, 0, 3},
        {16, 16, 3, 8, 7, 7, 2, 2, 3, 3, 3, 3, 0, 0, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct conv_case *cc = &cases[i];
        struct window_desc d = window(cc->h, cc->w, cc->c, cc->kh, cc->kw, cc->sh, cc->sw, cc->pt,
                                      cc->pb, cc->pl, cc->pr);
        const int ldo = cc->cout + cc->extra_ld;
        const size_t pixels = (size_t)d.oh * d.ow, n_out = pixels * (size_t)ldo;
        float *in = random_new((size_t)cc->h * cc->w * cc->c, 1400 + (unsigned)i, -1, 1);
        float *kernel = random_new((size_t)cc->kh * cc->kw * cc->c * cc->cout, 1500 + (unsigned)i, -1, 1);
        struct epi_data e;
        epi_make(&e, cc->variant, cc->cout, pixels, cc->cout, 1600 + (unsigned)i);
        float *scratch = guarded_new(conv2d_gemm_scratch(&d));
        float *one = guarded_new(n_out), *two = guarded_new(n_out);
        set_threads(1);
        conv2d_gemm(&d, cc->cout, in, kernel, &e.ep, one, ldo, scratch);
        set_threads(2);
        conv2d_gemm(&d, cc->cout, in, kernel, &e.ep, two, ldo, scratch);
        char what[64];
        snprintf(what, sizeof what, "conv2d_gemm case %zu", i);
        check_gemm_threads(same_bits(one, two, n_out), what);
        free(in);
        free(kernel);
        epi_free(&e);
        free(scratch);
        free(one);
        free(two);
    }
    static const int dense_shapes[][3] = {{1, 2048, 1000}, {49, 256, 64}};
    for (int i = 0; i < 2; i++) {
        size_t rows = (size_t)dense_shapes[i][0];
        int cin = dense_shapes[i][1], cout = dense_shapes[i][2];
        float *in = random_new(rows * (size_t)cin, 1700 + (unsigned)i, -1, 1);
        float *kernel = random_new((size_t)cin * cout, 1800 + (unsigned)i, -1, 1);
        float *one = guarded_new(rows * (size_t)cout), *two = guarded_new(rows * (size_t)cout);
        const struct epilogue off = {NULL, ACT_LINEAR, 0, NULL, 0, ACT_LINEAR, 0};
        set_threads(1);
        dense(in, rows, cin, cout, kernel, &off, one);
        set_threads(2);
        dense(in, rows, cin, cout, kernel, &off, two);
        char what[64];
        snprintf(what, sizeof what, "dense %zu x %d -> %d", rows, cin, cout);
        check_gemm_threads(same_bits(one, two, rows * (size_t)cout), what);
        free(in);
        free(kernel);
        free(one);
        free(two);
    }
    float *in = random_new(64 * 64 * 32, 1900, -1, 1);
    float one[32], two[32];
    set_threads(1);
    global_avg_pool(in, 64, 64, 32, one);
    set_threads(2);
    global_avg_pool(in, 64, 64, 32, two);
    CHECK(same_bits(one, two, 32));
    /* max pool and the epilogue on the same data */
    struct window_desc d = window(64, 64, 32, 3, 3, 2, 2, 1, 1, 1, 1);
    size_t n_pool = (size_t)d.oh * d.ow * 32;
    float *p1 = guarded_new(n_pool), *p2 = guarded_new(n_pool);
    set_threads(1);
    max_pool(&d, 0.0f, in, p1);
    set_threads(2);
    max_pool(&d, 0.0f, in, p2);
    CHECK(same_bits(p1, p2, n_pool));
    struct epi_data e;
    epi_make(&e, 63, 32, 64 * 64, 32, 1950);
    float *e1 = copy_new(in, 64 * 64 * 32), *e2 = copy_new(in, 64 * 64 * 32);
    set_threads(1);
    epilogue_apply(&e.ep, 64 * 64, 32, e1, 32);
    set_threads(2);
    epilogue_apply(&e.ep, 64 * 64, 32, e2, 32);
    CHECK(same_bits(e1, e2, 64 * 64 * 32));
    epi_free(&e);
    free(e1);
    free(e2);
    free(p1);
    free(p2);
    free(in);
    set_threads(omp_get_num_procs());
}
