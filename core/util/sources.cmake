target_sources(quantfit_core PRIVATE
    util/error.h util/error.cpp
    util/checkedmath.h
    util/fp16.h
    util/bytereader.h
    util/units.h util/units.cpp)
