quantfit_add_test(test_atomic_output SOURCES ${CMAKE_CURRENT_LIST_DIR}/testatomicoutput.cpp)
quantfit_add_test(test_disk_space SOURCES ${CMAKE_CURRENT_LIST_DIR}/testdiskspace.cpp)
