# core/discovery: store locations, Ollama manifests and Modelfiles, LM Studio naming, and the
# scan over fake stores the tests build (fakestores.h, also used by the hand-off, CLI and app
# tests).
quantfit_add_test(test_discovery_stores SOURCES ${CMAKE_CURRENT_LIST_DIR}/testdiscoverystores.cpp)
quantfit_add_test(test_discovery_ollama SOURCES ${CMAKE_CURRENT_LIST_DIR}/testdiscoveryollama.cpp
                  ${CMAKE_CURRENT_LIST_DIR}/fakestores.h ${CMAKE_CURRENT_LIST_DIR}/fakestores.cpp)
quantfit_add_test(test_discovery_scan SOURCES ${CMAKE_CURRENT_LIST_DIR}/testdiscoveryscan.cpp
                  ${CMAKE_CURRENT_LIST_DIR}/fakestores.h ${CMAKE_CURRENT_LIST_DIR}/fakestores.cpp)
