#pragma once

// The part both replay tests share: every file under the given roots (files or folders), in
// name order, read and handed to a check.

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <functional>

namespace QuantFit::Fuzz {

/// Calls `check(path, bytes)` for every file under `roots`. Returns a process exit code: 1 when
/// there is no file, one cannot be read or `check` returns false (it prints why), else 0.
int replayCorpus(const QStringList &roots,
                 const std::function<bool(const QString &path, const QByteArray &bytes)> &check);

} // namespace QuantFit::Fuzz
