/* keras_h5.c - Keras HDF5 structure and data reading, defensively (see
 * ../shared/RELIABILITY.md: no plugins, no external links or storage, every size
 * checked before anything is allocated from it). */
#include "io/keras_h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <H5PLpublic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"

#define MAX_STRINGS 200000          /* entries of layer_names / weight_names */
#define MAX_STRING_BYTES (1u << 16) /* one fixed-length string */
#define MAX_ATTR_BYTES (64u << 20)  /* one attribute (model_config can be large) */

/* The group holding the layer groups, by enum h5_layout. */
static const char *const layout_group[] = {[H5_LAYOUT_KERAS2_WEIGHTS] = "/",
                                           [H5_LAYOUT_KERAS2_FULL] = "model_weights",
                                           [H5_LAYOUT_KERAS3_WEIGHTS] = "layers"};

void h5_library_init(void)
{
    static int done;
    if (done) return;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5PLset_loading_state(0);
    done = 1;
}

struct h5_err_walk {
    char *buf;
    size_t len;
};

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    struct h5_err_walk *w = data;
    /* H5E_WALK_UPWARD starts at the innermost (most specific) entry: keep the first */
    if (!w->buf[0] && e->desc && e->desc[0]) snprintf(w->buf, w->len, "%s", e->desc);
    return 0;
}

const char *h5_last_error(char *buf, size_t len)
{
    buf[0] = '\0';
    struct h5_err_walk w = {buf, len};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

/* Refuses to follow external links (they would open other files). */
static herr_t deny_external_link(const char *parent_file, const char *parent_group,
                                 const char *file, const char *obj, unsigned *acc, hid_t fapl,
                                 void *data)
{
    (void)parent_file, (void)parent_group, (void)file, (void)obj, (void)acc, (void)fapl, (void)data;
    return -1;
}

/* Access property list of class cls (H5P_DATASET_ACCESS or H5P_GROUP_ACCESS, both
 * link-access lists) that refuses external links and long link chains. */
struct h5_access {
    hid_t gapl, dapl;
};

static hid_t access_plist(hid_t cls)
{
    hid_t pl = H5Pcreate(cls);
    if (pl < 0) return pl;
    H5Pset_elink_cb(pl, deny_external_link, NULL);
    H5Pset_nlinks(pl, 8);
    return pl;
}

/* The file, read-only; closing it closes whatever is still open in it. */
static hid_t open_file(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return file;
}

#define OBJECT_ABSENT (-1)
#define OBJECT_EXTERNAL_LINK (-2)

/* 0 when every component of the path name inside loc is there as a hard or soft
 * link; else OBJECT_ABSENT, or OBJECT_EXTERNAL_LINK when one is an external link
 * (never followed). */
static int check_links(hid_t loc, const char *name)
{
    char path[1024];
    if (strlen(name) >= sizeof path) return OBJECT_ABSENT;
    strcpy(path, name);
    for (char *p = path;; p++) {
        char saved = *p;
        if (saved == '/' || saved == '\0') {
            *p = '\0';
            if (path[0]) {
                H5L_info_t li; /* fails when the link is missing (errors are silenced) */
                if (H5Lget_info(loc, path, &li, H5P_DEFAULT) < 0) return OBJECT_ABSENT;
                if (li.type == H5L_TYPE_EXTERNAL) return OBJECT_EXTERNAL_LINK;
            }
            *p = saved;
            if (saved == '\0') break;
        }
    }
    return 0;
}

/* Type of the object at name inside loc: H5O_TYPE_GROUP, _DATASET, OBJECT_ABSENT, or
 * OBJECT_EXTERNAL_LINK (see check_links). */
static int object_type(hid_t loc, const char *name)
{
    const int links = check_links(loc, name);
    if (links) return links;
    H5O_info_t oi;
    if (H5Oget_info_by_name(loc, name, &oi, H5P_DEFAULT) < 0) return OBJECT_ABSENT;
    return (int)oi.type;
}

/* Printable text: valid UTF-8 without control characters. Names read from a file are
 * printed in messages and used as JSON strings, so anything else is refused. */
static bool text_is_clean(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                                  : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (extra < 0 || *p < 0x20 || *p == 0x7F || (*p >= 0xC0 && *p < 0xC2) || *p > 0xF4)
            return false;
        for (int k = 1; k <= extra; k++)
            if ((p[k] & 0xC0) != 0x80) return false;
        p += 1 + extra;
    }
    return true;
}

static void free_strings(char **s, int n)
{
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

/* Reads a string attribute (scalar or 1-D, fixed or variable length) as an array of
 * C strings. A 0-length numeric array (h5py's empty list) gives 0 strings.
 * *present = false if the attribute does not exist. */
static cnnrt_status read_string_attr(hid_t obj, const char *name, char ***out, int *count,
                                     bool *present, cnnrt_error *err)
{
    *out = NULL;
    *count = 0;
    *present = false;
    if (H5Aexists(obj, name) <= 0) return CNNRT_OK;
    *present = true;
    cnnrt_status st = CNNRT_OK;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    hid_t s = a >= 0 ? H5Aget_space(a) : -1;
    hid_t mt = -1;
    char **strs = NULL;
    int n = 0;
    if (a < 0 || t < 0 || s < 0) {
        st = cnnrt_fail(err, CNNRT_E_FORMAT, "attribute '%s' cannot be read", name);
        goto done;
    }
    hssize_t npoints = H5Sget_simple_extent_npoints(s);
    if (npoints < 0 || npoints > MAX_STRINGS) {
        st = cnnrt_fail(err, CNNRT_E_FORMAT, "attribute '%s' has an invalid size", name);
        goto done;
    }
    if (H5Tget_class(t) != H5T_STRING) {
        if (npoints == 0) goto done; /* empty list stored as a numeric array */
        st = cnnrt_fail(err, CNNRT_E_FORMAT, "attribute '%s' is not a list of strings", name);
        goto done;
    }
    n = (int)npoints;
    strs = calloc((size_t)n + 1, sizeof *strs);
    if (!strs) {
        st = CNNRT_NOMEM(err);
        goto done;
    }
    if (H5Tis_variable_str(t) > 0) {
        char **raw = calloc((size_t)n + 1, sizeof *raw);
        mt = H5Tcopy(H5T_C_S1);
        if (!raw || mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mt, H5Tget_cset(t)) < 0 || H5Aread(a, mt, raw) < 0) {
            free(raw);
            st = cnnrt_fail(err, CNNRT_E_FORMAT, "attribute '%s' cannot be read", name);
            goto done;
        }
        for (int i = 0; i < n && !st; i++) {
            strs[i] = str_dup(raw[i] ? raw[i] : "");
            if (!strs[i]) st = CNNRT_NOMEM(err);
        }
        H5Dvlen_reclaim(mt, s, H5P_DEFAULT, raw);
        free(raw);
    } else {
        size_t sz = H5Tget_size(t);
        size_t total;
        if (sz == 0 || sz > MAX_STRING_BYTES || !size_mul(sz, (size_t)n, &total) ||
            total > MAX_ATTR_BYTES) {
            st = cnnrt_fail(err, CNNRT_E_FORMAT, "attribute '%s' is too large", name);
            goto done;
        }
        char *buf = malloc(total + 1);
        mt = H5Tcopy(t);
        if (!buf || mt < 0 || H5Aread(a, mt, buf) < 0) {
            free(buf);
            st = cnnrt_fail(err, CNNRT_E_FORMAT, "attribute '%s' cannot be read", name);
            goto done;
        }
        for (int i = 0; i < n && !st; i++) {
            const char *src = buf + (size_t)i * sz;
            size_t len = strnlen(src, sz);
            while (len > 0 && src[len - 1] == ' ') len--; /* space-padded strings */
            strs[i] = malloc(len + 1);
            if (!strs[i]) {
                st = CNNRT_NOMEM(err);
                break;
            }
            memcpy(strs[i], src, len);
            strs[i][len] = '\0';
        }
        free(buf);
    }
    for (int i = 0; i < n && !st; i++)
        if (!text_is_clean(strs[i]))
            st = cnnrt_fail(err, CNNRT_E_FORMAT,
                            "attribute '%s', entry %d, is not printable text (control characters "
                            "or invalid UTF-8): the file is damaged or was not written by Keras",
                            name, i);
done:
    if (mt >= 0) H5Tclose(mt);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (st) {
        free_strings(strs, n);
        return st;
    }
    *out = strs;
    *count = strs ? n : 0;
    return CNNRT_OK;
}

/* Reads a list attribute that Keras may have split into name0, name1, ... when it
 * was too large for one HDF5 attribute header. */
static cnnrt_status read_split_string_attr(hid_t obj, const char *name, char ***out, int *count,
                                           bool *present, cnnrt_error *err)
{
    cnnrt_status st = read_string_attr(obj, name, out, count, present, err);
    if (st || *present) return st;
    char chunk_name[256];
    for (int chunk = 0;; chunk++) {
        snprintf(chunk_name, sizeof chunk_name, "%s%d", name, chunk);
        char **part;
        int n;
        bool here;
        st = read_string_attr(obj, chunk_name, &part, &n, &here, err);
        if (st || !here) break;
        *present = true;
        if (*count + n > MAX_STRINGS) {
            free_strings(part, n);
            st = cnnrt_fail(err, CNNRT_E_FORMAT, "attribute '%s' has too many entries", name);
            break;
        }
        char **grown = realloc(*out, ((size_t)*count + n + 1) * sizeof *grown);
        if (!grown) {
            free_strings(part, n);
            st = CNNRT_NOMEM(err);
            break;
        }
        *out = grown;
        memcpy(*out + *count, part, (size_t)n * sizeof *part);
        *count += n;
        free(part);
    }
    if (st) {
        free_strings(*out, *count);
        *out = NULL;
        *count = 0;
    }
    return st;
}

/* A scalar string attribute, or NULL if absent/unreadable. */
static char *read_scalar_string(hid_t obj, const char *name)
{
    char **s;
    int n;
    bool present;
    cnnrt_error ignored;
    if (read_string_attr(obj, name, &s, &n, &present, &ignored) || n < 1) return NULL;
    char *v = s[0];
    s[0] = NULL;
    free_strings(s, n);
    return v;
}

static void set_problem(struct h5_dataset *d, const char *what)
{
    if (!d->problem) d->problem = str_dup(what);
}

static bool filter_allowed(H5Z_filter_t id)
{
    return id == H5Z_FILTER_DEFLATE || id == H5Z_FILTER_SHUFFLE || id == H5Z_FILTER_FLETCHER32 ||
           id == H5Z_FILTER_NBIT || id == H5Z_FILTER_SCALEOFFSET;
}

/* Fills d's dtype and shape from the dataset at d->name inside group. */
static void describe_dataset(hid_t group, hid_t dapl, struct h5_dataset *d)
{
    d->rank = -1;
    const int links = check_links(group, d->name);
    if (links == OBJECT_EXTERNAL_LINK) {
        set_problem(d, "is an external link to another file (refused: cnnrt reads only the "
                       "weights file itself)");
        return;
    }
    /* opened as whatever object it is, then checked to be a dataset: one lookup
     * instead of an info query and an open (hundreds of datasets per file) */
    hid_t ds = links ? -1 : H5Oopen(group, d->name, dapl);
    if (ds < 0) {
        set_problem(d, "is listed in weight_names but missing from the file");
        return;
    }
    if (H5Iget_type(ds) != H5I_DATASET) {
        H5Oclose(ds);
        set_problem(d, "is listed in weight_names but is not a dataset");
        return;
    }
    hid_t t = H5Dget_type(ds), s = H5Dget_space(ds), pl = H5Dget_create_plist(ds);
    if (t >= 0) {
        H5T_class_t cls = H5Tget_class(t);
        d->dtype = cls == H5T_FLOAT ? H5_DTYPE_FLOAT : cls == H5T_INTEGER ? H5_DTYPE_INT : H5_DTYPE_OTHER;
        d->dtype_bytes = (int)H5Tget_size(t);
    }
    if (s >= 0) {
        int rank = H5Sget_simple_extent_ndims(s);
        if (rank >= 0 && rank <= H5_MAX_RANK) {
            hsize_t dims[H5_MAX_RANK];
            H5Sget_simple_extent_dims(s, dims, NULL);
            d->rank = rank;
            for (int k = 0; k < rank; k++) d->dims[k] = dims[k] > INT64_MAX ? -1 : (int64_t)dims[k];
        } else {
            set_problem(d, "has an unsupported number of dimensions");
        }
    }
    if (pl >= 0) {
        H5D_layout_t layout = H5Pget_layout(pl);
        if (layout == H5D_VIRTUAL) set_problem(d, "is a virtual dataset (refused: it reads other files)");
        if (H5Pget_external_count(pl) > 0)
            set_problem(d, "uses external storage (refused: it reads other files)");
        int nf = H5Pget_nfilters(pl);
        for (int k = 0; k < nf; k++) {
            unsigned flags;
            size_t nelem = 0;
            char fname[64];
            H5Z_filter_t id = H5Pget_filter2(pl, (unsigned)k, &flags, &nelem, NULL, sizeof fname,
                                             fname, NULL);
            if (!filter_allowed(id) || H5Zfilter_avail(id) <= 0) {
                char msg[160];
                snprintf(msg, sizeof msg, "is compressed with HDF5 filter %d, which cnnrt does not "
                         "support (plugins are disabled)", (int)id);
                set_problem(d, msg);
            }
        }
    }
    if (pl >= 0) H5Pclose(pl);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    H5Dclose(ds);
    H5Eclear2(H5E_DEFAULT);
}

static cnnrt_status read_layer(struct keras_h5 *f, struct h5_access *ac, struct h5_layer *L,
                               cnnrt_error *err)
{
    int type = object_type(f->group, L->name);
    if (type == OBJECT_EXTERNAL_LINK)
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "layer '%s' is an external link to another file (refused: cnnrt reads "
                          "only the weights file itself)",
                          L->name);
    if (type != H5O_TYPE_GROUP) return CNNRT_OK; /* no group: no weights */
    hid_t g = H5Gopen2(f->group, L->name, ac->gapl);
    if (g < 0) return cnnrt_fail(err, CNNRT_E_FORMAT, "layer group '%s' cannot be opened", L->name);
    char **names;
    int n;
    bool present;
    cnnrt_status st = read_split_string_attr(g, "weight_names", &names, &n, &present, err);
    if (st) {
        cnnrt_error_prefix(err, "layer '%s': ", L->name);
        H5Gclose(g);
        return st;
    }
    if (n > 0) {
        L->weights = calloc((size_t)n, sizeof *L->weights);
        if (!L->weights) {
            free_strings(names, n);
            H5Gclose(g);
            return CNNRT_NOMEM(err);
        }
        for (int k = 0; k < n; k++) {
            L->weights[k].name = names[k];
            names[k] = NULL;
            describe_dataset(g, ac->dapl, &L->weights[k]);
        }
        L->n_weights = n;
    }
    free_strings(names, n);
    H5Gclose(g);
    return CNNRT_OK;
}

/* Keras 3 .weights.h5: layers/<name>/vars/<i>. Layers are listed in name order. */
struct k3_iter {
    struct keras_h5 *f;
    hid_t dapl;
    cnnrt_status st;
    cnnrt_error *err;
};

static herr_t k3_layer_cb(hid_t grp, const char *name, const H5L_info_t *info, void *data)
{
    struct k3_iter *it = data;
    if (info->type != H5L_TYPE_HARD || object_type(grp, name) != H5O_TYPE_GROUP) return 0;
    struct keras_h5 *f = it->f;
    struct h5_layer *grown = realloc(f->layers, ((size_t)f->n_layers + 1) * sizeof *grown);
    if (!grown) {
        it->st = CNNRT_NOMEM(it->err);
        return -1;
    }
    f->layers = grown;
    struct h5_layer *L = &f->layers[f->n_layers++];
    memset(L, 0, sizeof *L);
    L->name = str_dup(name);
    char vars[1100];
    snprintf(vars, sizeof vars, "%s/vars", name);
    for (int k = 0; k < 16; k++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%d", vars, k);
        if (object_type(grp, path) != H5O_TYPE_DATASET) break;
        struct h5_dataset *w = realloc(L->weights, ((size_t)L->n_weights + 1) * sizeof *w);
        if (!w) {
            it->st = CNNRT_NOMEM(it->err);
            return -1;
        }
        L->weights = w;
        memset(&L->weights[L->n_weights], 0, sizeof *w);
        L->weights[L->n_weights].name = str_dup(path);
        describe_dataset(grp, it->dapl, &L->weights[L->n_weights]);
        L->n_weights++;
    }
    return 0;
}

static cnnrt_status open_structure(const char *path, struct keras_h5 *f, cnnrt_error *err);

/* Exit statuses of the probing child; anything else means it did not end normally. */
enum { PROBE_OK = 0, PROBE_ERROR = 3 };

/* ------------------------------------------------- structure hand-over -- */

/* The probing child (below) sends the structure it read to the parent, which then
 * need not read it a second time (for YOLOv3, ~370 datasets: 20-30 ms). The stream
 * is flat: a magic word, then fields in keras_h5 order; strings as a length (-1 =
 * NULL) and bytes. The parent checks every length against the bytes received and
 * reads the file itself whenever anything does not fit. */
#define STRUCTURE_MAGIC 0x3153354854524e43ull /* "CNRTH5S1" */
#define STRUCTURE_MAX_BYTES ((size_t)512 << 20)

struct stream {
    char *buf;
    size_t len, cap, at;
    bool bad;
};

static void put(struct stream *s, const void *p, size_t n)
{
    if (s->bad) return;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n) cap *= 2;
        char *grown = realloc(s->buf, cap);
        if (!grown) {
            s->bad = true;
            return;
        }
        s->buf = grown;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void put_i64(struct stream *s, int64_t v) { put(s, &v, sizeof v); }

static void put_str(struct stream *s, const char *str)
{
    put_i64(s, str ? (int64_t)strlen(str) : -1);
    if (str) put(s, str, strlen(str));
}

static void get(struct stream *s, void *p, size_t n)
{
    if (s->bad || n > s->len - s->at) {
        s->bad = true;
        memset(p, 0, n);
        return;
    }
    memcpy(p, s->buf + s->at, n);
    s->at += n;
}

static int64_t get_i64(struct stream *s)
{
    int64_t v;
    get(s, &v, sizeof v);
    return v;
}

/* A string of the stream (NULL for -1, or when the stream is bad: check s->bad). */
static char *get_str(struct stream *s)
{
    const int64_t n = get_i64(s);
    if (s->bad || n < 0) return NULL;
    if ((uint64_t)n > s->len - s->at || memchr(s->buf + s->at, '\0', (size_t)n)) {
        s->bad = true;
        return NULL;
    }
    char *str = malloc((size_t)n + 1);
    if (!str) {
        s->bad = true;
        return NULL;
    }
    memcpy(str, s->buf + s->at, (size_t)n);
    str[n] = '\0';
    s->at += (size_t)n;
    return str;
}

static void structure_write(const struct keras_h5 *f, struct stream *s)
{
    put_i64(s, (int64_t)STRUCTURE_MAGIC);
    put_i64(s, f->layout);
    put_i64(s, f->synthetic_seed);
    put_str(s, f->keras_version);
    put_str(s, f->backend);
    put_str(s, f->model_config);
    put_i64(s, f->n_layers);
    for (int i = 0; i < f->n_layers; i++) {
        const struct h5_layer *L = &f->layers[i];
        put_str(s, L->name);
        put_i64(s, L->n_weights);
        for (int k = 0; k < L->n_weights; k++) {
            const struct h5_dataset *d = &L->weights[k];
            put_str(s, d->name);
            put_i64(s, d->rank);
            for (int r = 0; r < H5_MAX_RANK; r++) put_i64(s, d->dims[r]);
            put_i64(s, d->dtype);
            put_i64(s, d->dtype_bytes);
            put_str(s, d->problem);
        }
    }
}

/* Fills f (path, file and group handles aside) from the stream; false when it does
 * not parse (f is then to be closed). */
static bool structure_read(struct stream *s, struct keras_h5 *f)
{
    if ((uint64_t)get_i64(s) != STRUCTURE_MAGIC) return false;
    const int64_t layout = get_i64(s);
    if (layout < H5_LAYOUT_KERAS2_WEIGHTS || layout > H5_LAYOUT_KERAS3_WEIGHTS) return false;
    f->layout = (enum h5_layout)layout;
    f->synthetic_seed = (long)get_i64(s);
    f->keras_version = get_str(s);
    f->backend = get_str(s);
    f->model_config = get_str(s);
    const int64_t n = get_i64(s);
    if (s->bad || n < 0 || n > MAX_STRINGS) return false;
    f->layers = calloc((size_t)n + 1, sizeof *f->layers);
    if (!f->layers) return false;
    for (int i = 0; i < n && !s->bad; i++) {
        struct h5_layer *L = &f->layers[i];
        f->n_layers = i + 1;
        L->name = get_str(s);
        const int64_t nw = get_i64(s);
        if (s->bad || !L->name || nw < 0 || nw > MAX_STRINGS) return false;
        L->weights = nw ? calloc((size_t)nw, sizeof *L->weights) : NULL;
        if (nw && !L->weights) return false;
        for (int k = 0; k < nw && !s->bad; k++) {
            struct h5_dataset *d = &L->weights[k];
            L->n_weights = k + 1;
            d->name = get_str(s);
            const int64_t rank = get_i64(s);
            for (int r = 0; r < H5_MAX_RANK; r++) d->dims[r] = get_i64(s);
            const int64_t dtype = get_i64(s), bytes = get_i64(s);
            d->problem = get_str(s);
            if (!d->name || rank < -1 || rank > H5_MAX_RANK || dtype < H5_DTYPE_FLOAT ||
                dtype > H5_DTYPE_OTHER || bytes < 0 || bytes > 64)
                return false;
            d->rank = (int)rank;
            d->dtype = (enum h5_dtype)dtype;
            d->dtype_bytes = (int)bytes;
        }
    }
    return !s->bad && s->at == s->len;
}

bool keras_h5_structure_encode(const struct keras_h5 *f, char **buf, size_t *len)
{
    struct stream s = {0};
    structure_write(f, &s);
    if (s.bad) {
        free(s.buf);
        return false;
    }
    *buf = s.buf;
    *len = s.len;
    return true;
}

bool keras_h5_structure_decode(const char *buf, size_t len, struct keras_h5 *f)
{
    struct stream s = {(char *)buf, len, len, 0, false};
    memset(f, 0, sizeof *f);
    f->file = f->group = -1;
    if (structure_read(&s, f)) return true;
    keras_h5_close(f);
    return false;
}

/* Opens the file and its weights group for a structure received from the child. */
static bool structure_attach(const char *path, struct keras_h5 *f)
{
    f->path = str_dup(path);
    f->file = f->path ? open_file(path) : -1;
    if (f->file < 0) return false;
    hid_t gapl = access_plist(H5P_GROUP_ACCESS);
    f->group = H5Gopen2(f->file, layout_group[f->layout], gapl);
    if (gapl >= 0) H5Pclose(gapl);
    H5Eclear2(H5E_DEFAULT);
    return f->group >= 0;
}

/* Everything the child wrote to fd, up to STRUCTURE_MAX_BYTES (more: s->bad). */
static void read_all(int fd, struct stream *s)
{
    char chunk[65536];
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        if (s->len + (size_t)got > STRUCTURE_MAX_BYTES) s->bad = true;
        put(s, chunk, (size_t)got); /* (ignored once bad; the pipe is drained) */
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t put = write(fd, p, n);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return;
        p += put;
        n -= (size_t)put;
    }
}

/* HDF5 1.10 is not hardened against damaged or malicious files: some corrupt
 * structures crash it (found by mutating Keras files: H5HG_read under variable-length
 * strings, H5O__attr_exists). The structure is therefore read in a child process
 * first; if the child dies from a signal, the file is reported as damaged instead of
 * crashing the caller. When the child read it without error, it hands the structure
 * over (see structure_write) and *received says whether out now holds it, file
 * opened. Returns CNNRT_OK when the child survived (or could not be started),
 * whatever it found: the caller's own read reports ordinary errors. */
static cnnrt_status probe_in_child(const char *path, struct keras_h5 *out, bool *received,
                                   cnnrt_error *err)
{
    *received = false;
    int fds[2];
    if (pipe(fds) != 0) fds[0] = fds[1] = -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { /* no isolation available: read directly */
        if (fds[0] >= 0) {
            close(fds[0]);
            close(fds[1]);
        }
        return CNNRT_OK;
    }
    if (pid == 0) {
        /* the child's own messages (C library or sanitizer reports about HDF5's
         * failure) would only confuse: its exit status says everything */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        if (fds[0] >= 0) close(fds[0]);
        struct keras_h5 f;
        cnnrt_error ignored;
        int rc = open_structure(path, &f, &ignored) == CNNRT_OK ? PROBE_OK : PROBE_ERROR;
        char *buf;
        size_t len;
        if (rc == PROBE_OK && fds[1] >= 0 && keras_h5_structure_encode(&f, &buf, &len)) {
            write_all(fds[1], buf, len);
            free(buf);
        }
        keras_h5_close(&f);
        _exit(rc);
    }
    struct stream s = {0};
    if (fds[0] >= 0) {
        close(fds[1]);
        read_all(fds[0], &s); /* until the child exits */
        close(fds[0]);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            free(s.buf);
            return CNNRT_OK;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == PROBE_OK && s.len > 0 && !s.bad &&
        keras_h5_structure_decode(s.buf, s.len, out)) {
        if (structure_attach(path, out)) *received = true;
        else keras_h5_close(out); /* read it here instead */
    }
    free(s.buf);
    if (WIFSIGNALED(status))
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: the HDF5 file is damaged: the HDF5 library crashed (signal %d) while "
                          "reading its structure.\n"
                          "  likely cause: a corrupt or partial download, or a file edited by hand.\n"
                          "  fix: download or save the weights file again.",
                          path, WTERMSIG(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) != PROBE_OK && WEXITSTATUS(status) != PROBE_ERROR)
        /* the child ended some other way: a sanitizer or the C library aborted it */
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: the HDF5 file is damaged: the HDF5 library failed (exit status %d) "
                          "while reading its structure.\n"
                          "  likely cause: a corrupt or partial download, or a file edited by hand.\n"
                          "  fix: download or save the weights file again.",
                          path, WEXITSTATUS(status));
    return CNNRT_OK;
}

cnnrt_status keras_h5_open(const char *path, struct keras_h5 *f, cnnrt_error *err)
{
    memset(f, 0, sizeof *f);
    f->file = f->group = -1;
    h5_library_init();
    bool received;
    cnnrt_status st = probe_in_child(path, f, &received, err);
    if (st || received) return st;
    return open_structure(path, f, err);
}

static cnnrt_status open_structure(const char *path, struct keras_h5 *f, cnnrt_error *err)
{
    memset(f, 0, sizeof *f);
    f->file = f->group = -1;
    h5_library_init();
    f->path = str_dup(path);
    if (!f->path) return CNNRT_NOMEM(err);
    f->file = open_file(path);
    if (f->file < 0) {
        char why[256];
        h5_last_error(why, sizeof why);
        cnnrt_status st = cnnrt_fail(err, CNNRT_E_FORMAT,
                                     "%s: the HDF5 file cannot be opened (%s).\n"
                                     "  likely cause: a corrupt or partial download.\n"
                                     "  fix: download the weights file again.",
                                     path, why[0] ? why : "unknown HDF5 error");
        keras_h5_close(f);
        return st;
    }
    hid_t root = H5Gopen2(f->file, "/", H5P_DEFAULT);
    H5G_info_t root_info;
    char root_error[256] = "";
    if (root < 0 || H5Gget_info(root, &root_info) < 0) h5_last_error(root_error, sizeof root_error);
    struct h5_access ac = {access_plist(H5P_GROUP_ACCESS), access_plist(H5P_DATASET_ACCESS)};
    cnnrt_status st = CNNRT_OK;
    char **names = NULL;
    int n = 0;
    bool present = false;
    if (root < 0 || root_error[0]) {
        st = cnnrt_fail(err, CNNRT_E_FORMAT,
                        "%s: the HDF5 file is damaged: its root group cannot be read (%s).\n"
                        "  likely cause: a corrupt download or a disk error.\n"
                        "  fix: download the weights file again.",
                        path, root_error[0] ? root_error : "unknown HDF5 error");
        goto done;
    }

    f->keras_version = read_scalar_string(root, "keras_version");
    f->backend = read_scalar_string(root, "backend");
    f->model_config = read_scalar_string(root, "model_config");
    f->synthetic_seed = -1;
    char *synthetic = read_scalar_string(root, "cnnrt_synthetic_seed");
    if (synthetic) {
        f->synthetic_seed = strtol(synthetic, NULL, 10);
        free(synthetic);
    }

    if ((st = read_split_string_attr(root, "layer_names", &names, &n, &present, err))) {
        cnnrt_error_prefix(err, "%s: ", path);
        goto done;
    }
    if (present) {
        f->layout = H5_LAYOUT_KERAS2_WEIGHTS;
        f->group = H5Gopen2(root, layout_group[f->layout], H5P_DEFAULT);
    } else if (object_type(root, "model_weights") == H5O_TYPE_GROUP) {
        f->layout = H5_LAYOUT_KERAS2_FULL;
        f->group = H5Gopen2(root, layout_group[f->layout], ac.gapl);
        if ((st = read_split_string_attr(f->group, "layer_names", &names, &n, &present, err))) {
            cnnrt_error_prefix(err, "%s: ", path);
            goto done;
        }
        if (!f->keras_version) f->keras_version = read_scalar_string(f->group, "keras_version");
        if (!f->backend) f->backend = read_scalar_string(f->group, "backend");
        if (!present) {
            st = cnnrt_fail(err, CNNRT_E_FORMAT,
                            "%s: the group 'model_weights' has no 'layer_names' attribute; this "
                            "is not a Keras weights file",
                            path);
            goto done;
        }
    } else if (object_type(root, "layers") == H5O_TYPE_GROUP) {
        f->layout = H5_LAYOUT_KERAS3_WEIGHTS;
        f->group = H5Gopen2(root, layout_group[f->layout], ac.gapl);
        struct k3_iter it = {f, ac.dapl, CNNRT_OK, err};
        H5Literate(f->group, H5_INDEX_NAME, H5_ITER_INC, NULL, k3_layer_cb, &it);
        st = it.st;
        goto done;
    } else {
        st = cnnrt_fail(err, CNNRT_E_FORMAT,
                        "%s: an HDF5 file, but not a Keras weights file (no 'layer_names' "
                        "attribute at the root, no 'model_weights' group, no Keras 3 'layers' "
                        "group).\n"
                        "  fix: save the weights from Keras with model.save_weights(\"x.h5\") or "
                        "model.save(\"x.h5\").",
                        path);
        goto done;
    }
    if (f->group < 0) {
        st = cnnrt_fail(err, CNNRT_E_FORMAT, "%s: the weights group cannot be opened", path);
        goto done;
    }
    f->layers = calloc((size_t)n + 1, sizeof *f->layers);
    if (!f->layers) {
        st = CNNRT_NOMEM(err);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        f->layers[i].name = names[i];
        names[i] = NULL;
        f->n_layers = i + 1;
        if ((st = read_layer(f, &ac, &f->layers[i], err))) {
            cnnrt_error_prefix(err, "%s: ", path);
            goto done;
        }
    }
done:
    free_strings(names, n);
    if (ac.gapl >= 0) H5Pclose(ac.gapl);
    if (ac.dapl >= 0) H5Pclose(ac.dapl);
    if (root >= 0) H5Gclose(root);
    H5Eclear2(H5E_DEFAULT);
    if (st) keras_h5_close(f);
    return st;
}

uint64_t h5_dataset_elems(const struct h5_dataset *d)
{
    if (d->rank < 0) return 0;
    uint64_t n = 1;
    for (int k = 0; k < d->rank; k++) {
        if (d->dims[k] < 0 || __builtin_mul_overflow(n, (uint64_t)d->dims[k], &n)) return 0;
    }
    return n;
}

const char *h5_format_dims(const struct h5_dataset *d, char *buf, size_t len)
{
    if (d->rank < 0) {
        snprintf(buf, len, "(unknown)");
        return buf;
    }
    size_t pos = (size_t)snprintf(buf, len, "(");
    for (int k = 0; k < d->rank && pos < len; k++)
        pos += (size_t)snprintf(buf + pos, len - pos, k ? ", %lld" : "%lld", (long long)d->dims[k]);
    if (d->rank == 1 && pos < len) pos += (size_t)snprintf(buf + pos, len - pos, ",");
    if (pos < len) snprintf(buf + pos, len - pos, ")");
    return buf;
}

/* Index of the first NaN or infinity in x[0..n), or n. Scans in blocks with a
 * branch-free (vectorisable) test: an all-ones exponent. */
static size_t first_non_finite(const float *x, size_t n)
{
    const size_t block = 4096;
    for (size_t b = 0; b < n; b += block) {
        const size_t end = b + block < n ? b + block : n;
        uint32_t any = 0;
        for (size_t i = b; i < end; i++) {
            uint32_t bits;
            memcpy(&bits, &x[i], sizeof bits);
            any |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
        }
        if (any)
            for (size_t i = b; i < end; i++)
                if (!isfinite(x[i])) return i;
    }
    return n;
}

/* Dataset w of layer l, opened with the access lists that refuse external links. */
struct open_dataset {
    struct h5_access ac;
    hid_t group, ds;
};

static hid_t dataset_open(struct keras_h5 *f, int l, int w, struct open_dataset *o)
{
    const struct h5_layer *L = &f->layers[l];
    o->ac = (struct h5_access){access_plist(H5P_GROUP_ACCESS), access_plist(H5P_DATASET_ACCESS)};
    o->group = f->layout == H5_LAYOUT_KERAS3_WEIGHTS ? H5Gopen2(f->group, ".", o->ac.gapl)
                                                      : H5Gopen2(f->group, L->name, o->ac.gapl);
    o->ds = o->group >= 0 ? H5Dopen2(o->group, L->weights[w].name, o->ac.dapl) : -1;
    return o->ds;
}

static void dataset_close(struct open_dataset *o)
{
    if (o->ds >= 0) H5Dclose(o->ds);
    if (o->group >= 0) H5Gclose(o->group);
    if (o->ac.gapl >= 0) H5Pclose(o->ac.gapl);
    if (o->ac.dapl >= 0) H5Pclose(o->ac.dapl);
}

/* The errors for a dataset that was never checked or cannot be read. */
static cnnrt_status check_usable(const struct keras_h5 *f, int l, int w, size_t count,
                                 cnnrt_error *err)
{
    const struct h5_layer *L = &f->layers[l];
    const struct h5_dataset *d = &L->weights[w];
    if (d->problem)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: layer '%s', weight '%s' %s", f->path, L->name,
                          d->name, d->problem);
    if (d->dtype != H5_DTYPE_FLOAT || h5_dataset_elems(d) != count)
        return cnnrt_fail(err, CNNRT_E_INTERNAL, "keras_h5: unchecked dataset %s", d->name);
    return CNNRT_OK;
}

/* NaN or infinite values are an error. */
static cnnrt_status check_finite(const struct keras_h5 *f, int l, int w, const float *x,
                                 size_t count, cnnrt_error *err)
{
    size_t bad = first_non_finite(x, count);
    if (bad < count)
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: layer '%s', weight '%s' holds NaN or infinite values (element "
                          "%zu).\n"
                          "  likely cause: training diverged before the weights were saved, or "
                          "the file is corrupt.",
                          f->path, f->layers[l].name, f->layers[l].weights[w].name, bad);
    return CNNRT_OK;
}

cnnrt_status keras_h5_read(struct keras_h5 *f, int l, int w, float *dst, size_t count,
                           cnnrt_error *err)
{
    cnnrt_status st = check_usable(f, l, w, count, err);
    if (st) return st;
    struct open_dataset o;
    hid_t ds = dataset_open(f, l, w, &o);
    herr_t rc = ds >= 0 ? H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) : -1;
    char why[256] = "";
    if (rc < 0) h5_last_error(why, sizeof why);
    dataset_close(&o);
    if (rc < 0)
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: layer '%s', weight '%s' cannot be read (%s).\n"
                          "  likely cause: a corrupt or truncated file.\n"
                          "  fix: download the weights file again.",
                          f->path, f->layers[l].name, f->layers[l].weights[w].name,
                          why[0] ? why : "HDF5 read error");
    return check_finite(f, l, w, dst, count, err);
}

/* Maps the file HDF5 has open (through HDF5's own descriptor: the very file whose
 * structure was checked) unless that was tried already; false when it is not mapped.
 * Files with a user block are not: dataset addresses would not be file offsets. */
static bool map_file(struct keras_h5 *f)
{
    if (f->map_state) return f->map_state > 0;
    f->map_state = -1;
    if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__) return false;
    hid_t fcpl = H5Fget_create_plist(f->file), fapl = H5Fget_access_plist(f->file);
    hsize_t userblock = 1;
    const bool sec2 = fapl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2;
    if (fcpl >= 0) H5Pget_userblock(fcpl, &userblock);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    int *fd = NULL;
    struct stat st;
    const bool ok = sec2 && userblock == 0 &&
                    H5Fget_vfd_handle(f->file, H5P_DEFAULT, (void **)&fd) >= 0 && fd &&
                    fstat(*fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    H5Eclear2(H5E_DEFAULT);
    if (!ok) return false;
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, *fd, 0);
    if (map == MAP_FAILED) return false;
    f->map = map;
    f->map_bytes = (size_t)st.st_size;
    f->map_state = 1;
    return true;
}

cnnrt_status keras_h5_map(struct keras_h5 *f, int l, int w, size_t count, float **out,
                          cnnrt_error *err)
{
    *out = NULL;
    /* the first call maps the file, whatever the dataset: the planner's first fetch, on
     * its own thread, before any reading ahead on another one */
    const bool mapped = map_file(f);
    cnnrt_status st = check_usable(f, l, w, count, err);
    if (st || !mapped || f->layers[l].weights[w].dtype_bytes != 4) return st;
    struct open_dataset o;
    hid_t ds = dataset_open(f, l, w, &o);
    hid_t dcpl = ds >= 0 ? H5Dget_create_plist(ds) : -1, type = ds >= 0 ? H5Dget_type(ds) : -1;
    const bool in_place = dcpl >= 0 && type >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS &&
                          H5Pget_external_count(dcpl) == 0 && H5Pget_nfilters(dcpl) == 0 &&
                          H5Tequal(type, H5T_IEEE_F32LE) > 0 &&
                          H5Dget_storage_size(ds) == (hsize_t)count * sizeof(float);
    const haddr_t at = in_place ? H5Dget_offset(ds) : HADDR_UNDEF;
    if (dcpl >= 0) H5Pclose(dcpl);
    if (type >= 0) H5Tclose(type);
    dataset_close(&o);
    H5Eclear2(H5E_DEFAULT);
    /* inside the file (a truncated file must not fault), at a float's alignment */
    if (at == HADDR_UNDEF || at % sizeof(float) != 0 || at > f->map_bytes ||
        count > (f->map_bytes - at) / sizeof(float))
        return CNNRT_OK;
    float *x = (float *)((char *)f->map + at);
    if ((st = check_finite(f, l, w, x, count, err))) return st;
    *out = x;
    return CNNRT_OK;
}

bool keras_h5_mapped(const struct keras_h5 *f, const float *p)
{
    const uintptr_t at = (uintptr_t)p, lo = (uintptr_t)f->map;
    return f->map && at >= lo && at - lo < f->map_bytes;
}

void keras_h5_unmap(struct keras_h5 *f, const float *p, size_t count)
{
    if (!keras_h5_mapped(f, p)) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) / page * page;
    const uintptr_t hi = ((uintptr_t)p + count * sizeof(float)) / page * page;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void keras_h5_close(struct keras_h5 *f)
{
    if (!f) return;
    for (int i = 0; i < f->n_layers; i++) {
        struct h5_layer *L = &f->layers[i];
        for (int k = 0; k < L->n_weights; k++) {
            free(L->weights[k].name);
            free(L->weights[k].problem);
        }
        free(L->weights);
        free(L->name);
    }
    free(f->layers);
    if (f->map) munmap(f->map, f->map_bytes);
    if (f->group > 0) H5Gclose((hid_t)f->group);
    if (f->file > 0) H5Fclose((hid_t)f->file);
    free(f->path);
    free(f->keras_version);
    free(f->backend);
    free(f->model_config);
    memset(f, 0, sizeof *f);
    f->file = f->group = -1;
}
