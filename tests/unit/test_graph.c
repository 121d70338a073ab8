/* test_graph.c - model JSON reading, shape inference, Keras layer order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "graph/expr.h"
#include "graph/keras_order.h"
#include "graph/model_json.h"
#include "test.h"

static cnnrt_status load_model(struct graph *g, const char *name, cnnrt_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", test_source_dir(), name);
    graph_init(g);
    return model_json_load(g, path, err);
}

/* Writes text to a temporary JSON file and loads it; returns the status. */
static cnnrt_status load_text(const char *text, struct graph *g, cnnrt_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/model.json", test_tmp_dir());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    graph_init(g);
    cnnrt_error_clear(err);
    return model_json_load(g, path, err);
}

static int order_index(const struct graph *g, const int *order, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[order[i]].name, name) == 0) return i;
    return -1;
}

TEST(graph_resnet50_shapes_and_counts)
{
    struct graph g;
    cnnrt_error err = {0};
    REQUIRE(load_model(&g, "resnet50.json", &err) == CNNRT_OK);
    CHECK(g.n_nodes == 177);
    int weighted = 0;
    for (int i = 0; i < g.n_nodes; i++) weighted += g.nodes[i].n_weights > 0;
    CHECK(weighted == 107);
    CHECK(graph_param_count(&g) == 25636712); /* Keras ResNet50: 25,636,712 parameters */
    int pool = graph_find(&g, "pool1_pool");
    REQUIRE(pool >= 0);
    CHECK(g.nodes[pool].out.h == 56 && g.nodes[pool].out.w == 56 && g.nodes[pool].out.c == 64);
    int last = graph_find(&g, "conv5_block3_out");
    CHECK(g.nodes[last].out.h == 7 && g.nodes[last].out.c == 2048);
    double gmac = graph_macs(&g) / 1e9;
    CHECK_MSG(gmac > 3.8 && gmac < 3.9, "ResNet50 GMACs %.3f", gmac);
    graph_free(&g);
}

TEST(graph_resnet50_keras_layer_order)
{
    struct graph g;
    cnnrt_error err = {0};
    REQUIRE(load_model(&g, "resnet50.json", &err) == CNNRT_OK);
    int *order = malloc((size_t)g.n_nodes * sizeof *order);
    REQUIRE(keras_layer_order(&g, order, &err) == CNNRT_OK);
    /* FORMATS.md: a projection block is listed 1_conv 1_bn 1_relu 2_conv 2_bn 2_relu
     * 0_conv 3_conv 0_bn 3_bn add out */
    const char *expect[] = {"_1_conv", "_1_bn", "_1_relu", "_2_conv", "_2_bn", "_2_relu",
                            "_0_conv", "_3_conv", "_0_bn",  "_3_bn",  "_add",  "_out"};
    int base = order_index(&g, order, "conv3_block1_1_conv");
    REQUIRE(base >= 0);
    for (int k = 0; k < 12; k++) {
        char want[64];
        snprintf(want, sizeof want, "conv3_block1%s", expect[k]);
        CHECK_MSG(strcmp(g.nodes[order[base + k]].name, want) == 0, "position %d: %s, expected %s",
                  base + k, g.nodes[order[base + k]].name, want);
    }
    CHECK(strcmp(g.nodes[order[0]].name, "input_1") == 0);
    CHECK(strcmp(g.nodes[order[g.n_nodes - 1]].name, "predictions") == 0);
    free(order);
    graph_free(&g);
}

TEST(graph_yolov3_keras_layer_order)
{
    struct graph g;
    cnnrt_error err = {0};
    REQUIRE(load_model(&g, "yolov3.json", &err) == CNNRT_OK);
    CHECK(g.n_nodes == 252);
    int *order = malloc((size_t)g.n_nodes * sizeof *order);
    REQUIRE(keras_layer_order(&g, order, &err) == CNNRT_OK);
    /* FORMATS.md: convs in cfg order up to conv2d_57, then 60..65, 68..73, then
     * 58, 66, 74, 59, 67, 75 */
    int expect[75], n = 0;
    for (int i = 1; i <= 57; i++) expect[n++] = i;
    for (int i = 60; i <= 65; i++) expect[n++] = i;
    for (int i = 68; i <= 73; i++) expect[n++] = i;
    int tail[] = {58, 66, 74, 59, 67, 75};
    for (int i = 0; i < 6; i++) expect[n++] = tail[i];
    int seen = 0;
    for (int i = 0; i < g.n_nodes; i++) {
        const struct node *nd = &g.nodes[order[i]];
        if (nd->op != OP_CONV2D) continue;
        char want[32];
        snprintf(want, sizeof want, "conv2d_%d", expect[seen]);
        CHECK_MSG(strcmp(nd->name, want) == 0, "conv %d is %s, expected %s", seen, nd->name, want);
        seen++;
    }
    CHECK(seen == 75);
    /* keras-yolo3 train.py: Darknet-53 ends with add_23 at index 184 */
    CHECK(order_index(&g, order, "add_23") == 184);
    CHECK(order_index(&g, order, "add_11") == 92);
    CHECK(order_index(&g, order, "add_19") == 152);
    free(order);
    graph_free(&g);
}

TEST(graph_yolov3_params_change_shapes)
{
    struct graph g;
    graph_init(&g);
    graph_param_set(&g, "classes", 3);
    graph_param_set(&g, "size", 608);
    char path[1024];
    snprintf(path, sizeof path, "%s/models/yolov3.json", test_source_dir());
    cnnrt_error err = {0};
    REQUIRE(model_json_load(&g, path, &err) == CNNRT_OK);
    const struct node *o = &g.nodes[g.outputs[0]];
    CHECK(o->out.h == 19 && o->out.w == 19 && o->out.c == 24);
    o = &g.nodes[g.outputs[2]];
    CHECK(o->out.h == 76 && o->out.c == 24);
    graph_free(&g);
}

TEST(graph_tiny_yolov3_counts)
{
    struct graph g;
    cnnrt_error err = {0};
    REQUIRE(load_model(&g, "yolov3-tiny.json", &err) == CNNRT_OK);
    CHECK(g.n_nodes == 44);
    int weighted = 0;
    for (int i = 0; i < g.n_nodes; i++) weighted += g.nodes[i].n_weights > 0;
    CHECK(weighted == 24);
    graph_free(&g);
}

TEST(graph_expressions)
{
    struct graph g;
    graph_init(&g);
    graph_param_set(&g, "classes", 80);
    long v;
    char why[128];
    CHECK(expr_eval("3*(5+classes)", &g, &v, why, sizeof why) && v == 255);
    CHECK(expr_eval(" 7 - 2*3 ", &g, &v, why, sizeof why) && v == 1);
    CHECK(expr_eval("-classes/8", &g, &v, why, sizeof why) && v == -10);
    CHECK(!expr_eval("classes +", &g, &v, why, sizeof why));
    CHECK(!expr_eval("nope*2", &g, &v, why, sizeof why) && strstr(why, "nope"));
    CHECK(!expr_eval("4/0", &g, &v, why, sizeof why));
    CHECK(!expr_eval("99999999999999999999", &g, &v, why, sizeof why));
    graph_free(&g);
}

#define HEAD "{\"params\": {\"size\": 8}, \"layers\": [" \
             "{\"name\": \"in\", \"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": [null, 8, 8, 3]}},"

TEST(graph_json_errors_name_the_layer)
{
    struct graph g;
    cnnrt_error err = {0};
    /* unknown layer kind */
    CHECK(load_text(HEAD "{\"name\": \"x\", \"class_name\": \"Frobnicate\", \"inputs\": [\"in\"]}],"
                         "\"outputs\": [\"x\"]}", &g, &err) == CNNRT_E_FORMAT);
    CHECK(strstr(err.message, "'x'") && strstr(err.message, "Frobnicate"));
    graph_free(&g);
    /* dangling input */
    CHECK(load_text(HEAD "{\"name\": \"c\", \"class_name\": \"Conv2D\", \"config\": {\"filters\": 4,"
                         "\"kernel_size\": 3}, \"inputs\": [\"nowhere\"]}], \"outputs\": [\"c\"]}",
                    &g, &err) == CNNRT_E_FORMAT);
    CHECK(strstr(err.message, "'c'") && strstr(err.message, "nowhere"));
    graph_free(&g);
    /* missing required field */
    CHECK(load_text(HEAD "{\"name\": \"c\", \"class_name\": \"Conv2D\", \"config\": {\"kernel_size\": 3},"
                         "\"inputs\": [\"in\"]}], \"outputs\": [\"c\"]}", &g, &err) == CNNRT_E_FORMAT);
    CHECK(strstr(err.message, "filters"));
    graph_free(&g);
    /* valid window that does not fit */
    CHECK(load_text(HEAD "{\"name\": \"c\", \"class_name\": \"Conv2D\", \"config\": {\"filters\": 4,"
                         "\"kernel_size\": 9}, \"inputs\": [\"in\"]}], \"outputs\": [\"c\"]}",
                    &g, &err) == CNNRT_E_FORMAT);
    CHECK(strstr(err.message, "'c'"));
    graph_free(&g);
    /* add of different shapes */
    CHECK(load_text(HEAD "{\"name\": \"c\", \"class_name\": \"Conv2D\", \"config\": {\"filters\": 4,"
                         "\"kernel_size\": 1}, \"inputs\": [\"in\"]},"
                         "{\"name\": \"a\", \"class_name\": \"Add\", \"inputs\": [\"in\", \"c\"]}],"
                         "\"outputs\": [\"a\"]}", &g, &err) == CNNRT_E_FORMAT);
    CHECK(strstr(err.message, "'a'"));
    graph_free(&g);
    /* dead layer */
    CHECK(load_text(HEAD "{\"name\": \"c\", \"class_name\": \"Conv2D\", \"config\": {\"filters\": 4,"
                         "\"kernel_size\": 1}, \"inputs\": [\"in\"]},"
                         "{\"name\": \"d\", \"class_name\": \"Conv2D\", \"config\": {\"filters\": 4,"
                         "\"kernel_size\": 1}, \"inputs\": [\"in\"]}], \"outputs\": [\"c\"]}",
                    &g, &err) == CNNRT_E_FORMAT);
    CHECK(strstr(err.message, "'d'"));
    graph_free(&g);
    /* syntax error is located */
    CHECK(load_text("{\"layers\": [\n  {\"name\": }\n]}", &g, &err) == CNNRT_E_FORMAT);
    CHECK(strstr(err.message, "line 2"));
    graph_free(&g);
    /* duplicate names */
    CHECK(load_text(HEAD "{\"name\": \"in\", \"class_name\": \"ReLU\", \"inputs\": [\"in\"]}],"
                         "\"outputs\": [\"in\"]}", &g, &err) == CNNRT_E_FORMAT);
    CHECK(strstr(err.message, "twice"));
    graph_free(&g);
}

TEST(graph_keras_model_config_form)
{
    /* Keras's own model_config spelling (inbound_nodes, output_layers) */
    struct graph g;
    cnnrt_error err = {0};
    CHECK(load_text("{\"class_name\": \"Model\", \"config\": {\"name\": \"m\", \"layers\": ["
                    "{\"name\": \"input_1\", \"class_name\": \"InputLayer\", \"config\": "
                    "{\"batch_input_shape\": [null, 16, 16, 3]}, \"inbound_nodes\": []},"
                    "{\"name\": \"conv2d_1\", \"class_name\": \"Conv2D\", \"config\": {\"filters\": 8,"
                    "\"kernel_size\": [3, 3], \"strides\": [2, 2], \"padding\": \"same\"},"
                    "\"inbound_nodes\": [[[\"input_1\", 0, 0, {}]]]}],"
                    "\"input_layers\": [[\"input_1\", 0, 0]], \"output_layers\": [[\"conv2d_1\", 0, 0]]}}",
                    &g, &err) == CNNRT_OK);
    CHECK(g.n_nodes == 2 && g.nodes[1].out.h == 8 && g.nodes[1].out.c == 8);
    CHECK(g.nodes[1].p.conv.pad.top == 0 && g.nodes[1].p.conv.pad.bottom == 1);
    graph_free(&g);
}
