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
    {"manifest", cli_manifest, "manifest check|migrate|set|get ...", "check, convert, set or get a manifest"},
    {"status", cli_status, "status", "the Coordinator's state"},
    {"certificate", cli_certificate, "certificate root|intermediate|chain", "the Coordinator's certificates"},
    {"secret", cli_secret, "secret get|set ...", "read or upload secrets (as a user)"},
    {"update", cli_update, "update log [--verify]", "the update log, verified against the root"},
    {"recover", cli_recover, "recover SECRET --key KEY.pem", "upload a recovery secret (recovery mode)"},
    {"package", cli_package, "package update FILE --cert F --key F", "raise packages' SecurityVersion (as a user)"},
    {"quote", cli_quote, "quote verify|sign QUOTE ...", "verify a DCAP quote, or have the Coordinator sign its verification"},
    {"testkit", cli_testkit, "testkit init|quote DIR ...", "emulated Intel PKI for tests (INSECURE)"},
    {"version", cmd_version, "version", "print the version"},
};

int main(int argc, char **argv)
{
    return cli_dispatch(commands, QY_ARRAY_LEN(commands), "quarry", argc - 1, argv + 1);
}
