/* expr.h - integer expressions over graph parameters, e.g. "3*(5+classes)". */
#ifndef CNNRT_GRAPH_EXPR_H
#define CNNRT_GRAPH_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "graph/graph.h"

/* Evaluates s (integers, parameter names, + - * / and parentheses) with the
 * parameters of g. On failure returns false and writes the reason to why. */
bool expr_eval(const char *s, struct graph *g, long *out, char *why, size_t why_len);

#endif
