/* conv2d_ref.c - direct convolution and epilogue, plain C, double accumulation.
 * The oracle every fast convolution is tested against. */
#include <stddef.h>

#include "kernels.h"

void epilogue_apply_ref(const struct epilogue *ep, size_t pixels, int n, float *out, int ldo)
{
    if (!ep) return;
    for (size_t p = 0; p < pixels; p++) {
        float *row = out + p * (size_t)ldo;
        const float *res = ep->residual ? ep->residual + p * (size_t)ep->ldr : NULL;
        for (int k = 0; k < n; k++) {
            float v = row[k];
            if (ep->bias) v += ep->bias[k];
            v = act_apply(ep->act1, ep->alpha1, v);
            if (res) v += res[k];
            row[k] = act_apply(ep->act2, ep->alpha2, v);
        }
    }
}

void conv2d_ref(const struct window_desc *d, int cout, const float *in, const float *kernel,
                const struct epilogue *ep, float *out, int ldo)
{
    for (int oy = 0; oy < d->oh; oy++)
        for (int ox = 0; ox < d->ow; ox++) {
            float *o = out + ((size_t)oy * d->ow + ox) * (size_t)ldo;
            for (int k = 0; k < cout; k++) {
                double acc = 0;
                for (int ky = 0; ky < d->kh; ky++) {
                    int y = oy * d->sh - d->pad_top + ky;
                    if (y < 0 || y >= d->h) continue;
                    for (int kx = 0; kx < d->kw; kx++) {
                        int x = ox * d->sw - d->pad_left + kx;
                        if (x < 0 || x >= d->w) continue;
                        const float *px = in + ((size_t)y * d->w + x) * d->c;
                        const float *wk = kernel + ((size_t)(ky * d->kw + kx) * d->c) * cout + k;
                        for (int ci = 0; ci < d->c; ci++) acc += (double)px[ci] * wk[(size_t)ci * cout];
                    }
                }
                o[k] = (float)acc;
            }
        }
    epilogue_apply_ref(ep, (size_t)d->oh * d->ow, cout, out, ldo);
}
