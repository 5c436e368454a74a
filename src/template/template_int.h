/* Private to template/: the parsed form shared by the parser and the executor. */
#ifndef QUARRY_TEMPLATE_INT_H
#define QUARRY_TEMPLATE_INT_H

#include "template.h"

/* The five functions MarbleRun registers (§2.3). */
enum tpl_func { TPL_FN_PEM, TPL_FN_RAW, TPL_FN_HEX, TPL_FN_BASE64, TPL_FN_STRING };

struct tpl_pipe;

enum tpl_arg_kind {
    TPL_ARG_FIELD,  /* .A.B.C */
    TPL_ARG_DOT,    /* . */
    TPL_ARG_FUNC,   /* pem, raw, ... */
    TPL_ARG_STRING, /* "..." or `...` */
    TPL_ARG_PIPE,   /* ( pipeline ) */
};

struct tpl_arg {
    enum tpl_arg_kind kind;
    size_t off;          /* byte offset in the source, for line:column */
    const char **fields; /* TPL_ARG_FIELD */
    size_t *field_offs;
    size_t nfields;
    enum tpl_func func;    /* TPL_ARG_FUNC */
    struct view str;       /* TPL_ARG_STRING, decoded */
    struct tpl_pipe *pipe; /* TPL_ARG_PIPE */
};

struct tpl_cmd {
    struct tpl_arg *args;
    size_t count, cap;
};

struct tpl_pipe {
    struct tpl_cmd *cmds;
    size_t count, cap;
};

struct tpl_node {
    bool action;           /* false: text */
    struct view text;      /* text (already trimmed) */
    struct tpl_pipe *pipe; /* action */
};

struct tpl {
    struct arena arena;
    struct view src; /* a copy, for positions in execution errors */
    enum tpl_context ctx;
    struct tpl_node *nodes;
    size_t count, cap;
};

extern const char *const tpl_func_names[5];

/* Records ERR_TEMPLATE with "line:column: " + the message, for byte offset `off` of src. */
int tpl_fail_at(struct view src, size_t off, const char *fmt, ...) QY_PRINTF(3, 4);

#endif
