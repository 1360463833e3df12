# cmake -DSOURCE_DIR=... -P checksources.cmake
# Rules inside ui/ and app/ (one library per folder cannot express them):
#  - pages (ui/pages) include nothing from core/quant, core/eval, core/infer or core/codecs;
#  - the CLI (app/cli) includes nothing from core/codecs;
#  - neither calls the quantizer, inference sessions, perplexity or base logits directly:
#    long work goes through core/tasks;
#  - item models, widgets and charts never include pages; charts never include widgets.
set(failures "")

function(check_includes folder pattern why)
    file(GLOB files ${SOURCE_DIR}/${folder}/*.h ${SOURCE_DIR}/${folder}/*.cpp)
    foreach(f IN LISTS files)
        file(STRINGS ${f} lines REGEX "^#include \"(${pattern})/")
        foreach(line IN LISTS lines)
            file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
            list(APPEND failures "${rel}: ${line} (${why})")
        endforeach()
    endforeach()
    set(failures "${failures}" PARENT_SCOPE)
endfunction()

function(check_calls folder)
    file(GLOB files ${SOURCE_DIR}/${folder}/*.h ${SOURCE_DIR}/${folder}/*.cpp)
    foreach(f IN LISTS files)
        file(STRINGS ${f} lines REGEX
             "(InferenceSession|LlamaModel|computePerplexity|computeKld|collectImatrix|BaseLogitsFile|BaseLogitsWriter|QuantizeTarget|[^a-zA-Z_]quantize\\()")
        foreach(line IN LISTS lines)
            file(RELATIVE_PATH rel ${SOURCE_DIR} ${f})
            list(APPEND failures "${rel}: ${line} (long work goes through core/tasks)")
        endforeach()
    endforeach()
    set(failures "${failures}" PARENT_SCOPE)
endfunction()

check_includes(ui/pages "quant|eval|infer|codecs" "pages reach long jobs through core/tasks")
check_includes(app/cli "codecs" "the CLI does not see block codecs")
check_includes(ui/models "pages" "item models never know pages")
check_includes(ui/widgets "pages" "widgets never know pages")
check_includes(ui/charts "pages|widgets" "charts never know pages or widgets")
check_calls(ui/pages)
check_calls(app/cli)

if(failures)
    list(JOIN failures "\n  " text)
    message(FATAL_ERROR "layering rules broken:\n  ${text}")
endif()
message(STATUS "layering: ui/pages, ui/models, ui/widgets, ui/charts and app/cli follow the rules")
