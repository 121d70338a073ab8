/* draw.c - detections drawn on an image (boxes and labels, text from stb_easy_font's
 * quads scaled up), and object crops. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

#include "cnnrt.h"
#include "core/error.h"

#define LABEL_MAX_CHARS 120
#define FONT_LINE 12 /* stb_easy_font's line height in font pixels */
/* stb_easy_font: about 270 bytes of vertices per character on average; 4 quads of 64
 * bytes is typical, the widest glyphs need more. */
#define FONT_VBUF_BYTES (LABEL_MAX_CHARS * 1024)

void cnnrt_class_colour(int class_index, unsigned char rgb[3])
{
    /* hues spaced by the golden ratio: neighbours differ a lot, no two repeat soon */
    double h = fmod(0.07 + class_index * 0.6180339887498949, 1.0) * 6.0;
    double s = class_index % 2 ? 0.75 : 0.95, v = class_index % 3 == 1 ? 0.80 : 0.95;
    int sector = (int)h;
    double f = h - sector, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch (sector % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    rgb[0] = (unsigned char)lround(r * 255);
    rgb[1] = (unsigned char)lround(g * 255);
    rgb[2] = (unsigned char)lround(b * 255);
}

/* Fills the rectangle [x0, x1) x [y0, y1), clipped to the image. */
static void fill_rect(cnnrt_image *img, int x0, int y0, int x1, int y1, const unsigned char rgb[3])
{
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            unsigned char *p = img->pixels + ((size_t)y * img->width + x) * img->channels;
            p[0] = rgb[0];
            p[1] = rgb[1];
            p[2] = rgb[2];
        }
}

/* Outline of width t inside (x0, y0)-(x1, y1) (inclusive corners). */
static void draw_box(cnnrt_image *img, int x0, int y0, int x1, int y1, int t,
                     const unsigned char rgb[3])
{
    fill_rect(img, x0, y0, x1 + 1, y0 + t, rgb);
    fill_rect(img, x0, y1 - t + 1, x1 + 1, y1 + 1, rgb);
    fill_rect(img, x0, y0, x0 + t, y1 + 1, rgb);
    fill_rect(img, x1 - t + 1, y0, x1 + 1, y1 + 1, rgb);
}

/* Draws text with its top-left corner at (x, y), font pixels scaled by scale. */
static void draw_text(cnnrt_image *img, int x, int y, char *text, int scale,
                      const unsigned char rgb[3], void *vbuf)
{
    int quads = stb_easy_font_print(0, 0, text, NULL, vbuf, FONT_VBUF_BYTES);
    const unsigned char *v = vbuf;
    for (int q = 0; q < quads; q++) {
        const float *a = (const float *)(v + (size_t)q * 64);      /* vertex 0: x, y */
        const float *c = (const float *)(v + (size_t)q * 64 + 32); /* vertex 2 */
        int qx0 = (int)lroundf(a[0]) * scale, qy0 = (int)lroundf(a[1]) * scale;
        int qx1 = (int)lroundf(c[0]) * scale, qy1 = (int)lroundf(c[1]) * scale;
        fill_rect(img, x + qx0, y + qy0, x + qx1, y + qy1, rgb);
    }
}

/* "name 97.12%" with characters stb_easy_font cannot draw replaced by '?'. */
static void format_label(char *out, size_t len, const char *name, float score)
{
    snprintf(out, len, "%s %.2f%%", name, 100.0 * score);
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 32 || (unsigned char)*c > 126) *c = '?';
}

cnnrt_status cnnrt_draw_detections(cnnrt_image *img, const cnnrt_detections *d,
                                   const cnnrt_labels *labels, cnnrt_error *err)
{
    if (!img || !img->pixels || img->channels < 3 || !d || !labels)
        return cnnrt_fail(err, CNNRT_E_USAGE, "draw: invalid argument");
    void *vbuf = malloc(FONT_VBUF_BYTES);
    if (!vbuf) return CNNRT_NOMEM(err);
    const int side = img->width < img->height ? img->width : img->height;
    const int thick = side >= 600 ? side / 300 : 2;
    const int scale = side >= 1200 ? 3 + (side - 1200) / 800 : 2;
    const int pad = scale;
    /* placed labels (x0, y0, x1, y1), so that labels of one box stack instead of
     * covering each other */
    int(*placed)[4] = malloc((size_t)(d->count > 0 ? d->count : 1) * sizeof *placed);
    int n_placed = 0;
    if (!placed) {
        free(vbuf);
        return CNNRT_NOMEM(err);
    }
    /* boxes first, then labels, so that no box crosses a label */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < d->count; i++) {
            const cnnrt_detection *b = &d->items[i];
            if (b->class_index < 0 || b->class_index >= labels->count) continue;
            unsigned char colour[3];
            cnnrt_class_colour(b->class_index, colour);
            int x0 = (int)floorf(b->x1), y0 = (int)floorf(b->y1);
            int x1 = (int)ceilf(b->x2) - 1, y1 = (int)ceilf(b->y2) - 1;
            if (x1 < x0) x1 = x0;
            if (y1 < y0) y1 = y0;
            if (pass == 0) {
                draw_box(img, x0, y0, x1, y1, thick, colour);
                continue;
            }
            char text[LABEL_MAX_CHARS + 1];
            format_label(text, sizeof text, labels->names[b->class_index], b->score);
            int tw = stb_easy_font_width(text) * scale + 2 * pad;
            int th = (FONT_LINE - 2) * scale + 2 * pad;
            int ly = y0 - th >= 0 ? y0 - th : y0; /* above the box, else inside its top */
            int lx = x0 + tw <= img->width ? x0 : img->width - tw;
            if (lx < 0) lx = 0;
            for (int tries = 0; tries < 16; tries++) {
                bool hit = false;
                for (int k = 0; k < n_placed && !hit; k++)
                    hit = lx < placed[k][2] && placed[k][0] < lx + tw && ly < placed[k][3] &&
                          placed[k][1] < ly + th;
                if (!hit) break;
                ly += th;
            }
            placed[n_placed][0] = lx;
            placed[n_placed][1] = ly;
            placed[n_placed][2] = lx + tw;
            placed[n_placed][3] = ly + th;
            n_placed++;
            fill_rect(img, lx, ly, lx + tw, ly + th, colour);
            double luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2];
            static const unsigned char black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
            draw_text(img, lx + pad, ly + pad, text, scale, luma > 140 ? black : white, vbuf);
        }
    free(placed);
    free(vbuf);
    return CNNRT_OK;
}

cnnrt_status cnnrt_image_crop(const cnnrt_image *img, const cnnrt_detection *box, cnnrt_image *out,
                              cnnrt_error *err)
{
    memset(out, 0, sizeof *out);
    if (!img || !img->pixels || img->channels <= 0 || !box)
        return cnnrt_fail(err, CNNRT_E_USAGE, "crop: invalid argument");
    /* NaN-safe rounding and clipping into [0, W) x [0, H), at least one pixel */
    float fx0 = roundf(box->x1), fy0 = roundf(box->y1), fx1 = roundf(box->x2), fy1 = roundf(box->y2);
    int x0 = fx0 > 0 ? (fx0 < img->width - 1 ? (int)fx0 : img->width - 1) : 0;
    int y0 = fy0 > 0 ? (fy0 < img->height - 1 ? (int)fy0 : img->height - 1) : 0;
    int x1 = fx1 > x0 + 1 ? (fx1 < img->width ? (int)fx1 : img->width) : x0 + 1;
    int y1 = fy1 > y0 + 1 ? (fy1 < img->height ? (int)fy1 : img->height) : y0 + 1;
    const int w = x1 - x0, h = y1 - y0, c = img->channels;
    /* cnnrt_image_free releases pixels with stbi_image_free, which is free() (stb's
     * default allocator, src/io/stb_impl.c) */
    unsigned char *px = malloc((size_t)w * h * c);
    if (!px) return CNNRT_NOMEM(err);
    for (int y = 0; y < h; y++)
        memcpy(px + (size_t)y * w * c, img->pixels + ((size_t)(y0 + y) * img->width + x0) * c,
               (size_t)w * c);
    *out = (cnnrt_image){w, h, c, px};
    return CNNRT_OK;
}
