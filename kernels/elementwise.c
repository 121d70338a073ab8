/* elementwise.c - parallel dense, add, concat, padding, upsampling, activation. */
#include <cblas.h>
#include <string.h>

#include "kernels.h"

/* Rows per OpenBLAS call. OpenBLAS's own threading changes the summation order with
 * the thread count; calling it from inside our parallel loop keeps it single-threaded
 * and every output element is computed by one call, so results are bitwise identical
 * for any thread count. */
#define BLAS_ROWS 64

void dense(const float *in, size_t rows, int cin, int cout, const float *kernel,
           const struct epilogue *ep, float *out)
{
    if (rows == 1) {
        /* one vector (a classifier head): the weights dominate, so split the columns;
         * each column is still one dot product in one call */
        const int cols = 256, chunks = (cout + cols - 1) / cols;
#pragma omp parallel for schedule(static)
        for (int ch = 0; ch < chunks; ch++) {
            const int c0 = ch * cols, n = cout - c0 < cols ? cout - c0 : cols;
            cblas_sgemv(CblasRowMajor, CblasTrans, cin, n, 1.0f, kernel + c0, cout, in, 1, 0.0f,
                        out + c0, 1);
        }
        epilogue_apply(ep, rows, cout, out, cout);
        return;
    }
    const long chunks = (long)((rows + BLAS_ROWS - 1) / BLAS_ROWS);
#pragma omp parallel for schedule(static)
    for (long ch = 0; ch < chunks; ch++) {
        const size_t r0 = (size_t)ch * BLAS_ROWS;
        const int n = (int)(rows - r0 < BLAS_ROWS ? rows - r0 : BLAS_ROWS);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cout, cin, 1.0f, in + r0 * cin,
                    cin, kernel, cout, 0.0f, out + r0 * cout, cout);
    }
    epilogue_apply(ep, rows, cout, out, cout);
}

void add_n(const float *const *in, int n_in, size_t n, float *out)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float s = in[0][i];
        for (int k = 1; k < n_in; k++) s += in[k][i];
        out[i] = s;
    }
}

void concat(const float *const *in, const int *c, int n_in, size_t pixels, float *out)
{
    int total = 0;
    for (int k = 0; k < n_in; k++) total += c[k];
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < pixels; p++) {
        float *o = out + p * total;
        for (int k = 0; k < n_in; k++) {
            memcpy(o, in[k] + p * c[k], (size_t)c[k] * sizeof(float));
            o += c[k];
        }
    }
}

void upsample_nearest(const float *in, int h, int w, int c, int sh, int sw, float *out)
{
    const int ow = w * sw;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h * sh; y++)
        for (int x = 0; x < ow; x++)
            memcpy(out + ((size_t)y * ow + x) * c, in + ((size_t)(y / sh) * w + x / sw) * c,
                   (size_t)c * sizeof(float));
}

void activation(const float *in, size_t n, enum act_type act, float alpha, float *out)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = act_apply(act, alpha, in[i]);
}

void zero_pad(const float *in, int h, int w, int c, int top, int bottom, int left, int right,
              float *out)
{
    zero_pad_ref(in, h, w, c, top, bottom, left, right, out);
}
