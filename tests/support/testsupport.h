#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <map>

namespace QuantFit::Test {

/// ../shared/testdata (or QUANTFIT_TESTDATA in the environment) when it exists, else empty:
/// callers QSKIP with a message.
QString sharedTestData();

/// The numeric columns of `file`'s row in testdata/arch/reference.csv (llama.cpp's figures for
/// the tiny models of each architecture: ppl_final, ppl_final_fa_off, ...); empty when the
/// shared data, the table or the row is missing.
std::map<QString, double> archReference(const QString &file);

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
