/* quarry - the command-line client. See cli.h for the conventions. */
#include <string.h>

#include "cli.h"

static int cmd_version(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("quarry %s\n", QUARRY_VERSION);
    return CLI_OK;
}

static const struct cli_cmd commands[] = {
    {"manifest", cli_manifest, "manifest check|migrate ...", "check or convert a manifest"},
    {"version", cmd_version, "version", "print the version"},
};

int main(int argc, char **argv)
{
    return cli_dispatch(commands, QY_ARRAY_LEN(commands), "quarry", argc - 1, argv + 1);
}
