/*
 * keras_h5_write.c - writes a graph's weights as Keras 2 writes them
 * (keras/engine/saving.py save_weights_to_hdf5_group): layer_names in model.layers
 * order, one group per layer with weight_names, datasets at <layer>/<weight_name>;
 * full-model files add keras_version, backend and model_config at the root and put
 * the layers under /model_weights. Used by the synthetic-weights tool and tests.
 */
#include "io/keras_h5_write.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "graph/keras_order.h"
#include "graph/model_json_write.h"
#include "io/keras_h5.h"
#include "io/naming_schemes.h"

/* Writes strings[0..n) as attribute name: fixed-length (h5py's default for numpy
 * 'S' arrays) or variable-length; split into name0, name1, ... of `split` entries. */
static herr_t write_strings(hid_t obj, const char *name, char *const *strings, int n, bool vlen,
                           int split)
{
    if (split > 0 && n > split) {
        for (int chunk = 0; chunk * split < n; chunk++) {
            char chunk_name[256];
            snprintf(chunk_name, sizeof chunk_name, "%s%d", name, chunk);
            int count = CNNRT_MIN(split, n - chunk * split);
            if (write_strings(obj, chunk_name, strings + (size_t)chunk * split, count, vlen, 0) < 0)
                return -1;
        }
        return 0;
    }
    hsize_t dims[1] = {(hsize_t)n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t type;
    herr_t rc = -1;
    if (n == 0) { /* h5py stores an empty list as an empty float64 array */
        hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) {
            rc = 0;
            H5Aclose(a);
        }
        H5Sclose(space);
        return rc;
    }
    if (vlen) {
        type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, H5T_VARIABLE);
        hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) {
            rc = H5Awrite(a, type, strings);
            H5Aclose(a);
        }
    } else {
        size_t width = 1;
        for (int i = 0; i < n; i++) width = CNNRT_MAX(width, strlen(strings[i]));
        char *buf = calloc((size_t)n, width);
        type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, width);
        H5Tset_strpad(type, H5T_STR_NULLPAD);
        if (buf) {
            for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * width, strings[i], strlen(strings[i]));
            hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
            if (a >= 0) {
                rc = H5Awrite(a, type, buf);
                H5Aclose(a);
            }
            free(buf);
        }
    }
    H5Tclose(type);
    H5Sclose(space);
    return rc;
}

static herr_t write_scalar_string(hid_t obj, const char *name, const char *value)
{
    char *one[1] = {(char *)value};
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, CNNRT_MAX(strlen(value), 1));
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = -1;
    if (a >= 0) {
        rc = H5Awrite(a, type, one[0]);
        H5Aclose(a);
    }
    H5Sclose(space);
    H5Tclose(type);
    return rc;
}

static herr_t write_dataset(hid_t group, hid_t lcpl, const char *path, const struct weight *w,
                            bool float64)
{
    hsize_t dims[4];
    for (int d = 0; d < w->rank; d++) dims[d] = (hsize_t)w->dims[d];
    hid_t space = H5Screate_simple(w->rank, dims, NULL);
    hid_t ds = H5Dcreate2(group, path, float64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE, space, lcpl,
                          H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = -1;
    if (ds >= 0) {
        rc = H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->data);
        H5Dclose(ds);
    }
    H5Sclose(space);
    return rc;
}

static cnnrt_status write_file(const struct graph *g, const char *path,
                               const struct h5_write_options *o, char **names, const int *order,
                               cnnrt_error *err)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST); /* large attributes */
    H5Pset_alignment(fapl, 1024, 64); /* values a reader can use in place (keras_h5_map) */
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (file < 0) {
        char why[256];
        return cnnrt_fail(err, CNNRT_E_IO, "%s: cannot create the file (%s)", path,
                          h5_last_error(why, sizeof why));
    }
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    hid_t top = root;
    bool ok = true;
    if (o->full_model) {
        char *config = model_json_keras_config(g, names);
        ok = config && write_scalar_string(root, "keras_version", "2.2.4") >= 0 &&
             write_scalar_string(root, "backend", "tensorflow") >= 0 &&
             write_scalar_string(root, "model_config", config) >= 0;
        free(config);
        top = H5Gcreate2(root, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        ok = ok && top >= 0;
    }
    if (ok && g->synthetic_seed >= 0) {
        char seed[32];
        snprintf(seed, sizeof seed, "%ld", g->synthetic_seed);
        ok = write_scalar_string(root, "cnnrt_synthetic_seed", seed) >= 0;
    }
    char **ordered = malloc((size_t)g->n_nodes * sizeof *ordered);
    ok = ok && ordered;
    if (ok) {
        for (int i = 0; i < g->n_nodes; i++) ordered[i] = names[order[i]];
        ok = write_strings(top, "layer_names", ordered, g->n_nodes, o->vlen_strings, o->split_attrs) >= 0;
        if (!o->full_model) ok = ok && write_scalar_string(top, "keras_version", "2.2.4") >= 0 &&
                                 write_scalar_string(top, "backend", "tensorflow") >= 0;
    }
    free(ordered);
    for (int i = 0; i < g->n_nodes && ok; i++) {
        const struct node *n = &g->nodes[order[i]];
        const char *lname = names[order[i]];
        hid_t lg = H5Gcreate2(top, lname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (lg < 0) {
            ok = false;
            break;
        }
        char *wnames[NODE_MAX_WEIGHTS];
        char storage[NODE_MAX_WEIGHTS][320];
        for (int k = 0; k < n->n_weights; k++) {
            snprintf(storage[k], sizeof storage[k], "%s/%s:0", lname, n->w[k].role);
            wnames[k] = storage[k];
        }
        ok = write_strings(lg, "weight_names", wnames, n->n_weights, o->vlen_strings, 0) >= 0;
        for (int k = 0; k < n->n_weights && ok; k++)
            ok = write_dataset(lg, lcpl, wnames[k], &n->w[k], o->float64) >= 0;
        H5Gclose(lg);
    }
    if (top != root && top >= 0) H5Gclose(top);
    H5Gclose(root);
    H5Pclose(lcpl);
    if (H5Fclose(file) < 0) ok = false;
    if (!ok) {
        char why[256];
        return cnnrt_fail(err, CNNRT_E_IO, "%s: writing failed (%s)", path,
                          h5_last_error(why, sizeof why));
    }
    return CNNRT_OK;
}

cnnrt_status keras_h5_write(const struct graph *g, const char *path, const struct h5_write_options *o,
                            cnnrt_error *err)
{
    h5_library_init();
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_weights; k++)
            if (!g->nodes[i].w[k].data)
                return cnnrt_fail(err, CNNRT_E_USAGE, "the model has no weights to save");
    char **names;
    cnnrt_status st = naming_scheme_apply(g, o->scheme, &names, err);
    if (st) return st;
    int *order = malloc((size_t)g->n_nodes * sizeof *order);
    char *tmp = atomic_tmp_name(path);
    if (!order || !tmp) st = CNNRT_NOMEM(err);
    if (!st) st = keras_layer_order(g, order, err);
    if (!st) {
        st = write_file(g, tmp, o, names, order, err);
        if (!st && rename(tmp, path) != 0)
            st = cnnrt_fail(err, CNNRT_E_IO, "%s: cannot rename the finished file into place", path);
        if (st) remove(tmp);
    }
    free(tmp);
    free(order);
    naming_scheme_free(names, g->n_nodes);
    return st;
}
