/* file_sniff.c - recognising weight-file look-alikes by their bytes. */
#include "io/file_sniff.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "io/weights_report.h"

static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static uint64_t read_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* End-of-file address recorded in an HDF5 superblock at sb (0 if unknown). */
static uint64_t hdf5_eof_address(const unsigned char *sb, size_t avail)
{
    if (avail < 16) return 0;
    int version = sb[8];
    if (version == 0 || version == 1) {
        int off_size = sb[13];
        if (off_size != 4 && off_size != 8) return 0;
        size_t pos = 24 + (version == 1 ? 4 : 0); /* base address */
        if (pos + 4 * (size_t)off_size > avail) return 0;
        uint64_t base = read_le(sb + pos, off_size);
        uint64_t eof = read_le(sb + pos + 2 * off_size, off_size);
        return base + eof;
    }
    if (version == 2 || version == 3) {
        int off_size = sb[9];
        if (off_size != 4 && off_size != 8) return 0;
        size_t pos = 12;
        if (pos + 3 * (size_t)off_size > avail) return 0;
        uint64_t base = read_le(sb + pos, off_size);
        uint64_t eof = read_le(sb + pos + 2 * off_size, off_size);
        return base + eof;
    }
    return 0;
}

static bool mem_contains(const unsigned char *buf, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    if (m == 0 || n < m) return false;
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(buf + i, needle, m) == 0) return true;
    return false;
}

static bool looks_like_html(const unsigned char *buf, size_t n)
{
    size_t i = 0;
    if (n >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF) i = 3;
    while (i < n && isspace(buf[i])) i++;
    if (i >= n || buf[i] != '<') return false;
    char head[32] = {0};
    for (size_t k = 0; k + 1 < sizeof head && i + k < n; k++) head[k] = (char)tolower(buf[i + k]);
    return strncmp(head, "<!doctype", 9) == 0 || strncmp(head, "<html", 5) == 0 ||
           strncmp(head, "<?xml", 5) == 0 || strncmp(head, "<head", 5) == 0 ||
           strncmp(head, "<body", 5) == 0;
}

static bool looks_like_json(const unsigned char *buf, size_t n)
{
    size_t i = 0;
    while (i < n && isspace(buf[i])) i++;
    return i < n && (buf[i] == '{' || buf[i] == '[');
}

cnnrt_status file_sniff(const char *path, struct file_sniff *out, cnnrt_error *err)
{
    memset(out, 0, sizeof *out);
    out->kind = FILE_KIND_UNKNOWN;
    cnnrt_status st = file_size(path, &out->size, err);
    if (st) return st;
    if (out->size == 0) {
        out->kind = FILE_KIND_EMPTY;
        return CNNRT_OK;
    }
    FILE *f = fopen(path, "rb");
    if (!f) return cnnrt_fail(err, CNNRT_E_IO, "%s: %s", path, strerror(errno));
    unsigned char head[4096];
    size_t n = fread(head, 1, sizeof head, f);
    unsigned char tail[65536];
    size_t tn = 0;
    if (out->size > sizeof head) {
        uint64_t start = out->size > sizeof tail ? out->size - sizeof tail : 0;
        if (fseek(f, (long)start, SEEK_SET) == 0) tn = fread(tail, 1, sizeof tail, f);
    }
    bool read_error = ferror(f);
    fclose(f);
    if (read_error) return cnnrt_fail(err, CNNRT_E_IO, "%s: read failed", path);

    /* HDF5: signature at 0, 512, 1024, 2048, ... (a user block may precede it) */
    for (uint64_t off = 0; off + 8 <= n; off = off ? off * 2 : 512) {
        if (memcmp(head + off, hdf5_signature, 8) == 0) {
            out->kind = FILE_KIND_HDF5;
            out->expected_size = hdf5_eof_address(head + off, n - (size_t)off);
            if (out->expected_size > out->size) out->kind = FILE_KIND_HDF5_TRUNCATED;
            return CNNRT_OK;
        }
    }
    if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
        if (mem_contains(head, n, "data.pkl") || mem_contains(tail, tn, "data.pkl") ||
            mem_contains(head, n, "archive/"))
            out->kind = FILE_KIND_PYTORCH_ZIP;
        else if (mem_contains(head, n, "model.weights.h5") || mem_contains(tail, tn, "model.weights.h5") ||
                 mem_contains(head, n, "metadata.json"))
            out->kind = FILE_KIND_KERAS3_ZIP;
        else
            out->kind = FILE_KIND_ZIP;
        return CNNRT_OK;
    }
    if (n >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) {
        out->kind = FILE_KIND_PYTORCH_LEGACY;
        return CNNRT_OK;
    }
    if (looks_like_html(head, n)) {
        out->kind = FILE_KIND_HTML;
        return CNNRT_OK;
    }
    if (looks_like_json(head, n)) {
        out->kind = FILE_KIND_JSON;
        return CNNRT_OK;
    }
    /* Darknet: int32 major, minor, revision; then seen (int64 from 0.2 on); floats */
    if (n >= 20) {
        uint32_t major = (uint32_t)read_le(head, 4), minor = (uint32_t)read_le(head + 4, 4),
                 rev = (uint32_t)read_le(head + 8, 4);
        if (major < 10 && minor < 100 && rev < 10000) {
            uint64_t header = (major * 10 + minor >= 2 && major < 1000 && minor < 1000) ? 20 : 16;
            if (out->size > header + 4 * 1000 && (out->size - header) % 4 == 0) {
                out->kind = FILE_KIND_DARKNET;
                out->darknet_version[0] = (int)major;
                out->darknet_version[1] = (int)minor;
                out->darknet_version[2] = (int)rev;
                out->darknet_floats = (out->size - header) / 4;
            }
        }
    }
    return CNNRT_OK;
}

const char *file_kind_describe(enum file_kind kind)
{
    switch (kind) {
    case FILE_KIND_EMPTY: return "an empty file";
    case FILE_KIND_HDF5: return "an HDF5 file";
    case FILE_KIND_HDF5_TRUNCATED: return "a truncated HDF5 file";
    case FILE_KIND_HTML: return "an HTML page";
    case FILE_KIND_JSON: return "a JSON file";
    case FILE_KIND_PYTORCH_ZIP: return "a PyTorch checkpoint (.pt/.pth, zip format)";
    case FILE_KIND_PYTORCH_LEGACY: return "a PyTorch checkpoint (.pt/.pth, legacy pickle format)";
    case FILE_KIND_KERAS3_ZIP: return "a Keras 3 .keras archive";
    case FILE_KIND_ZIP: return "a zip archive";
    case FILE_KIND_DARKNET: return "a Darknet .weights file";
    case FILE_KIND_UNKNOWN: return "not a model file";
    }
    return "unknown";
}

cnnrt_status file_sniff_explain(const char *path, const struct file_sniff *s, cnnrt_error *err)
{
    switch (s->kind) {
    case FILE_KIND_EMPTY:
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: the file is empty (0 bytes), not a Keras HDF5 weights file.\n"
                          "  likely cause: a download or copy that failed.\n"
                          "  fix: download the weights file again.",
                          path);
    case FILE_KIND_HDF5_TRUNCATED:
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: the HDF5 file is truncated: it has %llu bytes but its header says "
                          "%llu (%.1f%% present).\n"
                          "  likely cause: an interrupted download (Keras reports this as "
                          "\"truncated file\" or \"file signature not found\").\n"
                          "  fix: download the weights file again and compare its size.",
                          path, (unsigned long long)s->size, (unsigned long long)s->expected_size,
                          100.0 * (double)s->size / (double)s->expected_size);
    case FILE_KIND_HTML:
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: this is an HTML page, not a Keras HDF5 weights file.\n"
                          "  likely cause: the download link returned a web page (an error, "
                          "login or \"confirm download\" page) instead of the file.\n"
                          "  fix: download the file itself (for GitHub releases, use the asset's "
                          "direct link) and check that it starts with the bytes \"\\x89HDF\".",
                          path);
    case FILE_KIND_JSON:
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: this is a JSON file, not a Keras HDF5 weights file.\n"
                          "  likely cause: a config file (model_class.json, "
                          "detection_config.json or a model JSON) was given as the weights.\n"
                          "  fix: pass the .h5 file with --weights and the JSON with the option "
                          "meant for it.",
                          path);
    case FILE_KIND_PYTORCH_ZIP:
    case FILE_KIND_PYTORCH_LEGACY:
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: this is %s, not a Keras HDF5 weights file.\n"
                          "  likely cause: ImageAI 3.x saves PyTorch .pt models; cnnrt runs the "
                          "Keras .h5 files of ImageAI 2.x and keras-yolo3.\n"
                          "  fix: use the ImageAI 2.x .h5 model (resnet50_imagenet_tf.2.0.h5, "
                          "yolo.h5, yolo-tiny.h5) or, for YOLOv3, convert Darknet's "
                          "yolov3.weights with keras-yolo3's convert.py; PyTorch models do not "
                          "convert exactly (see README, \"Troubleshooting\").",
                          path, file_kind_describe(s->kind));
    case FILE_KIND_KERAS3_ZIP:
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: this is a Keras 3 .keras archive (a zip), not an HDF5 weights "
                          "file.\n"
                          "  fix: unzip it and pass the model.weights.h5 inside, or save the "
                          "weights with model.save_weights(\"weights.h5\") in Keras 2.",
                          path);
    case FILE_KIND_ZIP:
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: this is a zip archive, not a Keras HDF5 weights file.\n"
                          "  fix: extract the .h5 file from the archive and pass that.",
                          path);
    case FILE_KIND_DARKNET: {
        int classes;
        const char *arch = darknet_guess_architecture(s->darknet_floats, &classes);
        bool tiny = arch && strcmp(arch, "TinyYOLOv3") == 0;
        cnnrt_fail(err, CNNRT_E_FORMAT,
                   "%s: this is a Darknet .weights file (version %d.%d.%d, %llu values), not a "
                   "Keras HDF5 weights file.\n",
                   path, s->darknet_version[0], s->darknet_version[1], s->darknet_version[2],
                   (unsigned long long)s->darknet_floats);
        if (arch)
            cnnrt_error_append(err, "  its value count is exactly that of %s with %d classes.\n",
                               arch, classes);
        cnnrt_error_append(err,
                           "  fix: convert it with keras-yolo3's convert.py (python convert.py "
                           "%s.cfg %s model.h5) and pass model.h5",
                           tiny ? "yolov3-tiny" : "yolov3", path);
        if (arch && classes != 80)
            cnnrt_error_append(err, "; first set classes=%d in every [yolo] section of the cfg "
                                    "and filters=%d in the [convolutional] section before each",
                               classes, 3 * (5 + classes));
        cnnrt_error_append(err, ".");
        return CNNRT_E_FORMAT;
    }
    case FILE_KIND_UNKNOWN:
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: not an HDF5 file (no HDF5 signature); expected a Keras .h5 "
                          "weights file.\n"
                          "  likely cause: a corrupt or partial download, or the wrong file.\n"
                          "  fix: download the weights file again.",
                          path);
    case FILE_KIND_HDF5: break;
    }
    return cnnrt_fail(err, CNNRT_E_INTERNAL, "%s: file_sniff_explain called on a valid HDF5 file",
                      path);
}
