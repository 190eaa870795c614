// The declaration in include/LibFuzzerDriver.h is all there is: the definition is libFuzzer's.
#include "LibFuzzerDriver.h"
