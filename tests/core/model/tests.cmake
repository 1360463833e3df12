quantfit_add_test(test_model_info SOURCES ${CMAKE_CURRENT_LIST_DIR}/testmodelinfo.cpp)
