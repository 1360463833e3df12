quantfit_add_test(test_eval_stats SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalstats.cpp)
quantfit_add_test(test_eval_baselogits SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalbaselogits.cpp)
quantfit_add_test(test_eval_result SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalresult.cpp)
quantfit_add_test(test_eval_archivetext SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalarchivetext.cpp
                  LIBS LibArchive::LibArchive)
# Perplexity: the stories260K reference, one entry per llama.cpp-written file, then the rest.
quantfit_add_test(test_eval_perplexity SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalperplexity.cpp
                  ARGS stories260KMatchesLlamaCpp)
foreach(type F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M
        Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ3_XXS IQ3_XS
        IQ3_S IQ3_M Q1_0 Q2_0 MXFP4_MOE-pure)
    quantfit_add_test(test_eval_perplexity ARGS llamaQuantizedFiles:${type})
endforeach()
quantfit_add_test(test_eval_perplexity ARGS progressReportsTheRunningPerplexity
                  cancelMidRunLeavesNoBaseFile textShorterThanTwoContexts invalidUtf8Text
                  chunkInputReplacesTheFirstToken)
# KLD and imatrix on synthetic models, split so that each entry takes a few seconds under ASan.
quantfit_add_test(test_eval_kld SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalkld.cpp
                  ARGS kldAgainstItselfIsZero kldGrowsAsBitsShrink llamaCppBaseFormatAgrees)
quantfit_add_test(test_eval_kld ARGS imatrixLowersKld)
quantfit_add_test(test_eval_kld ARGS imatrixFilesRoundTrip imatrixSeesTheNormedEmbeddings
                  collectorSumsSquaresPerColumn kldRefusesAnotherVocabulary)
# The 2026 architectures against llama.cpp (arch/ test data), split so that each entry takes a few
# seconds under ASan.
quantfit_add_test(test_eval_arch SOURCES ${CMAKE_CURRENT_LIST_DIR}/testevalarch.cpp
                  ARGS perplexityMatchesLlamaCpp)
quantfit_add_test(test_eval_arch ARGS perplexityWithoutFlashAttention)
quantfit_add_test(test_eval_arch ARGS quantizedMoeMatchesLlamaCpp)
quantfit_add_test(test_eval_arch ARGS moeKldFollowsBitWidth moeImatrixLowersKld)
quantfit_add_test(test_eval_arch ARGS imatrixRecordsExperts incrementalDecodingMatchesBatch
                  generationRunsOnMoe unsupportedPartsAreNamed badMetadataNamesTheKey)
