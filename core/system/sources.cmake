target_sources(quantfit_core PRIVATE
    system/systeminfo.h system/systeminfo.cpp)
