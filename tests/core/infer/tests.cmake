quantfit_add_test(test_infer_forward SOURCES ${CMAKE_CURRENT_LIST_DIR}/testinferforward.cpp
    ${CMAKE_CURRENT_LIST_DIR}/tinymodel.h ${CMAKE_CURRENT_LIST_DIR}/tinymodel.cpp)
quantfit_add_test(test_infer_kernels SOURCES ${CMAKE_CURRENT_LIST_DIR}/testinferkernels.cpp)
quantfit_add_test(test_infer_stories SOURCES ${CMAKE_CURRENT_LIST_DIR}/testinferstories.cpp)
quantfit_add_test(test_infer_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/testinfercli.cpp)
quantfit_add_test(test_infer_matmulint SOURCES ${CMAKE_CURRENT_LIST_DIR}/testinfermatmulint.cpp)
quantfit_add_test(test_infer_moe SOURCES ${CMAKE_CURRENT_LIST_DIR}/testinfermoe.cpp)
quantfit_add_test(test_infer_matmulgroup SOURCES ${CMAKE_CURRENT_LIST_DIR}/testinfermatmulgroup.cpp)
quantfit_add_test(test_infer_flashrow SOURCES ${CMAKE_CURRENT_LIST_DIR}/testinferflashrow.cpp)
