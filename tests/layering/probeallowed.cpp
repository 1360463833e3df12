// Compiled by test_layering_build: core/infer declares gguf and model, so this must compile.
#include "gguf/ggmltype.h"
#include "infer/llamamodel.h"

int layeringProbeAllowed()
{
    return int(QuantFit::GgmlType::Q8_0);
}
