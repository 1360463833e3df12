quantfit_add_test(test_cpufeatures SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcpufeatures.cpp)
