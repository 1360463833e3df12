quantfit_add_test(test_quantplan SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantplan.cpp)
quantfit_add_test(test_quantizer SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantizer.cpp)
quantfit_add_test(test_imatrixfile SOURCES ${CMAKE_CURRENT_LIST_DIR}/testimatrixfile.cpp)
