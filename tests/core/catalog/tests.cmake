quantfit_add_test(test_catalog SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcatalog.cpp)
