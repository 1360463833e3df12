#pragma once

// One model on one machine profile: for each quant level, where llama.cpp would put it
// (placement.h) and how fast it would run (speed.h), and the level we suggest for this machine.
//
// The suggested level on a GPU machine: the highest of Q8_0, Q6_K, Q5_K_M, Q4_K_M that runs
// entirely on the GPU at the context (GPU memory is fast memory: a level that leaves weights in
// RAM is slower than a smaller one that does not); if none does, Q4_K_M when it fits with
// offload (the brief's balance point), else the largest level that fits at all. gpt-oss models
// are published with MXFP4 experts: their suggested level is the MXFP4_MOE file people
// download, when it fits. On a CPU-only machine: the RAM advice's recommendation when the caller
// passes it (LevelChoice), else Q4_K_M, or Q5_K_M .. Q8_0 when they fit with twice the context.

#include "machineprofile.h"
#include "placement.h"
#include "speed.h"

#include <optional>
#include <utility>
#include <vector>

namespace QuantFit {

struct LevelPlacement {
    FileType fileType = FileType::Q4_K_M;
    QString name;
    std::uint64_t weightsBytes = 0;
    Placement placement;
    SpeedEstimate speed;
};

struct MachineAdvice {
    MachineProfile machine;
    ModelShape model;
    std::vector<LevelPlacement> levels; ///< smallest first; the suggested one is levels[chosen]
    std::size_t chosen = 0;
    QString chosenReason;               ///< one sentence
    /// The MoE sentence: "235B parameters to hold, 22B read per token" (empty for dense).
    QString moeNote;

    const LevelPlacement &chosenLevel() const { return levels.at(chosen); }
};

/// What decides the suggested level besides the rule above.
struct LevelChoice {
    std::optional<FileType> quant;             ///< forced (the user's --quant)
    std::optional<FileType> ramRecommendation; ///< the RAM advice's pick, used without a GPU
    /// The levels to plan besides the advisor's (quant and ramRecommendation when set).
    std::vector<FileType> extraLevels() const;
};

/// Levels considered: the advisor's levels (Q2_K .. F16), MXFP4_MOE for MoE models, and the
/// choice's levels. Throws Error when the context is 0 or the shape is invalid.
MachineAdvice adviseOnMachine(const MachineProfile &machine, const ModelShape &shape,
                              const PlacementOptions &options, const LevelChoice &choice = {});
/// The weight maps adviseOnMachine() places (one plan each): compute them once per model and
/// pass them to the overload below when only the machine or the run settings change.
std::vector<std::pair<FileType, WeightMap>> machineLevelMaps(const ModelShape &shape,
                                                             const LevelChoice &choice = {});
MachineAdvice adviseOnMachine(const MachineProfile &machine, const ModelShape &shape,
                              const std::vector<std::pair<FileType, WeightMap>> &maps,
                              const PlacementOptions &options, const LevelChoice &choice = {});
/// When `machine` has QuantFit's own generation measured on the file options.modelFile names
/// (same file name) and the level runs on the CPU alone: replaces the generation estimate by
/// the measured figure, says so first in the basis and sets speed.generationMeasured.
bool applyMeasuredGeneration(const MachineProfile &machine, const PlacementOptions &options,
                             LevelPlacement &level);
/// The same for an opened file's real tensors, at the file's own level (`fileTypeName`); a
/// measured generation of that file replaces the estimate (applyMeasuredGeneration).
MachineAdvice adviseFileOnMachine(const MachineProfile &machine, const ModelShape &shape,
                                  const WeightMap &weights, const QString &fileTypeName,
                                  const PlacementOptions &options);

} // namespace QuantFit
