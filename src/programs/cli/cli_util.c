#include <stdarg.h>
#include <string.h>

#include "cli.h"

int cli_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("quarry: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\n", usage);
    return CLI_USAGE;
}

static void print_help(const struct cli_cmd *table, size_t count, const char *prog)
{
    printf("usage: %s <command> [arguments]\n\ncommands:\n", prog);
    for (size_t i = 0; i < count; i++)
        printf("  %-34s %s\n", table[i].usage, table[i].help);
}

int cli_dispatch(const struct cli_cmd *table, size_t count, const char *prog, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 ||
        strcmp(argv[0], "-h") == 0) {
        print_help(table, count, prog);
        return argc < 1 ? CLI_USAGE : CLI_OK;
    }
    for (size_t i = 0; i < count; i++)
        if (strcmp(argv[0], table[i].name) == 0)
            return table[i].run(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command \"%s\"\n\n", prog, argv[0]);
    print_help(table, count, prog);
    return CLI_USAGE;
}

int cli_parse(int argc, char **argv, const struct cli_opt *opts, size_t nopts, char **pos, size_t max_pos,
              size_t *npos, const char *usage)
{
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) { /* "-" alone is standard input */
            if (*npos >= max_pos)
                return cli_usage_error(usage, "unexpected argument \"%s\"", a);
            pos[(*npos)++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const struct cli_opt *o = NULL;
        for (size_t k = 0; k < nopts; k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, a, nlen) == 0)
                o = &opts[k];
        if (o == NULL)
            return cli_usage_error(usage, "unknown option \"%.*s\"", (int)nlen, a);
        if (!o->takes_value) {
            if (eq)
                return cli_usage_error(usage, "option %s takes no value", o->name);
            *o->flag = true;
        } else if (eq) {
            *o->value = eq + 1;
        } else if (i + 1 < argc) {
            *o->value = argv[++i];
        } else {
            return cli_usage_error(usage, "option %s needs a value", o->name);
        }
    }
    return CLI_OK;
}

void cli_print_diag(FILE *f, const struct diag *d)
{
    for (size_t i = 0; i < d->count; i++) {
        const struct diag_entry *e = &d->items[i];
        fprintf(f, "%s: %s%s%s\n", e->level == DIAG_ERROR ? "error" : "warning", e->path,
                e->path[0] ? ": " : "", e->message);
    }
    if (d->dropped > 0)
        fprintf(f, "(%zu more problems not shown)\n", d->dropped);
}

json_t *cli_diag_json(const struct diag *d, enum diag_level level)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < d->count; i++)
        if (d->items[i].level == level)
            json_array_append_new(a, json_pack("{s:s,s:s}", "path", d->items[i].path, "message",
                                               d->items[i].message));
    return a;
}
