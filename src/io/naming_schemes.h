/* naming_schemes.h - layer names of the same architecture as other Keras versions and
 * tools write them (see naming_schemes.c for the list). */
#ifndef CNNRT_IO_NAMING_SCHEMES_H
#define CNNRT_IO_NAMING_SCHEMES_H

#include "graph/graph.h"

/* names_out[i] = name of node i under scheme (NULL or "" = the graph's names).
 * Free with naming_scheme_free. */
cnnrt_status naming_scheme_apply(const struct graph *g, const char *scheme, char ***names_out,
                                 cnnrt_error *err);

void naming_scheme_free(char **names, int n);

#endif
