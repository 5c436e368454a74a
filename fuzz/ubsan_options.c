/* Linked into every fuzz target and replay driver: undefined behaviour ends the run as a crash
 * does, however the program is started (libFuzzer writes the input to an artifact; the corpus
 * replay fails), instead of printing a line and carrying on. The sanitizer runtime reads these
 * defaults before UBSAN_OPTIONS, which can still override them. */
__attribute__((visibility("default"))) const char *__ubsan_default_options(void);

__attribute__((visibility("default"))) const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}
