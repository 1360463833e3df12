quantfit_add_test(test_atomic_output SOURCES ${CMAKE_CURRENT_LIST_DIR}/testatomicoutput.cpp)
