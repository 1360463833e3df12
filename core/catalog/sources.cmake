target_sources(quantfit_core PRIVATE
    catalog/modelshape.h
    catalog/catalog.h catalog/catalog.cpp)
# The catalog data is compiled in as the Qt resource :/quantfit/catalog.json; catalog.cpp calls
# Q_INIT_RESOURCE(catalog) because the library is static.
qt_add_resources(quantfit_core "catalog" PREFIX "/quantfit" BASE ${PROJECT_SOURCE_DIR}/resources
    FILES ${PROJECT_SOURCE_DIR}/resources/catalog.json)
