#include "handofftask.h"

#include "discovery/modeldiscovery.h"
#include "discovery/modelstores.h"
#include "discovery/ollamastore.h"
#include "gguf/ggufreader.h"
#include "io/atomicoutput.h"
#include "jobs/jobcontext.h"
#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>

#include <cerrno>
#include <cstring>
#include <vector>

#if defined(Q_OS_WIN)
#include <windows.h>
#else
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace QuantFit {

//
// Ollama
//

namespace {

QString shellQuoted(const QString &arg)
{
    static const QRegularExpression plain(QStringLiteral("^[A-Za-z0-9_@%+=:,./-]+$"));
    if (plain.match(arg).hasMatch())
        return arg;
#if defined(Q_OS_WIN)
    return QLatin1Char('"') + QString(arg).replace(QLatin1Char('"'), QStringLiteral("\\\""))
         + QLatin1Char('"');
#else
    return QLatin1Char('\'') + QString(arg).replace(QLatin1Char('\''), QStringLiteral("'\\''"))
         + QLatin1Char('\'');
#endif
}

QString defaultModelfilePath(const QString &ggufPath)
{
    const QFileInfo gguf(ggufPath);
    const QString name = modelFileStem(ggufPath) + QStringLiteral(".Modelfile");
    // The Modelfile must not land in a runner's store (an Ollama blob folder, LM Studio's tree).
    if (storeContaining(ggufPath, defaultStoreLocations(DiscoveryEnvironment::current())))
        return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation)
             + QStringLiteral("/QuantFit/quantfit/modelfiles/") + name;
    return gguf.absoluteDir().filePath(name);
}

// Drops terminal control sequences (ollama draws spinners when it thinks it owns a terminal).
QString plainLine(QString line)
{
    static const QRegularExpression escapes(QStringLiteral("\x1b\\[[0-9;?]*[A-Za-z]"));
    static const QRegularExpression controls(QStringLiteral("[\\x00-\\x08\\x0b-\\x1f\\x7f]"));
    line.remove(escapes);
    line.remove(controls);
    return line.trimmed();
}

void runOllama(const QString &program, const QStringList &args, const OllamaHandoffRequest &request,
               OllamaHandoffResult &result, JobContext &ctx)
{
    QProcess process;
    process.setProcessChannelMode(QProcess::MergedChannels);
    process.start(program, args, QIODevice::ReadOnly);
    if (!process.waitForStarted(30000))
        throw IoError(program, QStringLiteral("start"), process.errorString());
    result.ran = true;
    // What is kept is bounded whatever ollama prints: the last half MiB of its output, and lines
    // of at most 64 KiB.
    constexpr qsizetype kMaxOutput = 1 << 20;
    constexpr qsizetype kMaxLine = 64 << 10;
    QByteArray pending;
    auto emitLine = [&](const QByteArray &raw) {
        const QString line = plainLine(QString::fromUtf8(raw));
        if (line.isEmpty())
            return;
        result.output += line + QLatin1Char('\n');
        if (result.output.size() > kMaxOutput)
            result.output.remove(0, result.output.size() - kMaxOutput / 2);
        if (request.onOutput)
            request.onOutput(line);
    };
    // ollama rewrites its progress lines with '\r': each rewrite counts as a line.
    auto drain = [&](bool all) {
        pending += process.readAll();
        qsizetype start = 0;
        for (qsizetype i = 0; i < pending.size(); ++i) {
            if (pending.at(i) == '\n' || pending.at(i) == '\r') {
                emitLine(pending.mid(start, i - start));
                start = i + 1;
            }
        }
        pending.remove(0, start);
        if ((all || pending.size() > kMaxLine) && !pending.isEmpty()) {
            emitLine(pending);
            pending.clear();
        }
    };
    while (process.state() != QProcess::NotRunning) {
        if (ctx.isCancelled()) {
            process.kill();
            process.waitForFinished(5000);
            throw Cancelled();
        }
        process.waitForReadyRead(100);
        drain(false);
    }
    drain(true);
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    if (process.exitStatus() != QProcess::NormalExit)
        result.output += QStringLiteral("ollama stopped: %1\n").arg(process.errorString());
}

} // namespace

QString findOllamaProgram()
{
    const QString onPath = QStandardPaths::findExecutable(QStringLiteral("ollama"));
    if (!onPath.isEmpty())
        return onPath;
    QStringList places;
#if defined(Q_OS_MACOS)
    places << QStringLiteral("/Applications/Ollama.app/Contents/Resources/ollama")
           << QStringLiteral("/usr/local/bin/ollama") << QStringLiteral("/opt/homebrew/bin/ollama");
#elif defined(Q_OS_WIN)
    places << qEnvironmentVariable("LOCALAPPDATA") + QStringLiteral("/Programs/Ollama/ollama.exe");
#endif
    for (const QString &p : places) {
        if (QFileInfo(p).isExecutable())
            return p;
    }
    return {};
}

OllamaHandoffResult runOllamaHandoff(const OllamaHandoffRequest &request, JobContext &ctx)
{
    ctx.setStage(QStringLiteral("Adding to Ollama"));
    QString why;
    const auto name = OllamaName::parse(request.modelName, &why);
    if (!name)
        throw Error(why);
    if (!QFileInfo(request.ggufPath).isFile())
        throw IoError(request.ggufPath, QStringLiteral("open"), QStringLiteral("no such file"));

    OllamaHandoffResult result;
    result.modelName = name->display();
    OllamaModelSettings settings;
    std::optional<OllamaManifest> source;
    if (!request.sourceManifest.isEmpty()) {
        try {
            source = readOllamaManifestAt(request.sourceManifest);
        } catch (const Error &e) {
            result.warnings << QStringLiteral("template and parameters not taken over: %1")
                                   .arg(e.message());
        }
    } else if (!request.sourcePath.isEmpty()) {
        const std::vector<OllamaManifest> manifests = ollamaManifestsForBlob(request.sourcePath);
        if (!manifests.empty())
            source = manifests.front();
    }
    if (source) {
        settings = readOllamaModelSettings(*source);
        if (settings.templateText || settings.system || !settings.parameters.empty())
            result.settingsFrom = source->name.display();
        result.warnings << settings.warnings;
    }
    result.modelfileText = makeModelfile(request.ggufPath, settings);
    result.modelfilePath = request.modelfilePath.isEmpty() ? defaultModelfilePath(request.ggufPath)
                                                           : request.modelfilePath;
    if (!QDir().mkpath(QFileInfo(result.modelfilePath).absolutePath()))
        throw IoError(QFileInfo(result.modelfilePath).absolutePath(), QStringLiteral("create"),
                      QStringLiteral("cannot make the folder"));
    {
        AtomicOutput out(result.modelfilePath);
        out.write(result.modelfileText.toUtf8());
        out.commit();
    }
    const QStringList args{QStringLiteral("create"), result.modelName, QStringLiteral("-f"),
                           QDir::toNativeSeparators(result.modelfilePath)};
    QStringList quoted{QStringLiteral("ollama")};
    for (const QString &a : args)
        quoted << shellQuoted(a);
    result.command = quoted.join(QLatin1Char(' '));
    if (!request.run)
        return result;
    const QString program =
        request.ollamaProgram.isEmpty() ? findOllamaProgram() : request.ollamaProgram;
    if (program.isEmpty())
        return result;
    runOllama(program, args, request, result, ctx);
    return result;
}

//
// LM Studio
//

namespace {

// The files of the model whose first file is `path`: itself, or every file of a split model.
QStringList modelFiles(const QString &path)
{
    const auto split = SplitFileName::parse(path);
    if (!split || split->number != 1)
        return {path};
    QStringList files;
    for (std::uint32_t i = 1; i <= split->count; ++i)
        files << split->pathOf(i);
    return files;
}

bool sameFile(const QString &a, const QString &b)
{
#if defined(Q_OS_WIN)
    return QFileInfo(a).canonicalFilePath().compare(QFileInfo(b).canonicalFilePath(),
                                                    Qt::CaseInsensitive) == 0;
#else
    struct stat sa {};
    struct stat sb {};
    return ::stat(QFile::encodeName(a).constData(), &sa) == 0
        && ::stat(QFile::encodeName(b).constData(), &sb) == 0 && sa.st_dev == sb.st_dev
        && sa.st_ino == sb.st_ino;
#endif
}

// A hard link; false when the file systems or the file system do not allow one (then the
// caller copies), IoError for anything else.
bool hardLink(const QString &from, const QString &to)
{
#if defined(Q_OS_WIN)
    if (CreateHardLinkW(reinterpret_cast<LPCWSTR>(QDir::toNativeSeparators(to).utf16()),
                        reinterpret_cast<LPCWSTR>(QDir::toNativeSeparators(from).utf16()), nullptr))
        return true;
    const DWORD e = GetLastError();
    if (e == ERROR_NOT_SAME_DEVICE || e == ERROR_INVALID_FUNCTION || e == ERROR_NOT_SUPPORTED
        || e == ERROR_TOO_MANY_LINKS || e == ERROR_ACCESS_DENIED)
        return false;
    throw IoError(to, QStringLiteral("link"), QStringLiteral("Windows error %1").arg(e));
#else
    if (::link(QFile::encodeName(from).constData(), QFile::encodeName(to).constData()) == 0)
        return true;
    const int e = errno;
    if (e == EXDEV || e == EPERM || e == ENOTSUP || e == EMLINK || e == EOPNOTSUPP)
        return false;
    throw IoError(to, QStringLiteral("link"), QString::fromLocal8Bit(std::strerror(e)));
#endif
}

void copyFile(const QString &from, const QString &to, JobContext &ctx)
{
    QFile in(from);
    if (!in.open(QIODevice::ReadOnly))
        throw IoError(from, QStringLiteral("open"), in.errorString());
    AtomicOutput out(to, std::uint64_t(in.size()));
    // 8 MiB pieces: a cancel is honoured within one piece (well under a second on any disk).
    constexpr qint64 kPiece = 8 << 20;
    QByteArray buffer(kPiece, Qt::Uninitialized);
    for (;;) {
        ctx.throwIfCancelled();
        const qint64 n = in.read(buffer.data(), kPiece);
        if (n < 0)
            throw IoError(from, QStringLiteral("read"), in.errorString());
        if (n == 0)
            break;
        out.write(
            std::span(reinterpret_cast<const std::uint8_t *>(buffer.constData()), std::size_t(n)));
        ctx.advance(std::uint64_t(n));
    }
    ctx.throwIfCancelled();
    out.commit();
}

} // namespace

LmStudioHandoffResult runLmStudioHandoff(const LmStudioHandoffRequest &request, JobContext &ctx)
{
    const DiscoveryEnvironment env = DiscoveryEnvironment::current();
    LmStudioHandoffResult result;
    result.modelsFolder = request.modelsFolder.isEmpty() ? lmStudioModelFolders(env).front().path
                                                         : request.modelsFolder;
    result.placement = request.placement
        ? *request.placement
        : lmStudioDefaultPlacement(request.ggufPath, request.sourcePath, env);
    for (const auto &[what, value] :
         {std::pair{QStringLiteral("publisher"), result.placement.publisher},
          std::pair{QStringLiteral("repository"), result.placement.repository}}) {
        const QString problem = lmStudioFolderNameProblem(what, value);
        if (!problem.isEmpty())
            throw Error(QStringLiteral("cannot add to LM Studio: %1").arg(problem));
    }
    const QStringList sources = modelFiles(request.ggufPath);
    for (const QString &s : sources) {
        if (!QFileInfo(s).isFile())
            throw IoError(s, QStringLiteral("open"), QStringLiteral("no such file"));
    }
    const QString folder = QFileInfo(lmStudioTargetPath(result.modelsFolder, result.placement,
                                                        request.ggufPath)).absolutePath();
    // Every target is checked before anything is placed: no half hand-off of a split model.
    std::vector<bool> present;
    for (const QString &s : sources) {
        // A blob without ".gguf" gets a name LM Studio lists (lmStudioFileName).
        const QString target = folder + QLatin1Char('/')
                             + (sources.size() == 1 ? lmStudioFileName(s) : QFileInfo(s).fileName());
        result.targetFiles << target;
        const bool exists = QFileInfo(target).exists();
        if (exists && !sameFile(s, target))
            throw Error(QStringLiteral("cannot add to LM Studio: %1 already exists and is another "
                                       "file (LM Studio would show two models under one name); "
                                       "remove it or choose another repository")
                            .arg(QDir::toNativeSeparators(target)));
        present.push_back(exists);
    }
    result.targetPath = result.targetFiles.front();
    if (std::all_of(present.begin(), present.end(), [](bool p) { return p; })) {
        result.method = PlacementMethod::AlreadyThere;
        return result;
    }
    if (!QDir().mkpath(folder))
        throw IoError(folder, QStringLiteral("create"), QStringLiteral("cannot make the folder"));
    result.method = PlacementMethod::HardLink;
    bool copying = false;
    QStringList placed;
    try {
        for (qsizetype i = 0; i < sources.size(); ++i) {
            ctx.throwIfCancelled();
            if (present[std::size_t(i)])
                continue;
            // The file itself, not a symbolic link to it (an HF snapshot's relative link would
            // dangle in LM Studio's folder).
            const QString real = QFileInfo(sources.at(i)).canonicalFilePath();
            if (!copying && hardLink(real, result.targetFiles.at(i))) {
                placed << result.targetFiles.at(i);
                continue;
            }
            if (!copying) {
                // Once a link fails, this file and every later one not yet there are copied:
                // they are what the bar counts.
                std::uint64_t toCopy = 0;
                for (qsizetype k = i; k < sources.size(); ++k) {
                    if (!present[std::size_t(k)])
                        toCopy += std::uint64_t(QFileInfo(sources.at(k)).size());
                }
                copying = true;
                result.method = PlacementMethod::Copy;
                ctx.setStage(QStringLiteral("Copying to LM Studio"), toCopy);
                ctx.setRateUnit(QStringLiteral("MB/s"), 1e6);
            }
            copyFile(real, result.targetFiles.at(i), ctx);
            placed << result.targetFiles.at(i);
        }
    } catch (...) {
        // A split model is placed whole or not at all.
        for (const QString &p : placed)
            QFile::remove(p);
        throw;
    }
    ctx.flush();
    return result;
}

} // namespace QuantFit
