target_sources(quantfit_core PRIVATE
    jobs/progress.h
    jobs/jobcontext.h jobs/jobcontext.cpp
    jobs/consolecontext.h jobs/consolecontext.cpp
    jobs/parallel.h jobs/parallel.cpp)
