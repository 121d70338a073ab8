/* labels.c - class names from model_class.json, a JSON list, or a text file. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cnnrt.h"
#include "core/error.h"
#include "core/util.h"
#include "io/json_file.h"

#define LABELS_MAX_BYTES (16u << 20)
#define LABELS_MAX_COUNT 100000

void cnnrt_labels_free(cnnrt_labels *labels)
{
    if (!labels) return;
    for (int i = 0; i < labels->count; i++) free(labels->names[i]);
    free(labels->names);
    labels->names = NULL;
    labels->count = 0;
}

static cnnrt_status from_json(const char *path, const cJSON *root, cnnrt_labels *l, cnnrt_error *err)
{
    int n = cJSON_GetArraySize(root);
    if (n <= 0)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: the class list is empty", path);
    if (n > LABELS_MAX_COUNT)
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: more than %d classes", path, LABELS_MAX_COUNT);
    l->names = calloc((size_t)n, sizeof *l->names);
    if (!l->names) return CNNRT_NOMEM(err);
    l->count = n;
    int pos = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        int index = pos++;
        if (cJSON_IsObject(root)) { /* ImageAI: {"0": "chef", ...} keys in any order */
            char *end;
            long k = strtol(item->string ? item->string : "", &end, 10);
            if (!item->string || !*item->string || *end || k < 0 || k >= n)
                return cnnrt_fail(err, CNNRT_E_FORMAT,
                                  "%s: key \"%s\" is not a class index 0..%d (model_class.json maps "
                                  "\"0\", \"1\", ... to names)",
                                  path, item->string ? item->string : "", n - 1);
            index = (int)k;
        }
        if (!cJSON_IsString(item) || !item->valuestring)
            return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: class %d must be a string, found %s", path,
                              index, json_kind(item));
        if (l->names[index])
            return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: class index %d appears twice", path, index);
        if (!(l->names[index] = str_dup(item->valuestring))) return CNNRT_NOMEM(err);
    }
    for (int i = 0; i < n; i++)
        if (!l->names[i])
            return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: class index %d is missing", path, i);
    return CNNRT_OK;
}

static cnnrt_status from_text(const char *path, char *text, cnnrt_labels *l, cnnrt_error *err)
{
    int cap = 0;
    int line_no = 0;
    for (char *line = text; line && *line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        line_no++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\r' || isspace((unsigned char)line[len - 1]))) line[--len] = '\0';
        while (*line && isspace((unsigned char)*line)) line++;
        if (!*line) {
            /* blank lines are allowed only at the end */
            char *rest = next;
            while (rest && *rest && isspace((unsigned char)*rest)) rest++;
            if (rest && *rest)
                return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: line %d is empty (one class name per line)",
                                  path, line_no);
            break;
        }
        for (const char *c = line; *c; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t')
                return cnnrt_fail(err, CNNRT_E_FORMAT,
                                  "%s: line %d contains control characters; expected text with one "
                                  "class name per line",
                                  path, line_no);
        if (l->count == LABELS_MAX_COUNT)
            return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: more than %d classes", path, LABELS_MAX_COUNT);
        if (l->count == cap) {
            cap = cap ? cap * 2 : 256;
            char **grown = realloc(l->names, (size_t)cap * sizeof *grown);
            if (!grown) return CNNRT_NOMEM(err);
            l->names = grown;
        }
        if (!(l->names[l->count] = str_dup(line))) return CNNRT_NOMEM(err);
        l->count++;
        line = next;
    }
    if (l->count == 0) return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: no class names in the file", path);
    return CNNRT_OK;
}

cnnrt_status cnnrt_labels_load(const char *path, cnnrt_labels *labels, cnnrt_error *err)
{
    memset(labels, 0, sizeof *labels);
    char *text;
    size_t len;
    cnnrt_status st = file_read_all(path, LABELS_MAX_BYTES, &text, &len, err);
    if (st) return st;
    if (memchr(text, '\0', len)) {
        free(text);
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: a binary file, not a class list", path);
    }
    const char *c = text;
    while (*c && isspace((unsigned char)*c)) c++;
    if (*c == '{' || *c == '[') {
        free(text);
        cJSON *root;
        if ((st = json_load_file(path, LABELS_MAX_BYTES, &root, err))) return st;
        if (!cJSON_IsObject(root) && !cJSON_IsArray(root))
            st = cnnrt_fail(err, CNNRT_E_FORMAT, "%s: expected an object or a list of names", path);
        else
            st = from_json(path, root, labels, err);
        cJSON_Delete(root);
    } else {
        st = from_text(path, text, labels, err);
        free(text);
    }
    if (st) cnnrt_labels_free(labels);
    return st;
}
