/*
 * kernels.h - compute kernels on NHWC float32 tensors (batch 1).
 *
 * Nothing here knows about graphs, files or JSON: kernels take plain pointers and
 * small descriptor structs. Every op has a plain reference version
 * (kernels/reference/, kept forever as the test oracle) and, where it pays, a fast
 * version beside it; tests/ checks each fast version against its reference.
 *
 * Layouts: activations (H, W, C) row-major; conv kernels (KH, KW, Cin, Cout) as
 * Keras stores them (HWIO); dense kernels (Cin, Cout).
 */
#ifndef CNNRT_KERNELS_H
#define CNNRT_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

enum act_type { ACT_LINEAR, ACT_RELU, ACT_LEAKY, ACT_SOFTMAX, ACT_SIGMOID, ACT_COUNT };

/* Load-time work that one thread of a weight-packing team runs while the others
 * pack (gemm_pack_b, winograd_prepare): the planner reads the next layer's values
 * from the weights file meanwhile, so the file read and the packing overlap. */
struct side_job {
    void (*run)(void *ctx);
    void *ctx;
};

/* Runs side unless it is NULL. */
static inline void side_job_run(const struct side_job *side)
{
    if (side) side->run(side->ctx);
}

/* Geometry of a 2-D window op (conv or pool). Output size is oh x ow; the input is
 * read at y = oy*sh - pad_top + ky, x = ox*sw - pad_left + kx; positions outside
 * the input are padding. */
struct window_desc {
    int h, w, c;     /* input */
    int kh, kw, sh, sw;
    int pad_top, pad_left;
    int oh, ow;      /* output */
};

/* What is applied to each conv/dense result before it is stored:
 *   v = acc + bias[k];  v = act1(v);  v += residual[i];  v = act2(v)
 * Any field may be "off": bias NULL, act ACT_LINEAR, residual NULL. The residual has
 * the output's shape, stored with row stride ldr (in floats, per pixel); it may be the
 * output itself where the kernel says so (gemm_run, winograd_conv). */
struct epilogue {
    const float *bias;
    enum act_type act1;
    float alpha1;
    const float *residual;
    int ldr;
    enum act_type act2;
    float alpha2;
};

/* Applies an activation to one value (not softmax). */
static inline float act_apply(enum act_type act, float alpha, float v)
{
    switch (act) {
    case ACT_RELU: return v > 0.0f ? v : 0.0f;
    case ACT_LEAKY: return v > 0.0f ? v : v * alpha;
    case ACT_SIGMOID: return 1.0f / (1.0f + __builtin_expf(-v));
    default: return v;
    }
}

/* --------------------------------------------------------- reference ops -- */

/* Direct convolution. out: (oh, ow, cout), row stride ldo floats per pixel.
 * Accumulates in double. */
void conv2d_ref(const struct window_desc *d, int cout, const float *in, const float *kernel,
                const struct epilogue *ep, float *out, int ldo);

/* Applies the epilogue to rows of raw sums: out[p*ldo + k] for p < pixels, k < n. */
void epilogue_apply_ref(const struct epilogue *ep, size_t pixels, int n, float *out, int ldo);

/* y = gamma*(x-mean)/sqrt(var+eps)+beta per channel (gamma/beta may be NULL = 1/0). */
void batch_norm_ref(const float *in, size_t pixels, int c, const float *gamma, const float *beta,
                    const float *mean, const float *var, float eps, float *out);

/* Elementwise activation (not softmax). in and out may alias. */
void activation_ref(const float *in, size_t n, enum act_type act, float alpha, float *out);

/* Softmax over the last axis of rows x c values. in and out may alias. */
void softmax_ref(const float *in, size_t rows, int c, float *out);

/* Zero padding: (h, w, c) -> (h+top+bottom, w+left+right, c). */
void zero_pad_ref(const float *in, int h, int w, int c, int top, int bottom, int left, int right,
                  float *out);

/* Max pooling; padded positions hold pad_value (-INFINITY for Keras "same",
 * 0 when a ZeroPadding2D was folded in). */
void max_pool_ref(const struct window_desc *d, float pad_value, const float *in, float *out);

/* Mean over all pixels: (h, w, c) -> (c). */
void global_avg_pool_ref(const float *in, int h, int w, int c, float *out);

/* Dense on each of rows input vectors: out = in (rows, cin) x kernel (cin, cout) + ep. */
void dense_ref(const float *in, size_t rows, int cin, int cout, const float *kernel,
               const struct epilogue *ep, float *out);

/* out = sum of n_in inputs of n values each, added in input order. */
void add_ref(const float *const *in, int n_in, size_t n, float *out);

/* Channel concatenation of n_in inputs of (pixels, c_i) into (pixels, sum c_i). */
void concat_ref(const float *const *in, const int *c, int n_in, size_t pixels, float *out);

/* Nearest upsampling by (sh, sw). */
void upsample_nearest_ref(const float *in, int h, int w, int c, int sh, int sw, float *out);

/* -------------------------------------------------------------- fast ops -- */

/* Scratch floats conv2d_gemm needs for this geometry (0 if none). */
size_t conv2d_gemm_scratch(const struct window_desc *d);

/* Convolution as im2col + sgemm (1x1 stride-1 unpadded convs read the input
 * directly). kernel is (KH*KW*Cin, Cout) row-major = the Keras kernel. out has row
 * stride ldo. scratch holds conv2d_gemm_scratch(d) floats. */
void conv2d_gemm(const struct window_desc *d, int cout, const float *in, const float *kernel,
                 const struct epilogue *ep, float *out, int ldo, float *scratch);

/* Applies the epilogue in place, parallel over pixels. */
void epilogue_apply(const struct epilogue *ep, size_t pixels, int n, float *out, int ldo);

/* Parallel versions of the simple ops; same contracts as the _ref versions. */
void max_pool(const struct window_desc *d, float pad_value, const float *in, float *out);
void global_avg_pool(const float *in, int h, int w, int c, float *out);
void dense(const float *in, size_t rows, int cin, int cout, const float *kernel,
           const struct epilogue *ep, float *out);
void add_n(const float *const *in, int n_in, size_t n, float *out);
void concat(const float *const *in, const int *c, int n_in, size_t pixels, float *out);
void upsample_nearest(const float *in, int h, int w, int c, int sh, int sw, float *out);
void activation(const float *in, size_t n, enum act_type act, float alpha, float *out);
void zero_pad(const float *in, int h, int w, int c, int top, int bottom, int left, int right,
              float *out);

#endif
