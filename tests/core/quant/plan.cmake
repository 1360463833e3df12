quantfit_add_test(test_quantplan SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantplan.cpp)
