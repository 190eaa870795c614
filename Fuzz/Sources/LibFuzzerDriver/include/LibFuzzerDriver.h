#ifndef LIB_FUZZER_DRIVER_H
#define LIB_FUZZER_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver for programs that have their own `main` (compiler-rt, FuzzerDriver.cpp);
/// linked in by `-sanitize=fuzzer`. SwiftPM gives every executable a `main`, so the fuzzers call
/// this instead of relying on libFuzzer's `main` and `LLVMFuzzerTestOneInput`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*test_one_input)(const uint8_t *data, size_t size));

#endif
