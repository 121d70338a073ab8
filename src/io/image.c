/* image.c - image files (through stb, see stb_impl.c) and bilinear resizing. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "cnnrt.h"
#include "core/error.h"
#include "core/util.h"

void cnnrt_image_free(cnnrt_image *img)
{
    if (!img) return;
    stbi_image_free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* "PNG", "JPEG" or "BMP" from a file's first n (<= 8) bytes, or NULL. */
static const char *image_kind(const unsigned char *b, size_t n)
{
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "JPEG";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
    return NULL;
}

cnnrt_status cnnrt_image_load(const char *path, cnnrt_image *img, cnnrt_error *err)
{
    memset(img, 0, sizeof *img);
    uint64_t size;
    cnnrt_status st = file_size(path, &size, err);
    if (st) return st;
    if (size == 0) return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: the image file is empty", path);
    FILE *f = fopen(path, "rb");
    if (!f) return cnnrt_fail(err, CNNRT_E_IO, "%s: %s", path, strerror(errno));
    int w, h, comp;
    if (!stbi_info_from_file(f, &w, &h, &comp)) {
        /* stb tries every decoder, so its reason is always the last one's ("unknown
         * image type"): say instead what the file claims to be. */
        unsigned char magic[8] = {0};
        rewind(f);
        size_t got = fread(magic, 1, sizeof magic, f);
        fclose(f);
        const char *kind = image_kind(magic, got);
        if (kind)
            return cnnrt_fail(err, CNNRT_E_FORMAT,
                              "%s: a %s file whose header cannot be read: damaged, truncated, or "
                              "larger than %dx%d pixels",
                              path, kind, CNNRT_IMAGE_MAX_SIDE, CNNRT_IMAGE_MAX_SIDE);
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: not a JPEG, PNG or BMP image", path);
    }
    if (w <= 0 || h <= 0 || w > CNNRT_IMAGE_MAX_SIDE || h > CNNRT_IMAGE_MAX_SIDE ||
        (long)w * h > CNNRT_IMAGE_MAX_PIXELS) {
        fclose(f);
        return cnnrt_fail(err, CNNRT_E_FORMAT,
                          "%s: image is %dx%d; the largest accepted is %dx%d and %ld pixels", path,
                          w, h, CNNRT_IMAGE_MAX_SIDE, CNNRT_IMAGE_MAX_SIDE, CNNRT_IMAGE_MAX_PIXELS);
    }
    unsigned char *px = stbi_load_from_file(f, &w, &h, &comp, 3);
    fclose(f);
    if (!px)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: the image data is damaged or truncated (stb_image: %s)", path,
                          stbi_failure_reason() ? stbi_failure_reason() : "corrupt data");
    img->width = w;
    img->height = h;
    img->channels = 3;
    img->pixels = px;
    return CNNRT_OK;
}

static void write_cb(void *ctx, void *data, int size)
{
    FILE *f = ctx;
    if (fwrite(data, 1, (size_t)size, f) != (size_t)size) { /* ferror is checked after */
    }
}

cnnrt_status cnnrt_image_save(const char *path, const cnnrt_image *img, cnnrt_error *err)
{
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0)
        return cnnrt_fail(err, CNNRT_E_USAGE, "%s: no image to save", path);
    bool png = str_ends_with_ci(path, ".png");
    bool jpg = str_ends_with_ci(path, ".jpg") || str_ends_with_ci(path, ".jpeg");
    if (!png && !jpg)
        return cnnrt_fail(err, CNNRT_E_USAGE, "%s: output images must end in .jpg, .jpeg or .png",
                          path);
    struct atomic_file af;
    cnnrt_status st = atomic_file_open(&af, path, err);
    if (st) return st;
    int ok = png ? stbi_write_png_to_func(write_cb, af.f, img->width, img->height, img->channels,
                                          img->pixels, img->width * img->channels)
                 : stbi_write_jpg_to_func(write_cb, af.f, img->width, img->height, img->channels,
                                          img->pixels, 90);
    return atomic_file_finish(&af, ok != 0, err);
}

cnnrt_status cnnrt_image_resize_bilinear(const cnnrt_image *img, int dst_w, int dst_h, float *out)
{
    if (!img || !img->pixels || img->channels != 3 || dst_w <= 0 || dst_h <= 0 || !out)
        return CNNRT_E_USAGE;
    const int sw = img->width, sh = img->height;
    /* Source coordinates in double: in float, (x + 0.5) * scale - 0.5 loses up to 4e-5 of
     * a pixel on large images, which moves interpolated values by up to 0.01. */
    const double sx = (double)sw / dst_w, sy = (double)sh / dst_h;
    for (int y = 0; y < dst_h; y++) {
        double fy = (y + 0.5) * sy - 0.5;
        if (fy < 0) fy = 0;
        int y0 = (int)fy;
        if (y0 > sh - 1) y0 = sh - 1;
        int y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
        float wy = (float)(fy - y0);
        for (int x = 0; x < dst_w; x++) {
            double fx = (x + 0.5) * sx - 0.5;
            if (fx < 0) fx = 0;
            int x0 = (int)fx;
            if (x0 > sw - 1) x0 = sw - 1;
            int x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
            float wx = (float)(fx - x0);
            const unsigned char *p00 = img->pixels + ((size_t)y0 * sw + x0) * 3;
            const unsigned char *p01 = img->pixels + ((size_t)y0 * sw + x1) * 3;
            const unsigned char *p10 = img->pixels + ((size_t)y1 * sw + x0) * 3;
            const unsigned char *p11 = img->pixels + ((size_t)y1 * sw + x1) * 3;
            float *o = out + ((size_t)y * dst_w + x) * 3;
            for (int c = 0; c < 3; c++) {
                float top = p00[c] + (p01[c] - p00[c]) * wx;
                float bot = p10[c] + (p11[c] - p10[c]) * wx;
                o[c] = top + (bot - top) * wy;
            }
        }
    }
    return CNNRT_OK;
}
