quantfit_add_test(test_cpufeatures SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcpufeatures.cpp)
quantfit_add_test(test_units SOURCES ${CMAKE_CURRENT_LIST_DIR}/testunits.cpp)
