# Mix rules, plan, imatrix files and the quantizer (the codecs are listed in codecs.cmake).
target_sources(quantfit_core PRIVATE
    quant/quantmix.h quant/quantmix.cpp
    quant/quantplan.h quant/quantplan.cpp
    quant/imatrixfile.h quant/imatrixfile.cpp
    quant/quantizer.h quant/quantizer.cpp)
