#include "moe.h"

#include "kernels.h"

#include "jobs/jobcontext.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace QuantFit::Infer {

namespace {

void softmaxInPlace(float *x, int n)
{
    float maxValue = x[0];
    for (int i = 1; i < n; ++i)
        maxValue = std::max(maxValue, x[i]);
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - maxValue);
        sum += x[i];
    }
    const float scale = float(1.0 / sum);
    for (int i = 0; i < n; ++i)
        x[i] *= scale;
}

} // namespace

void applyGlu(FfnKind kind, float *g, const float *u, int n)
{
    switch (kind) {
    case FfnKind::SwiGlu:
        Kernels::best().swiglu(g, u, n);
        break;
    case FfnKind::GeGlu:
        gegluF16(g, u, n);
        break;
    case FfnKind::SwiGluOai:
        swigluOai(g, u, n);
        break;
    }
}

void routeTokens(const float *logits, int nTokens, int nExperts, int k, ExpertGating gating,
                 bool normalize, int *selected, float *weights)
{
    std::vector<float> probs(static_cast<std::size_t>(nExperts));
    std::vector<int> order(static_cast<std::size_t>(nExperts));
    for (int t = 0; t < nTokens; ++t) {
        std::copy_n(logits + std::size_t(t) * std::size_t(nExperts), nExperts, probs.begin());
        if (gating == ExpertGating::Softmax)
            softmaxInPlace(probs.data(), nExperts);
        for (int e = 0; e < nExperts; ++e)
            order[std::size_t(e)] = e;
        // Why a stable order: llama.cpp's argsort leaves exact ties unspecified; the lower
        // index first keeps the choice deterministic (docs/inference.md).
        std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
            const float pa = probs[std::size_t(a)], pb = probs[std::size_t(b)];
            return pa > pb || (pa == pb && a < b);
        });
        int *sel = selected + std::size_t(t) * std::size_t(k);
        float *w = weights + std::size_t(t) * std::size_t(k);
        for (int s = 0; s < k; ++s) {
            sel[s] = order[std::size_t(s)];
            w[s] = probs[std::size_t(sel[s])];
        }
        if (gating == ExpertGating::SoftmaxWeight)
            softmaxInPlace(w, k);
        if (normalize) {
            float sum = 0.0f;
            for (int s = 0; s < k; ++s)
                sum += w[s];
            sum = std::max(sum, 6.103515625e-5f);
            for (int s = 0; s < k; ++s)
                w[s] /= sum;
        }
    }
}

void moeFeedForward(const MoeCall &call, const float *h, int nTokens, float *out,
                    MoeScratch &s)
{
    const LlamaModel::Layer &L = call.layer;
    const int nEmbd = call.hp.nEmbd;
    const int nExperts = call.hp.nExperts;
    const int k = call.hp.nExpertsUsed;
    const int nFf = int(L.upExps.all.nOut);
    const std::size_t n = std::size_t(nTokens);
    s.logits.resize(n * std::size_t(nExperts));
    s.selected.resize(n * std::size_t(k));
    s.weights.resize(n * std::size_t(k));
    s.slotOut.resize(n * std::size_t(k) * std::size_t(nEmbd));
    s.order.resize(n * std::size_t(k));
    s.start.assign(std::size_t(nExperts) + 1, 0);

    if (call.observer && *call.observer)
        (*call.observer)(L.router.name, h, nTokens, nEmbd);
    matmul(L.router, h, nTokens, s.logits.data(), call.matmul, call.ctx);
    routeTokens(s.logits.data(), nTokens, nExperts, k, call.parts.gating,
                call.parts.normalizeExpertWeights, s.selected.data(), s.weights.data());

    // Group the (token, slot) pairs by expert (a counting sort keeps tokens in order).
    for (const int e : s.selected)
        ++s.start[std::size_t(e) + 1];
    for (int e = 0; e < nExperts; ++e)
        s.start[std::size_t(e) + 1] += s.start[std::size_t(e)];
    {
        std::vector<int> fill(s.start.begin(), s.start.end() - 1);
        for (std::size_t i = 0; i < s.selected.size(); ++i)
            s.order[std::size_t(fill[std::size_t(s.selected[i])]++)] = int(i);
    }

    const auto observeExpert = [&](const WeightMatrix &w, int e, const float *x, int rows) {
        if (call.expertObserver && *call.expertObserver)
            (*call.expertObserver)(w.name, e, nExperts, x, rows, int(w.nIn));
    };
    // All routed (token, slot) rows in expert order, each expert's slice of the 3-D stacks
    // run together: one parallel region for every gate and up product, one for every down
    // product (matmulGroup), instead of three short regions per expert.
    const std::size_t nPairs = n * std::size_t(k);
    s.rows.resize(nPairs * std::size_t(nEmbd));
    s.gate.resize(nPairs * std::size_t(nFf));
    s.up.resize(nPairs * std::size_t(nFf));
    s.down.resize(nPairs * std::size_t(nEmbd));
    // An expert's rows are gathered into s.rows, except a single row, which is read in place
    // from h: in generation every expert then has the same input pointer, and matmulGroup
    // quantizes it once instead of once per expert.
    const auto expertInput = [&](std::size_t begin, int rows) -> const float * {
        if (rows == 1)
            return h + std::size_t(s.order[begin] / k) * std::size_t(nEmbd);
        return s.rows.data() + begin * std::size_t(nEmbd);
    };
    for (int e = 0; e < nExperts; ++e) {
        const int begin = s.start[std::size_t(e)];
        const int end = s.start[std::size_t(e) + 1];
        for (int i = begin; end - begin > 1 && i < end; ++i) {
            const int token = s.order[std::size_t(i)] / k;
            std::memcpy(s.rows.data() + std::size_t(i) * std::size_t(nEmbd),
                        h + std::size_t(token) * std::size_t(nEmbd),
                        sizeof(float) * std::size_t(nEmbd));
        }
    }
    std::vector<WeightMatrix> mats;
    mats.reserve(std::size_t(nExperts) * 3);
    std::vector<int> expertOf;
    for (int e = 0; e < nExperts; ++e) {
        const int begin = s.start[std::size_t(e)];
        const int rows = s.start[std::size_t(e) + 1] - begin;
        if (rows == 0)
            continue;
        mats.push_back(L.upExps.expert(e));
        mats.push_back(L.gateExps.expert(e));
        mats.push_back(L.downExps.expert(e));
        expertOf.push_back(e);
    }
    // Grouped only when every expert has the same row count (generation: one each); else one
    // expert at a time, as the products then differ in their batch size.
    const auto rowsOf = [&](int e) {
        return s.start[std::size_t(e) + 1] - s.start[std::size_t(e)];
    };
    bool uniform = true;
    for (const int e : expertOf)
        uniform = uniform && rowsOf(e) == rowsOf(expertOf[0]);
    const auto runGroup = [&](std::size_t i0, std::size_t i1, int rows, int phase) {
        std::vector<MatmulTask> tasks;
        for (std::size_t i = i0; i < i1; ++i) {
            const int e = expertOf[i];
            const std::size_t begin = std::size_t(s.start[std::size_t(e)]);
            if (phase == 0) {
                const WeightMatrix &up = mats[3 * i], &gate = mats[3 * i + 1];
                const float *x = expertInput(begin, rows);
                observeExpert(up, e, x, rows);
                observeExpert(gate, e, x, rows);
                tasks.push_back({&up, x, s.up.data() + begin * std::size_t(nFf)});
                tasks.push_back({&gate, x, s.gate.data() + begin * std::size_t(nFf)});
            } else {
                const WeightMatrix &down = mats[3 * i + 2];
                const float *x = s.gate.data() + begin * std::size_t(nFf);
                observeExpert(down, e, x, rows);
                tasks.push_back({&down, x, s.down.data() + begin * std::size_t(nEmbd)});
            }
        }
        matmulGroup(tasks, rows, call.matmul, call.ctx);
    };
    const auto runPhase = [&](int phase) {
        if (uniform && !expertOf.empty()) {
            runGroup(0, expertOf.size(), rowsOf(expertOf[0]), phase);
            return;
        }
        for (std::size_t i = 0; i < expertOf.size(); ++i)
            runGroup(i, i + 1, rowsOf(expertOf[i]), phase);
    };
    runPhase(0);
    for (std::size_t i = 0; i < nPairs; ++i)
        applyGlu(call.parts.ffn, s.gate.data() + i * std::size_t(nFf),
                 s.up.data() + i * std::size_t(nFf), nFf);
    runPhase(1);
    for (std::size_t i = 0; i < nPairs; ++i) {
        const int pair = s.order[i];
        const float w = s.weights[std::size_t(pair)];
        const float *y = s.down.data() + i * std::size_t(nEmbd);
        float *slot = s.slotOut.data() + std::size_t(pair) * std::size_t(nEmbd);
        for (int j = 0; j < nEmbd; ++j)
            slot[j] = y[j] * w;
    }

    for (int t = 0; t < nTokens; ++t) {
        float *o = out + std::size_t(t) * std::size_t(nEmbd);
        const float *slot = s.slotOut.data() + std::size_t(t) * std::size_t(k) * std::size_t(nEmbd);
        std::memcpy(o, slot, sizeof(float) * std::size_t(nEmbd));
        for (int j = 1; j < k; ++j)
            for (int i = 0; i < nEmbd; ++i)
                o[i] += slot[std::size_t(j) * std::size_t(nEmbd) + std::size_t(i)];
    }
}

} // namespace QuantFit::Infer
