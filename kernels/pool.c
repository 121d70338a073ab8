/* pool.c - parallel max pooling and global average pooling. */
#include "kernels.h"

/* o[ch] = max(o[ch], v[ch]) for n channels. */
static inline void max_into(float *o, const float *v, int n)
{
    for (int ch = 0; ch < n; ch++) o[ch] = v[ch] > o[ch] ? v[ch] : o[ch];
}

static inline void max_scalar_into(float *o, float v, int n)
{
    for (int ch = 0; ch < n; ch++) o[ch] = v > o[ch] ? v : o[ch];
}

/* One output row; compiled for AVX2 and plain x86-64, chosen once per row (a call per
 * window position cost as much as the work: 64 channels are 8 vector maxima). */
__attribute__((target_clones("avx2", "default"))) static void max_pool_row(
    const struct window_desc *d, float pad_value, const float *in, float *out, int oy)
{
    for (int ox = 0; ox < d->ow; ox++) {
        float *o = out + ((size_t)oy * d->ow + ox) * d->c;
        for (int ch = 0; ch < d->c; ch++) o[ch] = -__builtin_inff();
        for (int ky = 0; ky < d->kh; ky++) {
            const int y = oy * d->sh - d->pad_top + ky;
            for (int kx = 0; kx < d->kw; kx++) {
                const int x = ox * d->sw - d->pad_left + kx;
                if (y < 0 || y >= d->h || x < 0 || x >= d->w)
                    max_scalar_into(o, pad_value, d->c);
                else
                    max_into(o, in + ((size_t)y * d->w + x) * d->c, d->c);
            }
        }
    }
}

void max_pool(const struct window_desc *d, float pad_value, const float *in, float *out)
{
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < d->oh; oy++) max_pool_row(d, pad_value, in, out, oy);
}

void global_avg_pool(const float *in, int h, int w, int c, float *out)
{
    const size_t pixels = (size_t)h * w;
    /* pixel-major (contiguous) in blocks of channels: each channel still sums its
     * pixels in order, so the result does not depend on the thread count */
    const int block = 256;
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < c; c0 += block) {
        const int n = c - c0 < block ? c - c0 : block;
        double s[256];
        for (int k = 0; k < n; k++) s[k] = 0;
        for (size_t p = 0; p < pixels; p++) {
            const float *px = in + p * c + c0;
            for (int k = 0; k < n; k++) s[k] += px[k];
        }
        for (int k = 0; k < n; k++) out[c0 + k] = (float)(s[k] / (double)pixels);
    }
}
