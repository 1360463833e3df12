# One ctest entry per llama.cpp-written file (skips with a message when the data is absent).
foreach(mix F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S
        Q5_K_M Q6_K IQ4_NL IQ4_XS IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ3_XXS IQ3_XS IQ3_S IQ3_M
        Q1_0 Q2_0 MXFP4_MOE-pure)
    quantfit_add_test(test_quant_llamafiles
                      SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantllamafiles.cpp
                      ARGS compareWithLlama:${mix})
endforeach()
quantfit_add_test(test_quantplan SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantplan.cpp)
quantfit_add_test(test_quantizer SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantizer.cpp)
quantfit_add_test(test_imatrixfile SOURCES ${CMAKE_CURRENT_LIST_DIR}/testimatrixfile.cpp)
quantfit_add_test(test_quantmixrules SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantmixrules.cpp)
quantfit_add_test(test_quantllamaoutputs SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantllamaoutputs.cpp)
quantfit_add_test(test_quantizeroptions SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantizeroptions.cpp)
# The MoE files of the shared arch/ folder: one entry per llama-quantize output.
foreach(ref qwen3moe-Q4_K_M qwen3moe-Q2_K mixtral-Q4_K_M mixtral-Q2_K gpt-oss-Q4_K_M gpt-oss-Q2_K)
    quantfit_add_test(test_quant_moefiles
                      SOURCES ${CMAKE_CURRENT_LIST_DIR}/testquantmoefiles.cpp
                      ARGS referenceFile:${ref})
endforeach()
quantfit_add_test(test_quant_moefiles ARGS requantizeNeedsTheFlag)
quantfit_add_test(test_quant_moefiles ARGS expertSlicesAreIndependent)
quantfit_add_test(test_fitmix SOURCES ${CMAKE_CURRENT_LIST_DIR}/testfitmix.cpp)
quantfit_add_test(test_fitmixkld SOURCES ${CMAKE_CURRENT_LIST_DIR}/testfitmixkld.cpp)
quantfit_add_test(test_fitmixcost SOURCES ${CMAKE_CURRENT_LIST_DIR}/testfitmixcost.cpp)
