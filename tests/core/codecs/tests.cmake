# Block codec and dot-product tests (docs/formats.md "Tensor types").
quantfit_add_test(test_codecs SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcodecs.cpp)
quantfit_add_test(test_codecs_vecdot SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcodecsvecdot.cpp)
quantfit_add_test(test_codecs_iq SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcodecsiq.cpp)
quantfit_add_test(test_codecs_lowbit SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcodecslowbit.cpp)
quantfit_add_test(test_codecs_vecdotint SOURCES ${CMAKE_CURRENT_LIST_DIR}/testcodecsvecdotint.cpp)
