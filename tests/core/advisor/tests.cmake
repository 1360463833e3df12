quantfit_add_test(test_advisor_memory SOURCES ${CMAKE_CURRENT_LIST_DIR}/testadvisormemory.cpp)
quantfit_add_test(test_advisor_sizes SOURCES ${CMAKE_CURRENT_LIST_DIR}/testadvisorsizes.cpp)
quantfit_add_test(test_advisor_recommend SOURCES ${CMAKE_CURRENT_LIST_DIR}/testadvisorrecommend.cpp)
quantfit_add_test(test_advisor_iquants SOURCES ${CMAKE_CURRENT_LIST_DIR}/testadvisoriquants.cpp)
