/* pool_ref.c - max pooling and global average pooling, plain C. */
#include "kernels.h"

void max_pool_ref(const struct window_desc *d, float pad_value, const float *in, float *out)
{
    for (int oy = 0; oy < d->oh; oy++)
        for (int ox = 0; ox < d->ow; ox++)
            for (int ch = 0; ch < d->c; ch++) {
                float m = -__builtin_inff();
                for (int ky = 0; ky < d->kh; ky++)
                    for (int kx = 0; kx < d->kw; kx++) {
                        int y = oy * d->sh - d->pad_top + ky, x = ox * d->sw - d->pad_left + kx;
                        float v = (y < 0 || y >= d->h || x < 0 || x >= d->w)
                                      ? pad_value
                                      : in[((size_t)y * d->w + x) * d->c + ch];
                        if (v > m) m = v;
                    }
                out[((size_t)oy * d->ow + ox) * d->c + ch] = m;
            }
}

void global_avg_pool_ref(const float *in, int h, int w, int c, float *out)
{
    size_t pixels = (size_t)h * w;
    for (int ch = 0; ch < c; ch++) {
        double s = 0;
        for (size_t p = 0; p < pixels; p++) s += in[p * c + ch];
        out[ch] = (float)(s / (double)pixels);
    }
}
