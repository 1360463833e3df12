// Compiled by test_layering_build: core/infer does not declare core/quant (inference knows
// codecs, not mixes or plans), so this include must fail to compile.
#include "quant/quantplan.h"

int layeringProbeForbidden()
{
    return 0;
}
