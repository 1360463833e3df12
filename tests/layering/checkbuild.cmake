# cmake -DBUILD_DIR=... -P checkbuild.cmake
# The allowed probe must build; the forbidden one must fail on its include of quant/quantplan.h.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target layering_probe_ok
                RESULT_VARIABLE ok_result OUTPUT_VARIABLE ok_out ERROR_VARIABLE ok_err)
if(NOT ok_result EQUAL 0)
    message(FATAL_ERROR "the allowed probe did not compile (so the check below proves nothing):\n${ok_out}${ok_err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target layering_probe_forbidden
                RESULT_VARIABLE bad_result OUTPUT_VARIABLE bad_out ERROR_VARIABLE bad_err)
if(bad_result EQUAL 0)
    message(FATAL_ERROR "core/infer could include quant/quantplan.h: module include roots are not isolated")
endif()
if(NOT "${bad_out}${bad_err}" MATCHES "quant/quantplan.h")
    message(FATAL_ERROR "the forbidden probe failed for another reason:\n${bad_out}${bad_err}")
endif()
message(STATUS "layering: allowed include compiles, undeclared module's header is not found")
