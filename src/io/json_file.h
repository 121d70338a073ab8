/* json_file.h - reading JSON files with a size cap and a located parse error. */
#ifndef CNNRT_IO_JSON_FILE_H
#define CNNRT_IO_JSON_FILE_H

#include <cJSON.h>

#include "cnnrt.h"

/* Parses the JSON file at path (at most max_bytes). On a syntax error the message
 * names the file, line and column. Caller frees *root with cJSON_Delete. */
cnnrt_status json_load_file(const char *path, size_t max_bytes, cJSON **root, cnnrt_error *err);

/* Kind of a JSON item for messages: "a string", "a number", "an object", ... */
const char *json_kind(const cJSON *item);

#endif
