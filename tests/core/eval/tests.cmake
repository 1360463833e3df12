quantfit_add_test(test_eval_stats SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalstats.cpp)
quantfit_add_test(test_eval_baselogits SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalbaselogits.cpp)
quantfit_add_test(test_eval_archivetext SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalarchivetext.cpp
                  LIBS LibArchive::LibArchive)
