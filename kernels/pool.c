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

/* Channels pooled together: kept in registers over the whole window, stored once. */
#define POOL_CHUNK 32

/* o[0..POOL_CHUNK) = max over the window's pixels (and pad_value if the window
 * leaves the image). The same comparison as max_into, so NaN inputs are skipped. */
static inline void max_chunk(const struct window_desc *d, const float *in, int y0, int y1, int x0,
                             int x1, bool padded, float pad_value, float *o)
{
    float acc[POOL_CHUNK];
    for (int ch = 0; ch < POOL_CHUNK; ch++) acc[ch] = padded ? pad_value : -__builtin_inff();
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const float *v = in + ((size_t)y * d->w + x) * d->c;
            for (int ch = 0; ch < POOL_CHUNK; ch++) acc[ch] = v[ch] > acc[ch] ? v[ch] : acc[ch];
        }
    for (int ch = 0; ch < POOL_CHUNK; ch++) o[ch] = acc[ch];
}

/* One output row; compiled for AVX2 and plain x86-64, chosen once per row (a call per
 * window position cost as much as the work). The window is clipped to the image once
 * per pixel; channels go POOL_CHUNK at a time, the rest one by one. */
__attribute__((target_clones("avx2", "default"))) static void max_pool_row(
    const struct window_desc *d, float pad_value, const float *in, float *out, int oy)
{
    const int ys = oy * d->sh - d->pad_top;
    const int y0 = ys < 0 ? 0 : ys, y1 = ys + d->kh > d->h ? d->h : ys + d->kh;
    for (int ox = 0; ox < d->ow; ox++) {
        const int xs = ox * d->sw - d->pad_left;
        const int x0 = xs < 0 ? 0 : xs, x1 = xs + d->kw > d->w ? d->w : xs + d->kw;
        const bool padded = y1 - y0 < d->kh || x1 - x0 < d->kw;
        float *o = out + ((size_t)oy * d->ow + ox) * d->c;
        int c0 = 0;
        for (; c0 + POOL_CHUNK <= d->c; c0 += POOL_CHUNK)
            max_chunk(d, in + c0, y0, y1, x0, x1, padded, pad_value, o + c0);
        const int rest = d->c - c0;
        if (rest == 0) continue;
        for (int ch = 0; ch < rest; ch++) o[c0 + ch] = -__builtin_inff();
        if (padded) max_scalar_into(o + c0, pad_value, rest);
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                max_into(o + c0, in + ((size_t)y * d->w + x) * d->c + c0, rest);
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
