# Fuzzing of every reader of untrusted input (see tests/fuzz/README.md).
# - test_fuzz_replay (every build): the committed file corpus through the fuzz entry point.
# - test_fuzz_text_replay (every build; skips without ../shared/testdata): the text corpus
#   through every tokenizer vocabulary.
# - quantfit-fuzz, quantfit-fuzz-text (QUANTFIT_BUILD_FUZZ=ON with clang): libFuzzer targets.
add_library(quantfit_fuzztarget STATIC
    ${CMAKE_CURRENT_LIST_DIR}/fuzztarget.h ${CMAKE_CURRENT_LIST_DIR}/fuzztarget.cpp
    ${CMAKE_CURRENT_LIST_DIR}/fuzztext.h ${CMAKE_CURRENT_LIST_DIR}/fuzztext.cpp
    ${CMAKE_CURRENT_LIST_DIR}/corpusreplay.h ${CMAKE_CURRENT_LIST_DIR}/corpusreplay.cpp)
target_link_libraries(quantfit_fuzztarget PUBLIC quantfit_core)
target_compile_definitions(quantfit_fuzztarget PRIVATE
    QUANTFIT_TESTDATA_DIR="${QUANTFIT_SHARED_TESTDATA}")

quantfit_add_test(test_fuzz_replay SOURCES ${CMAKE_CURRENT_LIST_DIR}/replay.cpp
                  LIBS quantfit_fuzztarget)
target_compile_definitions(test_fuzz_replay PRIVATE
    QUANTFIT_FUZZ_CORPUS_DIR="${CMAKE_CURRENT_LIST_DIR}/corpus")

quantfit_add_test(test_fuzz_text_replay SOURCES ${CMAKE_CURRENT_LIST_DIR}/textreplay.cpp
                  LIBS quantfit_fuzztarget)
target_compile_definitions(test_fuzz_text_replay PRIVATE
    QUANTFIT_FUZZ_TEXT_CORPUS_DIR="${CMAKE_CURRENT_LIST_DIR}/text-corpus"
    QUANTFIT_TESTDATA_DIR="${QUANTFIT_SHARED_TESTDATA}")
set_tests_properties(test_fuzz_text_replay PROPERTIES SKIP_RETURN_CODE 77)

if(QUANTFIT_BUILD_FUZZ)
    add_executable(quantfit-fuzz ${CMAKE_CURRENT_LIST_DIR}/libfuzzermain.cpp)
    target_link_libraries(quantfit-fuzz PRIVATE quantfit_fuzztarget)
    target_link_options(quantfit-fuzz PRIVATE -fsanitize=fuzzer)
    add_executable(quantfit-fuzz-text ${CMAKE_CURRENT_LIST_DIR}/libfuzzertext.cpp)
    target_link_libraries(quantfit-fuzz-text PRIVATE quantfit_fuzztarget)
    target_link_options(quantfit-fuzz-text PRIVATE -fsanitize=fuzzer)
endif()
