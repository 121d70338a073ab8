/* elementwise_ref.c - batch norm, activations, softmax, add, concat, padding,
 * upsampling: plain C. */
#include <math.h>
#include <string.h>

#include "kernels.h"

void batch_norm_ref(const float *in, size_t pixels, int c, const float *gamma, const float *beta,
                    const float *mean, const float *var, float eps, float *out)
{
    for (size_t p = 0; p < pixels; p++)
        for (int k = 0; k < c; k++) {
            double g = gamma ? gamma[k] : 1.0, b = beta ? beta[k] : 0.0;
            double v = ((double)in[p * c + k] - mean[k]) / sqrt((double)var[k] + eps);
            out[p * c + k] = (float)(g * v + b);
        }
}

void activation_ref(const float *in, size_t n, enum act_type act, float alpha, float *out)
{
    for (size_t i = 0; i < n; i++) out[i] = act_apply(act, alpha, in[i]);
}

void softmax_ref(const float *in, size_t rows, int c, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        const float *x = in + r * c;
        float *y = out + r * c;
        float m = x[0];
        for (int k = 1; k < c; k++)
            if (x[k] > m) m = x[k];
        double s = 0;
        for (int k = 0; k < c; k++) s += exp((double)x[k] - m);
        for (int k = 0; k < c; k++) y[k] = (float)(exp((double)x[k] - m) / s);
    }
}

void add_ref(const float *const *in, int n_in, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        float s = in[0][i];
        for (int k = 1; k < n_in; k++) s += in[k][i];
        out[i] = s;
    }
}

void concat_ref(const float *const *in, const int *c, int n_in, size_t pixels, float *out)
{
    int total = 0;
    for (int k = 0; k < n_in; k++) total += c[k];
    for (size_t p = 0; p < pixels; p++) {
        float *o = out + p * total;
        for (int k = 0; k < n_in; k++) {
            memcpy(o, in[k] + p * c[k], (size_t)c[k] * sizeof(float));
            o += c[k];
        }
    }
}

void zero_pad_ref(const float *in, int h, int w, int c, int top, int bottom, int left, int right,
                  float *out)
{
    int ow = w + left + right, oh = h + top + bottom;
    memset(out, 0, (size_t)oh * ow * c * sizeof(float));
    for (int y = 0; y < h; y++)
        memcpy(out + (((size_t)(y + top) * ow) + left) * c, in + (size_t)y * w * c,
               (size_t)w * c * sizeof(float));
}

void upsample_nearest_ref(const float *in, int h, int w, int c, int sh, int sw, float *out)
{
    int ow = w * sw;
    for (int y = 0; y < h * sh; y++)
        for (int x = 0; x < ow; x++)
            memcpy(out + ((size_t)y * ow + x) * c, in + ((size_t)(y / sh) * w + x / sw) * c,
                   (size_t)c * sizeof(float));
}
