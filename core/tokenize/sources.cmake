target_sources(quantfit_core PRIVATE
    tokenize/tokenizer.h tokenize/tokenizer.cpp
    tokenize/tokenizerdata.h tokenize/tokenizerdata.cpp
    tokenize/spmencoder.cpp
    tokenize/bpeencoder.cpp
    tokenize/pretokenizer.h tokenize/pretokenizer.cpp
    tokenize/unicodeclass.h tokenize/unicodeclass.cpp)
