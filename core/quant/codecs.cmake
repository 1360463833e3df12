# Block codecs and dot-product kernels (quant-types.md). Paths relative to core/.
target_sources(quantfit_core PRIVATE
    quant/quantkernels.h quant/quantkernels.cpp
    quant/quanthelpers.h quant/quanthelpers.cpp
    quant/blocksfloat.h quant/blocksfloat.cpp
    quant/blockslegacy.h quant/blockslegacy.cpp
    quant/blockskquants.h quant/blockskquants.cpp quant/blockskquants456.cpp
    quant/blocksiq4.h quant/blocksiq4.cpp
    quant/quantsimd.h quant/quantsimdavx2.cpp quant/dequantavx2.cpp
    quant/vecdot.h quant/vecdot.cpp quant/vecdotportable.h
    quant/vecdotavx2.h quant/vecdotavx2.cpp quant/vecdotq8avx2.cpp)

# Why no FP contraction: quant-types.md's byte identity with ggml's reference quantizers (and
# llama.cpp's dequantizers) holds only when a*b + c is not fused into an FMA.
set_source_files_properties(
    quant/quanthelpers.cpp quant/blocksfloat.cpp quant/blockslegacy.cpp
    quant/blockskquants.cpp quant/blockskquants456.cpp quant/blocksiq4.cpp
    quant/quantsimdavx2.cpp quant/dequantavx2.cpp
    PROPERTIES COMPILE_OPTIONS "-ffp-contract=off")
