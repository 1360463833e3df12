target_sources(quantfit_core PRIVATE
    advisor/advisor.h advisor/advisor.cpp
    advisor/estimates.h advisor/estimates.cpp
    advisor/memorymodel.h advisor/memorymodel.cpp
    advisor/recommend.h advisor/recommend.cpp
    advisor/shapetensors.h advisor/shapetensors.cpp)
