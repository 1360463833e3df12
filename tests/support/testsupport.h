#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

namespace QuantFit::Test {

/// ../shared/testdata (or QUANTFIT_TESTDATA in the environment) when it exists, else empty:
/// callers QSKIP with a message.
QString sharedTestData();

/// Path of the built quantfit-cli.
QString cliPath();

struct CliResult {
    int exitCode = -1;
    bool crashed = false;
    QByteArray out;
    QByteArray err;
};

/// Runs quantfit-cli with `args` (timeout in ms; a timeout counts as a crash) and returns its
/// exit status and output.
CliResult runCli(const QStringList &args, int timeoutMs = 120000, const QByteArray &stdinData = {});

/// Files in `dir` (names only), to check that nothing was left behind.
QStringList filesIn(const QString &dir);

/// The whole content of `path`, empty when it cannot be read (tests compare outputs byte for byte).
QByteArray fileContent(const QString &path);

} // namespace QuantFit::Test
