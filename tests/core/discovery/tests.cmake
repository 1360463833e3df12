# core/discovery: store locations, Ollama manifests and Modelfiles, LM Studio naming, and the
# scan over fake stores the tests build.
quantfit_add_test(test_discovery_stores SOURCES ${CMAKE_CURRENT_LIST_DIR}/testdiscoverystores.cpp)
