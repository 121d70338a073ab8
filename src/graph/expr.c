/* expr.c - a recursive-descent evaluator for integer parameter expressions. */
#include "graph/expr.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

struct parser {
    const char *s;
    struct graph *g;
    char *why;
    size_t why_len;
    bool failed;
    int depth;
};

static void fail(struct parser *p, const char *msg, const char *arg)
{
    if (!p->failed) snprintf(p->why, p->why_len, "%s%s", msg, arg ? arg : "");
    p->failed = true;
}

static void skip_space(struct parser *p)
{
    while (isspace((unsigned char)*p->s)) p->s++;
}

static long parse_sum(struct parser *p);

static long parse_factor(struct parser *p)
{
    skip_space(p);
    if (++p->depth > 64) {
        fail(p, "expression nested too deeply", NULL);
        return 0;
    }
    long v = 0;
    if (*p->s == '(') {
        p->s++;
        v = parse_sum(p);
        skip_space(p);
        if (*p->s != ')') fail(p, "missing ')'", NULL);
        else p->s++;
    } else if (*p->s == '-') {
        p->s++;
        v = -parse_factor(p);
    } else if (isdigit((unsigned char)*p->s)) {
        while (isdigit((unsigned char)*p->s)) {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p->s - '0', &v)) {
                fail(p, "number too large", NULL);
                return 0;
            }
            p->s++;
        }
    } else if (isalpha((unsigned char)*p->s) || *p->s == '_') {
        char name[64];
        size_t n = 0;
        while ((isalnum((unsigned char)*p->s) || *p->s == '_') && n + 1 < sizeof name)
            name[n++] = *p->s++;
        name[n] = '\0';
        if (!graph_param_use(p->g, name, &v)) fail(p, "unknown parameter ", name);
    } else {
        fail(p, "unexpected character in expression", NULL);
    }
    p->depth--;
    return v;
}

static long parse_product(struct parser *p)
{
    long v = parse_factor(p);
    for (;;) {
        skip_space(p);
        char op = *p->s;
        if (op != '*' && op != '/') return v;
        p->s++;
        long r = parse_factor(p);
        if (op == '*') {
            if (__builtin_mul_overflow(v, r, &v)) fail(p, "overflow", NULL);
        } else if (r == 0) {
            fail(p, "division by zero", NULL);
        } else {
            v /= r;
        }
    }
}

static long parse_sum(struct parser *p)
{
    long v = parse_product(p);
    for (;;) {
        skip_space(p);
        char op = *p->s;
        if (op != '+' && op != '-') return v;
        p->s++;
        long r = parse_product(p);
        if (op == '+' ? __builtin_add_overflow(v, r, &v) : __builtin_sub_overflow(v, r, &v))
            fail(p, "overflow", NULL);
    }
}

bool expr_eval(const char *s, struct graph *g, long *out, char *why, size_t why_len)
{
    struct parser p = {s, g, why, why_len, false, 0};
    long v = parse_sum(&p);
    skip_space(&p);
    if (!p.failed && *p.s != '\0') fail(&p, "unexpected text after the expression: ", p.s);
    if (p.failed) return false;
    *out = v;
    return true;
}
