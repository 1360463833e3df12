target_sources(quantfit_core PRIVATE
    model/modelinfo.h model/modelinfo.cpp
    model/syntheticmodel.h model/syntheticmodel.cpp)
