/* model_json_write.c - Keras 2 model_config from a graph. */
#include "graph/model_json_write.h"

#include <cJSON.h>

static cJSON *pair(int a, int b)
{
    int v[2] = {a, b};
    return cJSON_CreateIntArray(v, 2);
}

static const char *keras_act(enum act_type a)
{
    switch (a) {
    case ACT_RELU: return "relu";
    case ACT_SOFTMAX: return "softmax";
    case ACT_SIGMOID: return "sigmoid";
    default: return "linear";
    }
}

static cJSON *layer_config(const struct node *n, const char *name)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "name", name);
    switch (n->op) {
    case OP_INPUT: {
        cJSON *shape = cJSON_AddArrayToObject(c, "batch_input_shape");
        cJSON_AddItemToArray(shape, cJSON_CreateNull());
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(n->p.input.h));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(n->p.input.w));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(n->p.input.c));
        cJSON_AddStringToObject(c, "dtype", "float32");
        break;
    }
    case OP_ZERO_PAD: {
        const struct pad4 *p = &n->p.zero_pad.pad;
        cJSON *pad = cJSON_AddArrayToObject(c, "padding");
        cJSON_AddItemToArray(pad, pair(p->top, p->bottom));
        cJSON_AddItemToArray(pad, pair(p->left, p->right));
        cJSON_AddStringToObject(c, "data_format", "channels_last");
        break;
    }
    case OP_CONV2D: {
        const struct conv2d_params *p = &n->p.conv;
        cJSON_AddNumberToObject(c, "filters", p->filters);
        cJSON_AddItemToObject(c, "kernel_size", pair(p->kh, p->kw));
        cJSON_AddItemToObject(c, "strides", pair(p->sh, p->sw));
        cJSON_AddStringToObject(c, "padding", p->same ? "same" : "valid");
        cJSON_AddStringToObject(c, "data_format", "channels_last");
        cJSON_AddItemToObject(c, "dilation_rate", pair(1, 1));
        cJSON_AddStringToObject(c, "activation", keras_act(p->act));
        cJSON_AddBoolToObject(c, "use_bias", p->use_bias);
        break;
    }
    case OP_BATCH_NORM:
        cJSON_AddNumberToObject(c, "axis", -1);
        cJSON_AddNumberToObject(c, "momentum", 0.99);
        cJSON_AddNumberToObject(c, "epsilon", n->p.bn.eps);
        cJSON_AddBoolToObject(c, "center", n->p.bn.center);
        cJSON_AddBoolToObject(c, "scale", n->p.bn.scale);
        break;
    case OP_ACTIVATION:
        if (n->p.act.act == ACT_LEAKY) cJSON_AddNumberToObject(c, "alpha", n->p.act.alpha);
        else cJSON_AddStringToObject(c, "activation", keras_act(n->p.act.act));
        break;
    case OP_MAX_POOL:
        cJSON_AddItemToObject(c, "pool_size", pair(n->p.pool.kh, n->p.pool.kw));
        cJSON_AddItemToObject(c, "strides", pair(n->p.pool.sh, n->p.pool.sw));
        cJSON_AddStringToObject(c, "padding", n->p.pool.same ? "same" : "valid");
        cJSON_AddStringToObject(c, "data_format", "channels_last");
        break;
    case OP_DENSE:
        cJSON_AddNumberToObject(c, "units", n->p.dense.units);
        cJSON_AddStringToObject(c, "activation", keras_act(n->p.dense.act));
        cJSON_AddBoolToObject(c, "use_bias", n->p.dense.use_bias);
        break;
    case OP_CONCAT: cJSON_AddNumberToObject(c, "axis", -1); break;
    case OP_UPSAMPLE:
        cJSON_AddItemToObject(c, "size", pair(n->p.up.sh, n->p.up.sw));
        cJSON_AddStringToObject(c, "data_format", "channels_last");
        cJSON_AddStringToObject(c, "interpolation", "nearest");
        break;
    default: break;
    }
    return c;
}

/* Keras class name to write: LeakyReLU for leaky activations written from other classes. */
static const char *class_for(const struct node *n)
{
    if (n->op == OP_ACTIVATION && n->p.act.act == ACT_LEAKY) return "LeakyReLU";
    if (n->op == OP_ACTIVATION) return "Activation";
    return n->class_name;
}

char *model_json_keras_config(const struct graph *g, char *const *names)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "class_name", "Model");
    cJSON *cfg = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(cfg, "name", g->name ? g->name : "model");
    cJSON *layers = cJSON_AddArrayToObject(cfg, "layers");
    for (int i = 0; i < g->n_nodes; i++) {
        const struct node *n = &g->nodes[i];
        const char *name = names ? names[i] : n->name;
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "name", name);
        cJSON_AddStringToObject(l, "class_name", class_for(n));
        cJSON_AddItemToObject(l, "config", layer_config(n, name));
        cJSON *inbound = cJSON_AddArrayToObject(l, "inbound_nodes");
        if (n->n_inputs) {
            cJSON *node = cJSON_CreateArray();
            for (int k = 0; k < n->n_inputs; k++) {
                cJSON *conn = cJSON_CreateArray();
                int src = n->inputs[k];
                cJSON_AddItemToArray(conn, cJSON_CreateString(names ? names[src] : g->nodes[src].name));
                cJSON_AddItemToArray(conn, cJSON_CreateNumber(0));
                cJSON_AddItemToArray(conn, cJSON_CreateNumber(0));
                cJSON_AddItemToArray(conn, cJSON_CreateObject());
                cJSON_AddItemToArray(node, conn);
            }
            cJSON_AddItemToArray(inbound, node);
        }
        cJSON_AddItemToArray(layers, l);
    }
    cJSON *ins = cJSON_AddArrayToObject(cfg, "input_layers");
    cJSON *in = cJSON_CreateArray();
    cJSON_AddItemToArray(in, cJSON_CreateString(names ? names[g->input] : g->nodes[g->input].name));
    cJSON_AddItemToArray(in, cJSON_CreateNumber(0));
    cJSON_AddItemToArray(in, cJSON_CreateNumber(0));
    cJSON_AddItemToArray(ins, in);
    cJSON *outs = cJSON_AddArrayToObject(cfg, "output_layers");
    for (int k = 0; k < g->n_outputs; k++) {
        int o = g->outputs[k];
        cJSON *out = cJSON_CreateArray();
        cJSON_AddItemToArray(out, cJSON_CreateString(names ? names[o] : g->nodes[o].name));
        cJSON_AddItemToArray(out, cJSON_CreateNumber(0));
        cJSON_AddItemToArray(out, cJSON_CreateNumber(0));
        cJSON_AddItemToArray(outs, out);
    }
    cJSON_AddStringToObject(root, "keras_version", "2.2.4");
    cJSON_AddStringToObject(root, "backend", "tensorflow");
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}
