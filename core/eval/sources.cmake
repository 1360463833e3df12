target_sources(quantfit_core PRIVATE
    eval/evalstats.h eval/evalstats.cpp
    eval/baselogits.h eval/baselogits.cpp eval/llamalogits.cpp
    eval/perplexity.h eval/perplexity.cpp
    eval/evalresult.h eval/evalresult.cpp
    eval/evaltext.h eval/evaltext.cpp
    eval/imatrixcollector.h eval/imatrixcollector.cpp
    io/archivetext.h io/archivetext.cpp)
