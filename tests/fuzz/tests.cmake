# Fuzzing of every reader of untrusted files (see tests/fuzz/README.md).
# - test_fuzz_replay (every build): the committed corpus through the fuzz entry point.
# - quantfit-fuzz (QUANTFIT_BUILD_FUZZ=ON with clang): the libFuzzer target.
add_library(quantfit_fuzztarget STATIC
    ${CMAKE_CURRENT_LIST_DIR}/fuzztarget.h ${CMAKE_CURRENT_LIST_DIR}/fuzztarget.cpp)
target_link_libraries(quantfit_fuzztarget PUBLIC quantfit_core)

quantfit_add_test(test_fuzz_replay SOURCES ${CMAKE_CURRENT_LIST_DIR}/replay.cpp
                  LIBS quantfit_fuzztarget)
target_compile_definitions(test_fuzz_replay PRIVATE
    QUANTFIT_FUZZ_CORPUS_DIR="${CMAKE_CURRENT_LIST_DIR}/corpus")

if(QUANTFIT_BUILD_FUZZ)
    add_executable(quantfit-fuzz ${CMAKE_CURRENT_LIST_DIR}/libfuzzermain.cpp)
    target_link_libraries(quantfit-fuzz PRIVATE quantfit_fuzztarget)
    target_link_options(quantfit-fuzz PRIVATE -fsanitize=fuzzer)
endif()
