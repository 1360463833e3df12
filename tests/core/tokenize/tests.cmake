# Conformance with llama.cpp's tokenizer test vectors: one entry per supported vocabulary in
# ../shared/testdata/vocab (bert-bge is a WPM vocabulary, which is not supported).
foreach(vocab llama-spm phi-3 gpt-2 mpt starcoder refact falcon deepseek-coder deepseek-llm)
    quantfit_add_test(test_tokenize_vocab
        SOURCES ${CMAKE_CURRENT_LIST_DIR}/testtokenizevocab.cpp ARGS ${vocab})
endforeach()
quantfit_add_test(test_tokenize_tokenizer SOURCES ${CMAKE_CURRENT_LIST_DIR}/testtokenizetokenizer.cpp)
quantfit_add_test(test_tokenize_pretokenizer
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/testtokenizepretokenizer.cpp)
quantfit_add_test(test_tokenize_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/testtokenizecli.cpp)
