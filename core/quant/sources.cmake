# core/quant is worked on in two parts: the block codecs (codecs.cmake) and the mix rules, plan
# and quantizer (plan.cmake).
foreach(part codecs plan)
    if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${part}.cmake)
        include(${CMAKE_CURRENT_LIST_DIR}/${part}.cmake)
    endif()
endforeach()
