quantfit_add_test(test_gguf_roundtrip SOURCES ${CMAKE_CURRENT_LIST_DIR}/testggufroundtrip.cpp)
quantfit_add_test(test_gguf_hostile SOURCES ${CMAKE_CURRENT_LIST_DIR}/testggufhostile.cpp
                  ${CMAKE_CURRENT_LIST_DIR}/handcraft.h)
quantfit_add_test(test_gguf_shared SOURCES ${CMAKE_CURRENT_LIST_DIR}/testggufshared.cpp)
quantfit_add_test(test_fp16 SOURCES ${CMAKE_CURRENT_LIST_DIR}/testfp16.cpp)
quantfit_add_test(test_gguf_split SOURCES ${CMAKE_CURRENT_LIST_DIR}/testggufsplit.cpp)
