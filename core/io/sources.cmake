target_sources(quantfit_core PRIVATE
    io/mappedfile.h io/mappedfile.cpp
    io/regularfile.h io/regularfile.cpp
    io/atomicoutput.h io/atomicoutput.cpp)
