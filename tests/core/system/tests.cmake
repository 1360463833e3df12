quantfit_add_test(test_system_info SOURCES ${CMAKE_CURRENT_LIST_DIR}/testsysteminfo.cpp)
quantfit_add_test(test_system_machine SOURCES ${CMAKE_CURRENT_LIST_DIR}/testsystemmachine.cpp)
