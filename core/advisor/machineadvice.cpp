#include "machineadvice.h"

#include "util/error.h"

#include <QFileInfo>

#include <algorithm>

namespace QuantFit {

namespace {

LevelPlacement placeLevel(const MachineProfile &m, const ModelShape &s, FileType ft,
                          const WeightMap &map, const QString &name,
                          const PlacementOptions &options)
{
    LevelPlacement l;
    l.fileType = ft;
    l.name = name;
    l.weightsBytes = map.totalBytes();
    l.placement = planPlacement(m, s, map, options);
    l.speed = estimateSpeed(m, s, map, l.placement);
    return l;
}

QString moeSentence(const ModelShape &s, const SpeedEstimate &e)
{
    if (!s.isMoe())
        return {};
    return QStringLiteral("%1 is a mixture of experts: %2B parameters to hold, %3B read per "
                          "token (%4 of %5 experts per layer), so memory follows the total and "
                          "speed the active parameters.")
        .arg(s.name)
        .arg(e.totalParams / 1e9, 0, 'f', 1)
        .arg(e.activeParams / 1e9, 0, 'f', 1)
        .arg(s.nExpertsUsed)
        .arg(s.nExperts);
}

} // namespace

bool applyMeasuredGeneration(const MachineProfile &machine, const PlacementOptions &options,
                             LevelPlacement &level)
{
    const MeasuredGeneration &g = machine.measuredGeneration;
    const Placement &p = level.placement;
    if (g.tokensPerSecond <= 0 || g.modelFile.isEmpty() || !p.fits() || p.nGpuLayers > 0
        || QFileInfo(options.modelFile).fileName() != g.modelFile)
        return false;
    SpeedEstimate &e = level.speed;
    e.basis.prepend(QStringLiteral("Generation measured here: %1 tokens/s, QuantFit's own "
                                   "generation of %2 (quantfit-cli bandwidth --generate, %3 "
                                   "threads, %4), replacing the estimate of %5 tokens/s.")
                        .arg(g.tokensPerSecond, 0, 'f', 1)
                        .arg(g.modelFile)
                        .arg(g.threads)
                        .arg(g.date)
                        .arg(e.generationTokensPerSecond, 0, 'f', 1));
    e.generationTokensPerSecond = g.tokensPerSecond;
    e.generationMeasured = true;
    return true;
}

std::vector<FileType> LevelChoice::extraLevels() const
{
    std::vector<FileType> levels;
    for (const auto &ft : {quant, ramRecommendation})
        if (ft)
            levels.push_back(*ft);
    return levels;
}

std::vector<std::pair<FileType, WeightMap>> machineLevelMaps(const ModelShape &shape,
                                                             const LevelChoice &choice)
{
    std::vector<FileType> types = advisorLevels();
    if (shape.isMoe())
        types.push_back(FileType::MXFP4_MOE);
    for (FileType ft : choice.extraLevels())
        if (std::find(types.begin(), types.end(), ft) == types.end())
            types.push_back(ft);
    std::vector<std::pair<FileType, WeightMap>> maps;
    for (FileType ft : types)
        maps.emplace_back(ft, weightMapForShape(shape, ft));
    return maps;
}

MachineAdvice adviseOnMachine(const MachineProfile &machine, const ModelShape &shape,
                              const PlacementOptions &options, const LevelChoice &choice)
{
    return adviseOnMachine(machine, shape, machineLevelMaps(shape, choice), options, choice);
}

MachineAdvice adviseOnMachine(const MachineProfile &machine, const ModelShape &shape,
                              const std::vector<std::pair<FileType, WeightMap>> &maps,
                              const PlacementOptions &options, const LevelChoice &choice)
{
    const std::optional<FileType> quant = choice.quant;
    MachineAdvice a;
    a.machine = machine;
    a.model = shape;
    for (const auto &[ft, map] : maps)
        a.levels.push_back(placeLevel(machine, shape, ft, map, fileTypeName(ft), options));
    for (FileType ft : choice.extraLevels())
        if (std::none_of(maps.begin(), maps.end(), [&](const auto &m) { return m.first == ft; }))
            throw Error(QStringLiteral("machine advice: no weights for %1").arg(fileTypeName(ft)));
    std::sort(a.levels.begin(), a.levels.end(), [](const auto &x, const auto &y) {
        return x.weightsBytes < y.weightsBytes;
    });
    const auto index = [&](FileType ft) -> std::optional<std::size_t> {
        for (std::size_t i = 0; i < a.levels.size(); ++i)
            if (a.levels[i].fileType == ft)
                return i;
        return std::nullopt;
    };
    if (quant) {
        a.chosen = *index(*quant);
        a.chosenReason = QStringLiteral("%1, as asked.").arg(fileTypeName(*quant));
    } else if (shape.architecture == QLatin1String("gpt-oss")
               && a.levels[*index(FileType::MXFP4_MOE)].placement.fits()) {
        a.chosen = *index(FileType::MXFP4_MOE);
        a.chosenReason = QStringLiteral("MXFP4_MOE: gpt-oss is published with its experts in "
                                        "MXFP4, and that file fits.");
        // The RAM advice answers whether a level runs comfortably in RAM; say how the two relate
        // so that they never read as two different recommendations.
        if (const auto ram = choice.ramRecommendation) {
            if (*ram == FileType::Q8_0 || *ram == FileType::MXFP4_MOE)
                a.chosenReason += QStringLiteral(" It is the RAM advice's recommendation too (its "
                                                 "Q8_0 row holds the same tensors).");
            else
                a.chosenReason += QStringLiteral(" The RAM advice above answers another question, "
                                                 "the level that runs comfortably in RAM with "
                                                 "room to spare (%1); the published file is what "
                                                 "to download when it fits.")
                                      .arg(fileTypeName(*ram));
        }
    } else if (!machine.hasGpu() && choice.ramRecommendation
               && index(*choice.ramRecommendation)
               && a.levels[*index(*choice.ramRecommendation)].placement.fits()) {
        a.chosen = *index(*choice.ramRecommendation);
        a.chosenReason = QStringLiteral("%1: no GPU, so the recommendation for this RAM (above).")
                             .arg(fileTypeName(*choice.ramRecommendation));
    } else {
        std::optional<std::size_t> pick;
        if (machine.hasGpu()) {
            for (FileType ft : {FileType::Q8_0, FileType::Q6_K, FileType::Q5_K_M,
                                FileType::Q4_K_M}) {
                const auto i = index(ft);
                if (i && a.levels[*i].placement.mode == PlacementMode::FullGpu) {
                    pick = i;
                    a.chosenReason = QStringLiteral("%1: the highest of Q8_0, Q6_K, Q5_K_M and "
                                                    "Q4_K_M that runs entirely on the GPU at %2 "
                                                    "tokens.")
                                         .arg(fileTypeName(ft))
                                         .arg(options.contextTokens);
                    break;
                }
            }
        }
        if (!pick) {
            const auto q4 = index(FileType::Q4_K_M);
            if (q4 && a.levels[*q4].placement.fits()) {
                pick = q4;
                a.chosenReason =
                    machine.hasGpu()
                        ? QStringLiteral("Q4_K_M: no level of Q4_K_M or above fits on the GPU "
                                         "alone; Q4_K_M (the balance point) runs with part of "
                                         "the model in system RAM.")
                        : QStringLiteral("Q4_K_M: the balance point, and it fits.");
                if (!machine.hasGpu()) {
                    for (FileType ft : {FileType::Q8_0, FileType::Q6_K, FileType::Q5_K_M}) {
                        const auto i = index(ft);
                        if (i && a.levels[*i].placement.fits()
                            && a.levels[*i].placement.longestContextTokens
                                   >= 2 * options.contextTokens) {
                            pick = i;
                            a.chosenReason = QStringLiteral("%1: fits with room for twice the "
                                                            "context.")
                                                 .arg(fileTypeName(ft));
                            break;
                        }
                    }
                }
            }
        }
        if (!pick) {
            for (std::size_t i = a.levels.size(); i-- > 0;)
                if (a.levels[i].placement.fits() && a.levels[i].fileType != FileType::F16) {
                    pick = i;
                    a.chosenReason = QStringLiteral("%1: the largest level that fits.")
                                         .arg(a.levels[i].name);
                    break;
                }
        }
        if (!pick) {
            pick = 0;
            a.chosenReason = QStringLiteral("No level fits this machine at %1 tokens; the "
                                            "smallest is shown.")
                                 .arg(options.contextTokens);
        }
        a.chosen = *pick;
    }
    // The next better level when it only runs with part of the model in RAM: what it costs.
    const LevelPlacement &c = a.chosenLevel();
    if (!quant && c.placement.mode == PlacementMode::FullGpu) {
        for (FileType ft : {FileType::Q6_K, FileType::Q8_0}) {
            const auto i = index(ft);
            if (!i || a.levels[*i].weightsBytes <= c.weightsBytes
                || !a.levels[*i].placement.fits())
                continue;
            const LevelPlacement &h = a.levels[*i];
            a.chosenReason += QStringLiteral(" %1 would need %2 (-ngl %3%4): generation %5 "
                                             "instead of %6 tokens/s.")
                                  .arg(h.name, placementModeName(h.placement.mode))
                                  .arg(h.placement.nGpuLayers)
                                  .arg(h.placement.nCpuMoe
                                           ? QStringLiteral(" --n-cpu-moe %1")
                                                 .arg(h.placement.nCpuMoe)
                                           : QString())
                                  .arg(h.speed.generationTokensPerSecond, 0, 'f', 0)
                                  .arg(c.speed.generationTokensPerSecond, 0, 'f', 0);
            break;
        }
    }
    a.moeNote = moeSentence(shape, a.chosenLevel().speed);
    return a;
}

MachineAdvice adviseFileOnMachine(const MachineProfile &machine, const ModelShape &shape,
                                  const WeightMap &weights, const QString &fileTypeName,
                                  const PlacementOptions &options)
{
    MachineAdvice a;
    a.machine = machine;
    a.model = shape;
    LevelPlacement l = placeLevel(machine, shape, FileType::Guessed, weights, fileTypeName,
                                  options);
    applyMeasuredGeneration(machine, options, l);
    a.levels.push_back(l);
    a.chosenReason = QStringLiteral("%1: the file's own level.").arg(fileTypeName);
    a.moeNote = moeSentence(shape, l.speed);
    return a;
}

} // namespace QuantFit
