# quantfit-bench: speed and memory figures, built but not run by ctest. One source file per
# subcommand; adding a subcommand is one line in this list.
add_executable(quantfit-bench
    ${CMAKE_CURRENT_LIST_DIR}/bench.h
    ${CMAKE_CURRENT_LIST_DIR}/benchmain.cpp
    ${CMAKE_CURRENT_LIST_DIR}/benchplan.cpp
    ${CMAKE_CURRENT_LIST_DIR}/benchfit.cpp
    ${CMAKE_CURRENT_LIST_DIR}/benchquantize.h
    ${CMAKE_CURRENT_LIST_DIR}/benchquantize.cpp
    ${CMAKE_CURRENT_LIST_DIR}/benchquantizerows.cpp
    ${CMAKE_CURRENT_LIST_DIR}/bencheval.cpp
    ${CMAKE_CURRENT_LIST_DIR}/benchdot.cpp
    ${CMAKE_CURRENT_LIST_DIR}/benchmodels.cpp
    ${CMAKE_CURRENT_LIST_DIR}/benchbandwidth.cpp
)
target_link_libraries(quantfit-bench PRIVATE quantfit_core)
