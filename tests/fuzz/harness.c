/*
 * harness.c - libFuzzer entry point; FUZZ_TARGET names the parser (config, theme, manifest,
 * nlolist, wal, delta, ...), selected at compile time by `make fuzz` (see tests/fuzz/run.sh).
 */
#include "targets.c"

#define FZ_CAT2(a, b) a##b
#define FZ_CAT(a, b) FZ_CAT2(a, b)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return FZ_CAT(fuzz_, FUZZ_TARGET)(data, size);
}
