quantfit_add_test(test_jobs SOURCES ${CMAKE_CURRENT_LIST_DIR}/testjobs.cpp)
quantfit_add_test(test_jobs_threadpool SOURCES ${CMAKE_CURRENT_LIST_DIR}/testjobsthreadpool.cpp)
