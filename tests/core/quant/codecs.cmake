# Block codec and dot-product tests (quant-types.md).
quantfit_add_test(test_quant_codecs SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantcodecs.cpp
                  ${CMAKE_CURRENT_LIST_DIR}/quantbounds.h)
quantfit_add_test(test_quant_vecdot SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantvecdot.cpp)
# One ctest entry per llama.cpp-written file (skips with a message when the data is absent).
foreach(mix F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S
        Q5_K_M Q6_K IQ4_NL IQ4_XS)
    quantfit_add_test(test_quant_llamafiles
                      SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantllamafiles.cpp
                              ${CMAKE_CURRENT_LIST_DIR}/quantbounds.h
                      ARGS compareWithLlama:${mix})
endforeach()
