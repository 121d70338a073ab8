/* json_file.c - whole-file JSON parsing with located errors. */
#include "io/json_file.h"

#include <stdlib.h>

#include "core/error.h"
#include "core/util.h"

const char *json_kind(const cJSON *item)
{
    if (!item) return "missing";
    if (cJSON_IsString(item)) return "a string";
    if (cJSON_IsNumber(item)) return "a number";
    if (cJSON_IsBool(item)) return "a boolean";
    if (cJSON_IsNull(item)) return "null";
    if (cJSON_IsArray(item)) return "an array";
    if (cJSON_IsObject(item)) return "an object";
    return "invalid";
}

cnnrt_status json_load_file(const char *path, size_t max_bytes, cJSON **root, cnnrt_error *err)
{
    *root = NULL;
    char *text;
    size_t len;
    cnnrt_status st = file_read_all(path, max_bytes, &text, &len, err);
    if (st) return st;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j) {
        int line = 1, col = 1;
        const char *stop = (end && end >= text && end <= text + len) ? end : text;
        for (const char *c = text; c < stop; c++) {
            if (*c == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        free(text);
        if (len == 0) return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: the file is empty, expected JSON", path);
        return cnnrt_fail(err, CNNRT_E_FORMAT, "%s: not valid JSON (syntax error at line %d, column %d)",
                          path, line, col);
    }
    free(text);
    *root = j;
    return CNNRT_OK;
}
