target_sources(quantfit_core PRIVATE
    gguf/ggmltype.h gguf/ggmltype.cpp
    gguf/filetype.h gguf/filetype.cpp
    gguf/ggufvalue.h gguf/ggufvalue.cpp
    gguf/tensorinfo.h gguf/tensorinfo.cpp
    gguf/ggufreader.h gguf/ggufreader.cpp
    gguf/ggufwriter.h gguf/ggufwriter.cpp)
