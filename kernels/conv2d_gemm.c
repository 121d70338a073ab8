/* conv2d_gemm.c - convolution as im2col + OpenBLAS sgemm, with the epilogue
 * applied in one parallel pass over the output. */
#include <cblas.h>
#include <string.h>

#include "kernels.h"

static bool is_pointwise(const struct window_desc *d)
{
    return d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->pad_top == 0 &&
           d->pad_left == 0 && d->oh == d->h && d->ow == d->w;
}

size_t conv2d_gemm_scratch(const struct window_desc *d)
{
    if (is_pointwise(d)) return 0;
    return (size_t)d->oh * d->ow * d->kh * d->kw * d->c;
}

/* col (oh*ow, kh*kw*c): row p holds the receptive field of output pixel p in
 * (ky, kx, ci) order, zeros where it falls on padding. */
static void im2col(const struct window_desc *d, const float *in, float *col)
{
    const size_t kk = (size_t)d->kh * d->kw * d->c;
    const size_t row_bytes = (size_t)d->c * sizeof(float);
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < d->oh; oy++)
        for (int ox = 0; ox < d->ow; ox++) {
            float *dst = col + ((size_t)oy * d->ow + ox) * kk;
            for (int ky = 0; ky < d->kh; ky++) {
                int y = oy * d->sh - d->pad_top + ky;
                for (int kx = 0; kx < d->kw; kx++, dst += d->c) {
                    int x = ox * d->sw - d->pad_left + kx;
                    if (y < 0 || y >= d->h || x < 0 || x >= d->w) memset(dst, 0, row_bytes);
                    else memcpy(dst, in + ((size_t)y * d->w + x) * d->c, row_bytes);
                }
            }
        }
}

static bool epilogue_is_identity(const struct epilogue *ep)
{
    return !ep || (!ep->bias && ep->act1 == ACT_LINEAR && !ep->residual && ep->act2 == ACT_LINEAR);
}

void epilogue_apply(const struct epilogue *ep, size_t pixels, int n, float *out, int ldo)
{
    if (epilogue_is_identity(ep)) return;
    /* the reference loop on chunks of pixels, in parallel */
    const size_t chunk = 64;
    const long chunks = (long)((pixels + chunk - 1) / chunk);
#pragma omp parallel for schedule(static)
    for (long c = 0; c < chunks; c++) {
        const size_t p0 = (size_t)c * chunk;
        struct epilogue part = *ep;
        if (part.residual) part.residual += p0 * (size_t)ep->ldr;
        epilogue_apply_ref(&part, pixels - p0 < chunk ? pixels - p0 : chunk, n, out + p0 * (size_t)ldo, ldo);
    }
}

void conv2d_gemm(const struct window_desc *d, int cout, const float *in, const float *kernel,
                 const struct epilogue *ep, float *out, int ldo, float *scratch)
{
    const int pixels = d->oh * d->ow;
    const int kk = d->kh * d->kw * d->c;
    const float *a = in;
    if (!is_pointwise(d)) {
        im2col(d, in, scratch);
        a = scratch;
    }
    /* fixed row chunks, each one single-threaded OpenBLAS call: the same bits for any
     * thread count (OpenBLAS's own threading is not reproducible across counts) */
    const int chunk = 64, chunks = (pixels + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < chunks; ch++) {
        const int r0 = ch * chunk, n = pixels - r0 < chunk ? pixels - r0 : chunk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cout, kk, 1.0f,
                    a + (size_t)r0 * kk, kk, kernel, cout, 0.0f, out + (size_t)r0 * ldo, ldo);
    }
    epilogue_apply(ep, (size_t)pixels, cout, out, ldo);
}
