# core/tasks: one request per long job (conversion, measurement, imatrix, generation).
quantfit_add_test(test_tasks SOURCES ${CMAKE_CURRENT_LIST_DIR}/testtasks.cpp)
