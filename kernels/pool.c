/* pool.c - parallel max pooling and global average pooling. */
#include "kernels.h"

void max_pool(const struct window_desc *d, float pad_value, const float *in, float *out)
{
#pragma omp parallel for schedule(static)
    for (int oy = 0; oy < d->oh; oy++)
        for (int ox = 0; ox < d->ow; ox++) {
            float *o = out + ((size_t)oy * d->ow + ox) * d->c;
            for (int ch = 0; ch < d->c; ch++) o[ch] = -__builtin_inff();
            for (int ky = 0; ky < d->kh; ky++) {
                int y = oy * d->sh - d->pad_top + ky;
                for (int kx = 0; kx < d->kw; kx++) {
                    int x = ox * d->sw - d->pad_left + kx;
                    if (y < 0 || y >= d->h || x < 0 || x >= d->w) {
                        for (int ch = 0; ch < d->c; ch++)
                            if (pad_value > o[ch]) o[ch] = pad_value;
                        continue;
                    }
                    const float *px = in + ((size_t)y * d->w + x) * d->c;
                    for (int ch = 0; ch < d->c; ch++)
                        if (px[ch] > o[ch]) o[ch] = px[ch];
                }
            }
        }
}

void global_avg_pool(const float *in, int h, int w, int c, float *out)
{
    const size_t pixels = (size_t)h * w;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double s = 0;
        for (size_t p = 0; p < pixels; p++) s += in[p * c + ch];
        out[ch] = (float)(s / (double)pixels);
    }
}
