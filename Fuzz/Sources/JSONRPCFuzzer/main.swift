import Glibc
import LibFuzzerDriver

// libFuzzer parses the command line (corpus directories, -max_total_time, ...) and calls
// `testOneInput` with each input it tries.
var argumentCount = CommandLine.argc
var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { data, size in testOneInput(data, size) })
