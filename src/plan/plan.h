/*
 * plan.h - an executable plan made from a graph with weights.
 *
 * Planning: ZeroPadding2D is folded into the following convolution or pooling;
 * BatchNormalization is folded into the preceding convolution; activations and a
 * residual Add (and the activation after it) become the convolution's epilogue;
 * weights are transformed once into what the kernels want; every tensor gets an
 * offset in one activation arena, reusing memory once a tensor's last reader ran;
 * one scratch buffer serves every convolution. Running a plan allocates nothing.
 */
#ifndef CNNRT_PLAN_H
#define CNNRT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "graph/graph.h"
#include "gemm.h"
#include "winograd.h"
#include "kernels.h"

enum step_kind {
    STEP_CONV,
    STEP_MAX_POOL,
    STEP_GLOBAL_AVG_POOL,
    STEP_DENSE,
    STEP_ADD,
    STEP_CONCAT,
    STEP_UPSAMPLE,
    STEP_ACTIVATION,
    STEP_SOFTMAX,
    STEP_BATCH_NORM,
    STEP_ZERO_PAD,
    STEP_COPY,
    STEP_COUNT
};

#define STEP_MAX_INPUTS 8

struct plan_tensor {
    cnnrt_shape shape;
    size_t offset;    /* in floats, into the arena */
    size_t size;      /* floats */
    int first, last;  /* steps that write it first and read it last */
    int shares;       /* the tensor whose memory this one takes over (a chain of
                         in-place residuals all name the first one), or -1 */
};

struct step {
    enum step_kind kind;
    int node;          /* main graph node (the conv of a fused group) */
    char *label;       /* fused node names joined by '+', for per-layer tables */
    int in[STEP_MAX_INPUTS];
    int n_in;
    int out;           /* tensor index */
    int residual;      /* tensor index of a fused residual Add, or -1 */
    struct window_desc win;
    int cout;
    float pad_value;   /* max pool: value of padded positions */
    float *kernel;     /* BLAS path (CNNRT_CONV=blas): folded kernel (K, Cout), owned */
    struct gemm_b packed; /* conv and dense: the folded kernel packed for gemm_run */
    bool pointwise;    /* conv: 1x1, stride 1, no padding: A is the input itself */
    struct winograd_weights wino; /* conv: transformed kernel when wino.m > 0 */
    float *bias;       /* conv/dense: folded bias (Cout), owned, may be NULL */
    enum act_type act1, act2;
    float alpha1, alpha2;
    const float *bn_scale, *bn_shift; /* standalone BatchNorm: folded y = x*scale+shift */
    float *bn_params;  /* owned storage of bn_scale/bn_shift */
    int up_sh, up_sw;
    struct pad4 pad;   /* standalone zero padding */
    double flops;      /* 2 * MACs */
    double seconds;    /* accumulated time when profiling */
};

struct plan {
    struct step *steps;
    int n_steps;
    struct plan_tensor *tensors;
    int n_tensors;
    int input;         /* tensor of the model input */
    int *outputs;      /* tensors of the model outputs, in order */
    int n_outputs;
    float *arena;      /* all activations */
    size_t arena_floats;
    float *scratch;    /* shared convolution scratch (im2col on the BLAS path) */
    size_t scratch_floats;
    float *gemm_scratch; /* per-thread packed-A blocks */
    int max_threads;   /* threads the per-thread scratch was sized for */
    bool blas;         /* convolutions through im2col + OpenBLAS (CNNRT_CONV=blas) */
    int winograd;      /* 3x3 stride-1 convs: -1 choose per layer, 4 or 2 force F(mxm), 0 off */
    float *wino_scratch;
    size_t wino_scratch_floats;
    bool profile;      /* accumulate per-step time */
    int runs;          /* runs since profiling was reset */
};

/* Builds a plan from g (shapes inferred, weights loaded) for runs on up to `threads`
 * threads (0 = the number of cores). With consume, each graph weight is freed as soon
 * as the plan holds its transformed copy, so that the originals and the packed
 * weights never all coexist (peak memory). */
cnnrt_status plan_build(struct graph *g, int threads, bool consume, struct plan *p,
                        cnnrt_error *err);

/* Runs the plan on input (the input tensor's size in floats). */
void plan_run(struct plan *p, const float *input);

/* Pointer to a tensor's data in the arena. */
static inline float *plan_data(const struct plan *p, int tensor)
{
    return p->arena + p->tensors[tensor].offset;
}

/* Total flops of one run. */
double plan_flops(const struct plan *p);

void plan_free(struct plan *p);

/* Name of a step kind ("conv", "max_pool", ...). */
const char *step_kind_name(enum step_kind kind);

#endif
