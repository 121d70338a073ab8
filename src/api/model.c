/* model.c - the public cnnrt_model API: ties graph, weights, plan and executor
 * together and keeps the last error on the handle. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnnrt.h"
#include "core/error.h"
#include "core/util.h"
#include "graph/model_json.h"
#include "graph/synthetic_weights.h"
#include "io/file_sniff.h"
#include "io/keras_h5.h"
#include "io/keras_h5_write.h"
#include "io/weights_match.h"
#include "model_internal.h"
#include "plan/plan.h"

/* OpenBLAS (OpenMP build) thread control; declared here to avoid depending on
 * OpenBLAS's cblas.h extensions. */
void openblas_set_num_threads(int num_threads);

cnnrt_model *cnnrt_model_new(void)
{
    cnnrt_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    graph_init(&m->graph);
    return m;
}

/* Closes a weights file whose values were deferred; values not read yet are lost,
 * and so are the ones still in its staging memory. */
static void drop_deferred(cnnrt_model *m)
{
    struct deferred_weights *d = m->deferred;
    if (!d) return;
    for (int i = 0; i < m->graph.n_nodes; i++)
        for (int k = 0; k < m->graph.nodes[i].n_weights; k++) {
            struct weight *w = &m->graph.nodes[i].w[k];
            if (w->borrowed) {
                w->data = NULL;
                w->borrowed = false;
            }
        }
    keras_h5_close(&d->file);
    weights_match_free(&d->match);
    for (int a = 0; a < 2; a++) aligned_free(d->staging[a].mem);
    free(d);
    m->deferred = NULL;
    m->graph.source = (struct weight_source){NULL, NULL, NULL};
}

/* Floats a weight takes in staging memory (64-byte aligned starts). */
static size_t staged_size(const struct weight *w) { return (weight_elems(w) + 15) / 16 * 16; }

/* weight_source.fetch: one node's values, used where they lie in the file when
 * they can be (keras_h5_map: nothing copied), else read into staging memory when
 * they fit. The current area fills up layer after layer until a layer does not fit;
 * then the other one takes over if all it lent has come back. The planner holds at
 * most two layers (one packed, one read ahead), and each area holds the largest, so
 * the areas alternate. */
static cnnrt_status fetch_deferred(void *ctx, struct graph *g, int node, cnnrt_error *err)
{
    struct deferred_weights *d = ctx;
    struct node *n = &g->nodes[node];
    cnnrt_status st = weights_map_node(g, &d->file, &d->match, node, err);
    if (st) return st;
    size_t need = 0;
    for (int k = 0; k < n->n_weights; k++)
        if (!n->w[k].data) need += staged_size(&n->w[k]);
    struct staging_area *a = &d->staging[d->current];
    if (a->borrowed == 0) a->used = 0;
    if (a->used + need > d->staging_cap && d->staging[!d->current].borrowed == 0) {
        d->current = !d->current;
        a = &d->staging[d->current];
        a->used = 0;
    }
    if (!a->mem && need) a->mem = aligned_alloc64(d->staging_cap * sizeof(float));
    if (a->mem && a->used + need <= d->staging_cap) {
        for (int k = 0; k < n->n_weights; k++) {
            struct weight *w = &n->w[k];
            if (w->data) continue;
            w->data = a->mem + a->used;
            w->borrowed = true;
            a->used += staged_size(w);
            a->borrowed++;
        }
    } /* else: weights_read_node allocates them */
    return weights_read_node(g, &d->file, &d->match, node, err);
}

static void give_back_deferred(void *ctx, const float *data, size_t count)
{
    struct deferred_weights *d = ctx;
    if (keras_h5_mapped(&d->file, data)) { /* its pages leave the process (not the cache) */
        keras_h5_unmap(&d->file, data, count);
        return;
    }
    for (int i = 0; i < 2; i++) {
        struct staging_area *a = &d->staging[i];
        const uintptr_t at = (uintptr_t)data, lo = (uintptr_t)a->mem;
        if (a->mem && at >= lo && at < lo + d->staging_cap * sizeof(float) && a->borrowed > 0)
            a->borrowed--;
    }
}

/* Reads every value still in a deferred weights file, and closes it. */
static cnnrt_status read_deferred(cnnrt_model *m)
{
    if (!m->deferred) return CNNRT_OK;
    cnnrt_status st = weights_read(&m->graph, &m->deferred->file, &m->deferred->match, &m->err);
    drop_deferred(m);
    if (st) m->graph.weights_loaded = false;
    return st;
}

static void drop_plan(cnnrt_model *m)
{
    if (m->prepared) plan_free(&m->plan);
    m->prepared = false;
    m->ran = false;
}

void cnnrt_model_free(cnnrt_model *m)
{
    if (!m) return;
    drop_plan(m);
    drop_deferred(m);
    graph_free(&m->graph);
    for (int i = 0; i < m->n_overrides; i++) {
        free(m->overrides[i].name);
        free(m->overrides[i].source);
    }
    free(m->overrides);
    free(m->notes);
    free(m);
}

const char *cnnrt_model_error(const cnnrt_model *m) { return m ? m->err.message : "no model"; }

const char *cnnrt_model_notes(const cnnrt_model *m) { return m && m->notes ? m->notes : ""; }

static cnnrt_status begin(cnnrt_model *m)
{
    cnnrt_error_clear(&m->err);
    return CNNRT_OK;
}

cnnrt_status cnnrt_model_set_param(cnnrt_model *m, const char *name, long value)
{
    return cnnrt_model_set_param_from(m, name, value, NULL);
}

cnnrt_status cnnrt_model_set_param_from(cnnrt_model *m, const char *name, long value,
                                        const char *source)
{
    if (!m || !name) return CNNRT_E_USAGE;
    begin(m);
    if (m->graph_loaded)
        return cnnrt_fail(&m->err, CNNRT_E_USAGE, "set parameters before loading the graph");
    for (int i = 0; i < m->n_overrides; i++)
        if (strcmp(m->overrides[i].name, name) == 0) {
            m->overrides[i].value = value;
            free(m->overrides[i].source);
            m->overrides[i].source = str_dup(source);
            return CNNRT_OK;
        }
    struct graph_param *p = realloc(m->overrides, ((size_t)m->n_overrides + 1) * sizeof *p);
    if (!p) return CNNRT_NOMEM(&m->err);
    m->overrides = p;
    p[m->n_overrides] = (struct graph_param){str_dup(name), value, false, str_dup(source)};
    if (!p[m->n_overrides].name) return CNNRT_NOMEM(&m->err);
    m->n_overrides++;
    return CNNRT_OK;
}

cnnrt_status cnnrt_model_load_graph(cnnrt_model *m, const char *json_path)
{
    if (!m || !json_path) return CNNRT_E_USAGE;
    begin(m);
    drop_plan(m);
    drop_deferred(m);
    graph_free(&m->graph);
    m->graph_loaded = false;
    for (int i = 0; i < m->n_overrides; i++) {
        if (!graph_param_set(&m->graph, m->overrides[i].name, m->overrides[i].value))
            return CNNRT_NOMEM(&m->err);
        if (m->overrides[i].source &&
            !graph_param_set_source(&m->graph, m->overrides[i].name, m->overrides[i].source))
            return CNNRT_NOMEM(&m->err);
    }
    cnnrt_status st = model_json_load(&m->graph, json_path, &m->err);
    if (st) {
        graph_free(&m->graph);
        return st;
    }
    m->graph_loaded = true;
    return CNNRT_OK;
}

cnnrt_status cnnrt_model_param(cnnrt_model *m, const char *name, long *value)
{
    if (!m || !name || !value) return CNNRT_E_USAGE;
    begin(m);
    if (!graph_param_get(&m->graph, name, value))
        return cnnrt_fail(&m->err, CNNRT_E_USAGE, "the model has no parameter \"%s\"", name);
    return CNNRT_OK;
}

static cnnrt_status need_graph(cnnrt_model *m)
{
    if (!m->graph_loaded) return cnnrt_fail(&m->err, CNNRT_E_USAGE, "no graph loaded");
    return CNNRT_OK;
}

cnnrt_status cnnrt_model_load_weights(cnnrt_model *m, const char *h5_path,
                                      const cnnrt_weights_options *opts)
{
    if (!m || !h5_path) return CNNRT_E_USAGE;
    begin(m);
    cnnrt_status st = need_graph(m);
    if (st) return st;
    drop_plan(m);
    drop_deferred(m);
    m->graph.weights_loaded = false;
    struct file_sniff sniff;
    if ((st = file_sniff(h5_path, &sniff, &m->err))) return st;
    if (sniff.kind != FILE_KIND_HDF5) return file_sniff_explain(h5_path, &sniff, &m->err);
    struct deferred_weights *d = calloc(1, sizeof *d);
    if (!d) return CNNRT_NOMEM(&m->err);
    if ((st = keras_h5_open(h5_path, &d->file, &m->err))) {
        free(d);
        return st;
    }
    st = weights_match(&m->graph, &d->file, opts ? opts->pairing : CNNRT_PAIR_AUTO, &d->match,
                       &m->err);
    if (!st) {
        free(m->notes);
        m->notes = NULL;
        st = weights_check(&m->graph, &d->file, &d->match, &m->notes, &m->err);
    }
    m->graph.synthetic_seed = st ? -1 : d->file.synthetic_seed;
    if (!st && d->file.synthetic_seed >= 0)
        notes_add(&m->notes,
                  "%s holds SYNTHETIC weights (seeded random numbers, seed %ld, made by "
                  "cnnrt's synthetic-weights tool): the results show that the runtime works, "
                  "they are not real predictions",
                  h5_path, d->file.synthetic_seed);
    m->deferred = d;
    m->graph.source = (struct weight_source){fetch_deferred, give_back_deferred, d};
    if (st) {
        drop_deferred(m);
        return st;
    }
    m->graph.weights_loaded = true;
    if (!(opts && opts->defer_values)) return read_deferred(m);
    graph_drop_weights(&m->graph); /* values of an earlier load must not stay */
    /* staging for the largest layer and a BatchNorm after it; bigger ones get their own */
    for (int i = 0; i < m->graph.n_nodes; i++) {
        size_t sz = 16384;
        const struct node *n = &m->graph.nodes[i];
        for (int k = 0; k < n->n_weights; k++) sz += staged_size(&n->w[k]);
        if (sz > d->staging_cap) d->staging_cap = sz;
    }
    return CNNRT_OK;
}

cnnrt_status cnnrt_model_synthetic_weights(cnnrt_model *m, uint64_t seed)
{
    if (!m) return CNNRT_E_USAGE;
    begin(m);
    cnnrt_status st = need_graph(m);
    if (st) return st;
    drop_plan(m);
    drop_deferred(m);
    if (m->threads > 0) {
        omp_set_num_threads(m->threads);
        openblas_set_num_threads(m->threads);
    }
    return synthetic_weights(&m->graph, seed, &m->err);
}

cnnrt_status cnnrt_model_prepare(cnnrt_model *m, const cnnrt_prepare_options *opts)
{
    if (!m) return CNNRT_E_USAGE;
    begin(m);
    cnnrt_status st = need_graph(m);
    if (st) return st;
    if (!m->graph.weights_loaded) return cnnrt_fail(&m->err, CNNRT_E_USAGE, "no weights loaded");
    drop_plan(m);
    if (opts && opts->threads > 0) m->threads = opts->threads;
    const bool consume = !(opts && opts->keep_originals);
    if (!consume && (st = read_deferred(m))) return st;
    st = plan_build(&m->graph, m->threads, consume, &m->plan, &m->err);
    drop_deferred(m);
    if (consume) m->graph.weights_loaded = false; /* partly freed even on failure */
    if (st) return st;
    m->prepared = true;
    if (!(opts && opts->keep_originals)) {
        /* the plan holds its own (folded, packed) copies: drop the Keras originals */
        graph_drop_weights(&m->graph);
        m->graph.weights_loaded = false;
    }
    return CNNRT_OK;
}

cnnrt_status cnnrt_model_input_shape(cnnrt_model *m, cnnrt_shape *shape)
{
    if (!m || !shape) return CNNRT_E_USAGE;
    begin(m);
    cnnrt_status st = need_graph(m);
    if (st) return st;
    *shape = m->graph.nodes[m->graph.input].out;
    return CNNRT_OK;
}

int cnnrt_model_output_count(const cnnrt_model *m)
{
    return m && m->graph_loaded ? m->graph.n_outputs : 0;
}

cnnrt_status cnnrt_model_set_threads(cnnrt_model *m, int threads)
{
    if (!m) return CNNRT_E_USAGE;
    begin(m);
    if (threads < 0 || threads > 1024)
        return cnnrt_fail(&m->err, CNNRT_E_USAGE, "invalid thread count %d", threads);
    m->threads = threads;
    return CNNRT_OK;
}

cnnrt_status cnnrt_model_run(cnnrt_model *m, const float *input, size_t n)
{
    if (!m) return CNNRT_E_USAGE;
    begin(m);
    if (!m->prepared) return cnnrt_fail(&m->err, CNNRT_E_USAGE, "the model is not prepared");
    if (!input) return cnnrt_fail(&m->err, CNNRT_E_USAGE, "no input");
    size_t want = m->plan.tensors[m->plan.input].size;
    if (n != want)
        return cnnrt_fail(&m->err, CNNRT_E_USAGE, "input has %zu values, the model takes %zu", n, want);
    int threads = m->threads > 0 ? m->threads : cnnrt_default_threads();
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    plan_run(&m->plan, input);
    m->ran = true;
    return CNNRT_OK;
}

const float *cnnrt_model_output(cnnrt_model *m, int i, cnnrt_shape *shape)
{
    if (!m || !m->ran || i < 0 || i >= m->plan.n_outputs) return NULL;
    int t = m->plan.outputs[i];
    if (shape) *shape = m->plan.tensors[t].shape;
    return plan_data(&m->plan, t);
}

cnnrt_status cnnrt_model_save_weights(cnnrt_model *m, const char *h5_path, const char *scheme,
                                      int full_model)
{
    if (!m || !h5_path) return CNNRT_E_USAGE;
    begin(m);
    cnnrt_status st = need_graph(m);
    if (st) return st;
    if ((st = read_deferred(m))) return st;
    if (!m->graph.weights_loaded)
        return cnnrt_fail(&m->err, CNNRT_E_USAGE,
                          "no weights to save (load or generate them; prepare drops them unless "
                          "keep_originals is set)");
    struct h5_write_options o = {scheme, full_model != 0, false, 0, false};
    return keras_h5_write(&m->graph, h5_path, &o, &m->err);
}

int cnnrt_model_weights_synthetic(const cnnrt_model *m)
{
    return m && m->graph.synthetic_seed >= 0;
}

int cnnrt_default_threads(void)
{
    int n = omp_get_num_procs();
    return n > 0 ? n : 1;
}
