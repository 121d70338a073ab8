/* test_weights_report.c - inspect's guesses: Darknet value counts against the graphs'
 * own parameter counts, naming schemes on hand-written name lists, and the layer
 * alignment that finds a removed or added layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "graph/model_json.h"
#include "io/weights_match.h"
#include "io/weights_report.h"
#include "test.h"

static cnnrt_status load_model(struct graph *g, const char *name, long classes, cnnrt_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", test_source_dir(), name);
    graph_init(g);
    if (classes > 0) graph_param_set(g, "classes", classes);
    return model_json_load(g, path, err);
}

/* Darknet stores as many values as the Keras model has parameters: check the
 * constants against the graphs at two class counts, and the guess both ways. */
TEST(report_darknet_counts_match_graphs)
{
    static const struct {
        const char *json, *arch;
        unsigned long long at80, per_class;
    } cases[] = {
        {"yolov3.json", "YOLOv3", DARKNET_YOLOV3_VALUES_80, DARKNET_YOLOV3_VALUES_PER_CLASS},
        {"yolov3-tiny.json", "TinyYOLOv3", DARKNET_TINY_VALUES_80, DARKNET_TINY_VALUES_PER_CLASS},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (long classes = 3; classes <= 80; classes += 77) {
            struct graph g;
            cnnrt_error err = {0};
            REQUIRE(load_model(&g, cases[c].json, classes, &err) == CNNRT_OK);
            unsigned long long want = cases[c].at80 - (unsigned long long)(80 - classes) * cases[c].per_class;
            CHECK_MSG(graph_param_count(&g) == want, "%s, %ld classes: %zu parameters, expected %llu",
                      cases[c].json, classes, graph_param_count(&g), want);
            int guessed = 0;
            const char *arch = darknet_guess_architecture(graph_param_count(&g), &guessed);
            CHECK(arch && strcmp(arch, cases[c].arch) == 0);
            CHECK(guessed == classes);
            graph_free(&g);
        }
    }
    int classes = -1;
    CHECK(darknet_guess_architecture(1000, &classes) == NULL && classes == 0);
    CHECK(darknet_guess_architecture(DARKNET_YOLOV3_VALUES_80 + 1, &classes) == NULL);
}

/* A fake file holding only layer names; a name written "-name" is a layer without
 * weights, the others claim one weight (naming guesses only count them). */
static void fake_file(struct keras_h5 *f, const char *const *names, int n, struct h5_layer *layers)
{
    memset(f, 0, sizeof *f);
    f->layout = H5_LAYOUT_KERAS2_WEIGHTS;
    for (int i = 0; i < n; i++) {
        memset(&layers[i], 0, sizeof layers[i]);
        bool weightless = names[i][0] == '-';
        layers[i].name = (char *)names[i] + weightless;
        layers[i].n_weights = weightless ? 0 : 1;
    }
    f->layers = layers;
    f->n_layers = n;
}

TEST(report_naming_schemes)
{
    static const struct {
        const char *names[4];
        const char *id;
    } cases[] = {
        {{"input_1", "conv2d_1", "batch_normalization_1", "conv2d_2"}, "keras2"},
        {{"input_1", "conv2d", "batch_normalization", "conv2d_1"}, "tf-keras"},
        {{"input_3", "conv2d_76", "conv2d_77", "add_1"}, "keras-auto"},
        {{"conv2d_1", "conv2d_72", "last1", "last2"}, "imageai"},
        {{"input_1", "conv1_pad", "conv1_conv", "conv2_block1_1_conv"}, "keras-apps"},
        {{"input_1", "conv1", "bn_conv1", "res2a_branch2a"}, "keras-apps-v1"},
        /* old weighted names, modern weightless ones: the weighted names decide */
        {{"conv1", "bn_conv1", "-conv2_block1_1_relu", "res2a_branch2a"}, "keras-apps-v1"},
        {{"-res2a_branch2a_pad", "conv1_conv", "conv1_bn", "-input_1"}, "keras-apps"},
        {{"dense", "flatten", "my_layer", "other"}, "unknown"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct keras_h5 f;
        struct h5_layer layers[4];
        fake_file(&f, cases[c].names, 4, layers);
        struct naming_guess g = h5_guess_naming(&f);
        CHECK_MSG(strcmp(g.id, cases[c].id) == 0, "case %zu: guessed %s, expected %s", c, g.id,
                  cases[c].id);
    }
}

/* Builds a file structure from the graph's own weight shapes (as a save_weights file
 * would hold them), leaving out or adding one layer. */
struct shaped_file {
    struct keras_h5 f;
    struct h5_layer layers[256];
    struct h5_dataset sets[256][NODE_MAX_WEIGHTS];
    char names[256][64];
};

static void file_from_graph(struct shaped_file *s, const struct graph *g, const int *nodes,
                            int n_nodes, const char *skip, int extra_after)
{
    memset(s, 0, sizeof *s);
    s->f.layout = H5_LAYOUT_KERAS2_WEIGHTS;
    s->f.path = (char *)"fake.h5";
    int n = 0;
    for (int i = 0; i < n_nodes && n < 250; i++) {
        const struct node *nd = &g->nodes[nodes[i]];
        if (skip && strcmp(nd->name, skip) == 0) continue;
        struct h5_layer *L = &s->layers[n];
        snprintf(s->names[n], sizeof s->names[n], "%s", nd->name);
        L->name = s->names[n];
        L->weights = s->sets[n];
        L->n_weights = nd->n_weights;
        for (int k = 0; k < nd->n_weights; k++) {
            s->sets[n][k].rank = nd->w[k].rank;
            s->sets[n][k].dtype = H5_DTYPE_FLOAT;
            s->sets[n][k].dtype_bytes = 4;
            for (int d = 0; d < nd->w[k].rank; d++) s->sets[n][k].dims[d] = nd->w[k].dims[d];
        }
        n++;
        if (i == extra_after) { /* a 1x1 conv with bias the model does not have */
            L = &s->layers[n];
            snprintf(s->names[n], sizeof s->names[n], "extra_conv");
            L->name = s->names[n];
            L->weights = s->sets[n];
            L->n_weights = 2;
            s->sets[n][0] = (struct h5_dataset){NULL, 4, {1, 1, 7, 7}, H5_DTYPE_FLOAT, 4, NULL};
            s->sets[n][1] = (struct h5_dataset){NULL, 1, {7}, H5_DTYPE_FLOAT, 4, NULL};
            n++;
        }
    }
    s->f.layers = s->layers;
    s->f.n_layers = n;
}

TEST(report_alignment_names_missing_and_extra_layer)
{
    struct graph g;
    cnnrt_error err = {0};
    REQUIRE(load_model(&g, "yolov3-tiny.json", 0, &err) == CNNRT_OK);
    struct weights_match m;
    /* pair the graph with itself first, to get its weighted layers in Keras order */
    struct shaped_file *s = calloc(1, sizeof *s);
    REQUIRE(s);
    int all[512];
    for (int i = 0; i < g.n_nodes; i++) all[i] = i;
    file_from_graph(s, &g, all, g.n_nodes, NULL, -1);
    REQUIRE(weights_match(&g, &s->f, CNNRT_PAIR_AUTO, &m, &err) == CNNRT_OK);
    int order[64], n = m.n_model;
    memcpy(order, m.model_nodes, (size_t)n * sizeof *order);
    weights_match_free(&m);

    /* drop a BatchNormalization in the middle: the loader must name it */
    const char *dropped = g.nodes[order[9]].name;
    file_from_graph(s, &g, order, n, dropped, -1);
    REQUIRE(weights_match(&g, &s->f, CNNRT_PAIR_AUTO, &m, &err) == CNNRT_OK);
    CHECK(!m.by_name);
    struct weights_alignment a;
    REQUIRE(weights_align(&g, &s->f, &m, &a, &err) == CNNRT_OK);
    CHECK(a.model_to_file[9] == -1);
    for (int i = 0; i < n; i++)
        if (i != 9) CHECK(a.model_to_file[i] == (i < 9 ? i : i - 1));
    weights_alignment_free(&a);
    CHECK(weights_check(&g, &s->f, &m, NULL, &err) == CNNRT_E_MISMATCH);
    char want[128];
    snprintf(want, sizeof want, "the model's layer '%s'", dropped);
    CHECK_MSG(strstr(err.message, want) != NULL, "message: %s", err.message);
    weights_match_free(&m);

    /* an added layer after weighted layer 4 */
    file_from_graph(s, &g, order, n, NULL, 4);
    REQUIRE(weights_match(&g, &s->f, CNNRT_PAIR_AUTO, &m, &err) == CNNRT_OK);
    CHECK(weights_check(&g, &s->f, &m, NULL, &err) == CNNRT_E_MISMATCH);
    CHECK_MSG(strstr(err.message, "the file's layer 'extra_conv'") != NULL, "message: %s",
              err.message);
    snprintf(want, sizeof want, "the model goes from '%s' straight to '%s'", g.nodes[order[4]].name,
             g.nodes[order[5]].name);
    CHECK_MSG(strstr(err.message, want) != NULL, "message: %s", err.message);
    weights_match_free(&m);
    free(s);
    graph_free(&g);
}
