# core/tasks: one request per long job (conversion, measurement, imatrix, generation).
quantfit_add_test(test_tasks SOURCES ${CMAKE_CURRENT_LIST_DIR}/testtasks.cpp)
quantfit_add_test(test_tasks_handoff SOURCES ${CMAKE_CURRENT_LIST_DIR}/testtaskshandoff.cpp
                  ${CMAKE_CURRENT_LIST_DIR}/../discovery/fakestores.h
                  ${CMAKE_CURRENT_LIST_DIR}/../discovery/fakestores.cpp)
target_include_directories(test_tasks_handoff PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../discovery)
quantfit_add_test(test_tasks_fitcalibration SOURCES ${CMAKE_CURRENT_LIST_DIR}/testtasksfitcalibration.cpp)
