#pragma once

// The machine options of `advise` (--machine, --vram, --gpu-limit, --gpu-bandwidth,
// --cpu-bandwidth) and the printing of a machine profile and of a model's placement and speed
// on it, as text and as JSON.

#include "advisor/machineadvice.h"

#include <QCommandLineParser>
#include <QJsonObject>

#include <optional>

namespace QuantFit::Cli {

void addMachineOptions(QCommandLineParser &parser);
/// Whether any machine option was given.
bool machineRequested(const QCommandLineParser &parser);
/// The profile the options describe: a preset, `detect`, or custom values over either (or over
/// a plain CPU machine of --ram GB). Throws Error for an unknown preset or a bad value.
MachineProfile machineFrom(const QCommandLineParser &parser, std::optional<double> ramGb);

/// `--machine list`: every preset with its memory and bandwidth.
QString machineListText();
QJsonObject machineListJson();

QString machineText(const MachineProfile &m);
QJsonObject machineJson(const MachineProfile &m);
QString machineAdviceText(const MachineAdvice &a);
QJsonObject machineAdviceJson(const MachineAdvice &a);

} // namespace QuantFit::Cli
