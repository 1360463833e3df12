target_sources(quantfit_core PRIVATE
    util/error.h util/error.cpp
    util/checkedmath.h
    util/cpufeatures.h util/cpufeatures.cpp
    util/fp16.h
    util/bytereader.h
    util/units.h util/units.cpp)
