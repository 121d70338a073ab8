/*
 * winograd.h - 3x3 stride-1 convolution by Winograd's minimal filtering
 * F(m x m, 3 x 3), m = 4 (36 multiplies per 16 outputs instead of 144) or m = 2
 * (16 per 4 instead of 36), after Lavin & Gray, "Fast Algorithms for Convolutional
 * Neural Networks" (2015), with the interpolation points 0, +-1, +-2.
 *
 *     Y = A^T [ (G g G^T) .* (B^T d B) ] A        per output tile, per channel pair
 *
 * The kernel transform U = G g G^T is done once at load time, giving (m+2)^2 matrices
 * of Cin x Cout that are packed for the GEMM. Per call, input tiles are transformed
 * (V = B^T d B, vectorised over channels), the (m+2)^2 products V x U are GEMMs, and
 * the output transform applies the fused epilogue while writing the NHWC output.
 *
 * Accuracy: F(2x2) is within a few ulps of direct convolution; F(4x4) loses about
 * 2-3 bits (relative error ~1e-6 per layer): tests/unit checks both against the
 * direct reference.
 */
#ifndef CNNRT_KERNELS_WINOGRAD_H
#define CNNRT_KERNELS_WINOGRAD_H

#include <stddef.h>

#include "gemm.h"
#include "kernels.h"

struct winograd_weights {
    int m;      /* output tile: 2 or 4 */
    int alpha;  /* input tile: m + 2 */
    int cin, cout;
    struct gemm_b *u; /* alpha*alpha packed Cin x Cout matrices, owned */
    size_t block_bytes; /* tuning: bytes of transformed data per block (0 = default) */
};

/* Transforms kernel (3, 3, cin, cout) (Keras HWIO), its column co multiplied by
 * col_scale[co] when col_scale is not NULL (a folded BatchNorm), for F(m x m, 3 x 3),
 * straight into the GEMM's packed layout; side (may be NULL) runs on one thread of
 * the team meanwhile. Returns 0, or -1 when out of memory or m is not 2 or 4 (side
 * has run either way). */
int winograd_prepare(const float *kernel, int cin, int cout, int m, const double *col_scale,
                     const struct side_job *side, struct winograd_weights *w);

void winograd_free(struct winograd_weights *w);

/* Floats of scratch winograd_conv needs for this layer when run on up to
 * max_threads threads. */
size_t winograd_scratch(const struct window_desc *d, const struct winograd_weights *w,
                        int max_threads);

/* out (oh, ow, cout; row stride ldo per pixel) = epilogue(conv3x3(in)). d must be a
 * 3x3 stride-1 window; padding may be asymmetric. The epilogue's residual may be out
 * itself (same stride): each value is read just before its position is written. */
void winograd_conv(const struct window_desc *d, const struct winograd_weights *w, const float *in,
                   const struct epilogue *ep, float *out, int ldo, float *scratch, int max_threads);

#endif
