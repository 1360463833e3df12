# Layering. Between core modules the build enforces it: each module sees only the headers of
# the modules it declares (core/CMakeLists.txt). test_layering_build proves that, by compiling
# a probe that includes an undeclared module's header (must fail, naming the header) next to one
# that includes a declared one (must compile). test_layering_sources checks the rules inside
# ui/ and app/ that one library per folder cannot express: pages and the CLI reach long jobs
# only through core/tasks.
add_library(layering_probe_ok OBJECT EXCLUDE_FROM_ALL ${CMAKE_CURRENT_LIST_DIR}/probeallowed.cpp)
target_link_libraries(layering_probe_ok PRIVATE quantfit_infer)
add_library(layering_probe_forbidden OBJECT EXCLUDE_FROM_ALL ${CMAKE_CURRENT_LIST_DIR}/probeforbidden.cpp)
target_link_libraries(layering_probe_forbidden PRIVATE quantfit_infer)

add_test(NAME test_layering_build
         COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${CMAKE_BINARY_DIR}
                 -P ${CMAKE_CURRENT_LIST_DIR}/checkbuild.cmake)
add_test(NAME test_layering_sources
         COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR}
                 -P ${CMAKE_CURRENT_LIST_DIR}/checksources.cmake)
set_tests_properties(test_layering_build test_layering_sources PROPERTIES LABELS layering)
