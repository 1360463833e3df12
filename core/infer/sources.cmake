target_sources(quantfit_core PRIVATE
    infer/llamamodel.h infer/llamamodel.cpp infer/inferencesession.cpp
    infer/matmul.h infer/matmul.cpp infer/matmulq8.h infer/matmulq8.cpp
    infer/activationrounding.h infer/activationrounding.cpp
    infer/kernels.h infer/kernels.cpp
    infer/sampler.h infer/sampler.cpp
    infer/generator.h infer/generator.cpp)
