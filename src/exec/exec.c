/* exec.c - runs a plan: one kernel call per step, nothing allocated. */
#include <string.h>

#include "core/util.h"
#include "plan/plan.h"

static void run_step(struct plan *p, struct step *s)
{
    float *out = plan_data(p, s->out);
    const float *in0 = plan_data(p, s->in[0]);
    const cnnrt_shape *os = &p->tensors[s->out].shape;
    const size_t out_elems = p->tensors[s->out].size;
    switch (s->kind) {
    case STEP_CONV: {
        struct epilogue ep = {s->bias, s->act1, s->alpha1,
                              s->residual >= 0 ? plan_data(p, s->residual) : NULL, s->cout,
                              s->act2, s->alpha2};
        if (p->blas) {
            conv2d_gemm(&s->win, s->cout, in0, s->kernel, &ep, out, s->cout, p->scratch);
            break;
        }
        if (s->wino.m) {
            winograd_conv(&s->win, &s->wino, in0, &ep, out, s->cout, p->wino_scratch, p->max_threads);
            break;
        }
        struct gemm_a a = {s->pointwise ? GEMM_A_MATRIX : GEMM_A_IM2COL, in0, s->win.c, &s->win,
                           true};
        gemm_run(&a, s->win.oh * s->win.ow, &s->packed, out, s->cout, &ep, p->gemm_scratch,
                 p->max_threads);
        break;
    }
    case STEP_DENSE: {
        const cnnrt_shape *is = &p->tensors[s->in[0]].shape;
        struct epilogue ep = {s->bias, s->act1 == ACT_SOFTMAX ? ACT_LINEAR : s->act1, s->alpha1,
                              NULL, 0, ACT_LINEAR, 0};
        if (p->blas) {
            dense(in0, (size_t)is->h * is->w, is->c, s->cout, s->kernel, &ep, out);
        } else {
            struct gemm_a a = {GEMM_A_MATRIX, in0, is->c, NULL, false};
            gemm_run(&a, is->h * is->w, &s->packed, out, s->cout, &ep, p->gemm_scratch,
                     p->max_threads);
        }
        if (s->act1 == ACT_SOFTMAX) softmax_ref(out, (size_t)os->h * os->w, os->c, out);
        break;
    }
    case STEP_MAX_POOL: max_pool(&s->win, s->pad_value, in0, out); break;
    case STEP_GLOBAL_AVG_POOL: {
        const cnnrt_shape *is = &p->tensors[s->in[0]].shape;
        global_avg_pool(in0, is->h, is->w, is->c, out);
        break;
    }
    case STEP_ADD: {
        const float *ins[STEP_MAX_INPUTS];
        for (int k = 0; k < s->n_in; k++) ins[k] = plan_data(p, s->in[k]);
        add_n(ins, s->n_in, out_elems, out);
        break;
    }
    case STEP_CONCAT: {
        const float *ins[STEP_MAX_INPUTS];
        int cs[STEP_MAX_INPUTS];
        for (int k = 0; k < s->n_in; k++) {
            ins[k] = plan_data(p, s->in[k]);
            cs[k] = p->tensors[s->in[k]].shape.c;
        }
        concat(ins, cs, s->n_in, (size_t)os->h * os->w, out);
        break;
    }
    case STEP_UPSAMPLE: {
        const cnnrt_shape *is = &p->tensors[s->in[0]].shape;
        upsample_nearest(in0, is->h, is->w, is->c, s->up_sh, s->up_sw, out);
        break;
    }
    case STEP_ACTIVATION: activation(in0, out_elems, s->act1, s->alpha1, out); break;
    case STEP_SOFTMAX: softmax_ref(in0, (size_t)os->h * os->w, os->c, out); break;
    case STEP_BATCH_NORM: {
        const int c = os->c;
        const size_t pixels = (size_t)os->h * os->w;
#pragma omp parallel for schedule(static)
        for (size_t px = 0; px < pixels; px++)
            for (int k = 0; k < c; k++)
                out[px * c + k] = in0[px * c + k] * s->bn_scale[k] + s->bn_shift[k];
        break;
    }
    case STEP_ZERO_PAD: {
        const cnnrt_shape *is = &p->tensors[s->in[0]].shape;
        zero_pad(in0, is->h, is->w, is->c, s->pad.top, s->pad.bottom, s->pad.left, s->pad.right,
                 out);
        break;
    }
    case STEP_COPY: memcpy(out, in0, out_elems * sizeof(float)); break;
    case STEP_COUNT: break;
    }
}

void plan_run(struct plan *p, const float *input)
{
    memcpy(plan_data(p, p->input), input, p->tensors[p->input].size * sizeof(float));
    for (int i = 0; i < p->n_steps; i++) {
        struct step *s = &p->steps[i];
        if (!p->profile) {
            run_step(p, s);
            continue;
        }
        double t0 = now_seconds();
        run_step(p, s);
        s->seconds += now_seconds() - t0;
    }
    if (p->profile) p->runs++;
}
