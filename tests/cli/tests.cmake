# End-to-end tests of quantfit-cli (shared list: append your lines).
quantfit_add_test(test_cli_gguf SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcligguf.cpp)
quantfit_add_test(test_cli_quantize SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcliquantize.cpp)
quantfit_add_test(test_cli_eval SOURCES ${CMAKE_CURRENT_LIST_DIR}/testclieval.cpp)
quantfit_add_test(test_cli_advise SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcliadvise.cpp)
quantfit_add_test(test_cli_calibration SOURCES ${CMAKE_CURRENT_LIST_DIR}/testclicalibration.cpp)
quantfit_add_test(test_cli_models SOURCES ${CMAKE_CURRENT_LIST_DIR}/testclimodels.cpp
                  ${PROJECT_SOURCE_DIR}/tests/core/discovery/fakestores.cpp)
target_include_directories(test_cli_models PRIVATE ${PROJECT_SOURCE_DIR}/tests/core/discovery)
quantfit_add_test(test_cli_fit SOURCES ${CMAKE_CURRENT_LIST_DIR}/testclifit.cpp)
quantfit_add_test(test_cli_advise_machine SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcliadvisemachine.cpp)
quantfit_add_test(test_cli_flashattn SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcliflashattn.cpp)
