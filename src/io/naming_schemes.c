/*
 * naming_schemes.c - the layer names other Keras versions and tools give the same
 * architecture, so that test files can reproduce what users actually hold:
 *
 *   "keras2"        standalone Keras 2.x auto-names from _1 (conv2d_1): the graph's own
 *                   names for our JSONs;
 *   "tf-keras"      tf.keras auto-names from no suffix (conv2d, conv2d_1, ...);
 *   "imageai"       ImageAI 2.x YOLOv3: output convs named last1..last3, the other convs
 *                   numbered conv2d_1.. without them;
 *   "keras-apps-v1" the original keras-applications ResNet50 names (conv1, bn_conv1,
 *                   res2a_branch2a, bn2a_branch2a, res2a_branch1, fc1000).
 */
#include "io/naming_schemes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"

/* Keras auto-name prefixes ("conv2d" for Conv2D, ...). */
static const char *const auto_prefixes[] = {"conv2d",         "batch_normalization", "leaky_re_lu",
                                            "zero_padding2d", "add",                 "up_sampling2d",
                                            "concatenate",    "activation",          "dense",
                                            "max_pooling2d",  "re_lu",               "input"};

/* If name is prefix_N for a Keras auto prefix, returns N and the prefix length. */
static bool split_auto_name(const char *name, size_t *prefix_len, long *number)
{
    for (size_t i = 0; i < CNNRT_ARRAY_LEN(auto_prefixes); i++) {
        size_t n = strlen(auto_prefixes[i]);
        if (strncmp(name, auto_prefixes[i], n) != 0 || name[n] != '_' || !isdigit((unsigned char)name[n + 1]))
            continue;
        char *end;
        long v = strtol(name + n + 1, &end, 10);
        if (*end) continue;
        *prefix_len = n;
        *number = v;
        return true;
    }
    return false;
}

static char *tf_keras_name(const char *name)
{
    size_t plen;
    long num;
    if (!split_auto_name(name, &plen, &num) || num < 1) return str_dup(name);
    char buf[300];
    if (num == 1) snprintf(buf, sizeof buf, "%.*s", (int)plen, name);
    else snprintf(buf, sizeof buf, "%.*s_%ld", (int)plen, name, num - 1);
    return str_dup(buf);
}

/* ResNet50 modern -> keras-applications v1 names. */
static char *apps_v1_name(const char *name)
{
    char buf[300];
    int stage, block, idx;
    char kind[8];
    if (strcmp(name, "conv1_conv") == 0) return str_dup("conv1");
    if (strcmp(name, "conv1_bn") == 0) return str_dup("bn_conv1");
    if (strcmp(name, "predictions") == 0) return str_dup("fc1000");
    if (sscanf(name, "conv%d_block%d_%d_%3s", &stage, &block, &idx, kind) == 4 && block >= 1 &&
        block <= 26 && idx >= 0 && idx <= 3 && (strcmp(kind, "con") == 0 || strcmp(kind, "bn") == 0)) {
        const char *suffix = strchr(name + strlen("conv0_block0_0"), '_');
        if (!suffix) return str_dup(name);
        bool bn = strcmp(suffix, "_bn") == 0, conv = strcmp(suffix, "_conv") == 0;
        if (!bn && !conv) return str_dup(name);
        char letter = (char)('a' + block - 1);
        const char *branch = idx == 0 ? "1" : idx == 1 ? "2a" : idx == 2 ? "2b" : "2c";
        snprintf(buf, sizeof buf, "%s%d%c_branch%s", bn ? "bn" : "res", stage, letter, branch);
        return str_dup(buf);
    }
    return str_dup(name);
}

cnnrt_status naming_scheme_apply(const struct graph *g, const char *scheme, char ***names_out,
                                 cnnrt_error *err)
{
    *names_out = NULL;
    char **names = calloc((size_t)g->n_nodes, sizeof *names);
    if (!names) return CNNRT_NOMEM(err);
    enum { KEEP, TF, IMAGEAI, APPS_V1 } kind;
    if (!scheme || !*scheme || strcmp(scheme, "keras2") == 0) kind = KEEP;
    else if (strcmp(scheme, "tf-keras") == 0) kind = TF;
    else if (strcmp(scheme, "imageai") == 0) kind = IMAGEAI;
    else if (strcmp(scheme, "keras-apps-v1") == 0) kind = APPS_V1;
    else {
        free(names);
        return cnnrt_fail(err, CNNRT_E_USAGE,
                          "unknown naming scheme \"%s\" (known: keras2, tf-keras, imageai, "
                          "keras-apps-v1)",
                          scheme);
    }
    int head = 0, conv = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const struct node *n = &g->nodes[i];
        bool output_conv = false;
        for (int k = 0; k < g->n_outputs; k++) output_conv |= g->outputs[k] == i && n->op == OP_CONV2D;
        char buf[64];
        switch (kind) {
        case KEEP: names[i] = str_dup(n->name); break;
        case TF: names[i] = tf_keras_name(n->name); break;
        case APPS_V1: names[i] = apps_v1_name(n->name); break;
        case IMAGEAI:
            if (output_conv) {
                snprintf(buf, sizeof buf, "last%d", ++head);
                names[i] = str_dup(buf);
            } else if (n->op == OP_CONV2D) {
                snprintf(buf, sizeof buf, "conv2d_%d", ++conv);
                names[i] = str_dup(buf);
            } else {
                names[i] = str_dup(n->name);
            }
            break;
        }
        if (!names[i]) {
            naming_scheme_free(names, g->n_nodes);
            return CNNRT_NOMEM(err);
        }
    }
    for (int i = 0; i < g->n_nodes; i++) /* a scheme must keep names unique */
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) {
                cnnrt_status st = cnnrt_fail(err, CNNRT_E_USAGE,
                                             "naming scheme \"%s\" gives two layers the name '%s'",
                                             scheme, names[i]);
                naming_scheme_free(names, g->n_nodes);
                return st;
            }
    *names_out = names;
    return CNNRT_OK;
}

void naming_scheme_free(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}
