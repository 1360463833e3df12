#include "atomicoutput.h"

#include "diskspace.h"

#include "util/error.h"

#include <QDir>
#include <QFileInfo>

#include <array>

namespace QuantFit {

void ensureDistinctOutput(const QString &inputPath, const QString &outputPath)
{
    const QFileInfo in(inputPath);
    const QFileInfo out(outputPath);
    const QString a = in.canonicalFilePath();
    const QString b = out.exists() ? out.canonicalFilePath() : out.absoluteFilePath();
    if (!a.isEmpty() && (a == b || in.absoluteFilePath() == out.absoluteFilePath()))
        throw Error(QStringLiteral("refusing to write '%1': it is the input file; choose another "
                                   "output path").arg(outputPath));
}

AtomicOutput::AtomicOutput(const QString &path, std::uint64_t expectedBytes)
    : m_path(path)
    , m_file(path)
{
    const QFileInfo info(path);
    if (!info.absoluteDir().exists())
        throw IoError(path, QStringLiteral("create"),
                      QStringLiteral("folder '%1' does not exist").arg(info.absolutePath()));
    if (expectedBytes)
        requireDiskSpace(info.absolutePath(), expectedBytes);
    if (!m_file.open(QIODevice::WriteOnly))
        throw IoError(path, QStringLiteral("create"), m_file.errorString());
}

AtomicOutput::~AtomicOutput()
{
    if (!m_committed)
        m_file.cancelWriting(); // the QSaveFile destructor then removes the temporary
}

void AtomicOutput::write(std::span<const std::uint8_t> bytes)
{
    std::size_t done = 0;
    while (done < bytes.size()) {
        const qint64 n = m_file.write(reinterpret_cast<const char *>(bytes.data() + done),
                                      qint64(bytes.size() - done));
        if (n <= 0)
            throw IoError(m_path, QStringLiteral("write"), m_file.errorString());
        done += std::size_t(n);
    }
    m_written += bytes.size();
}

void AtomicOutput::write(const QByteArray &bytes)
{
    write(std::span(reinterpret_cast<const std::uint8_t *>(bytes.constData()),
                    std::size_t(bytes.size())));
}

void AtomicOutput::writeZeros(std::uint64_t n)
{
    static const std::array<std::uint8_t, 4096> zeros{};
    while (n) {
        const std::uint64_t k = std::min<std::uint64_t>(n, zeros.size());
        write(std::span(zeros.data(), std::size_t(k)));
        n -= k;
    }
}

void AtomicOutput::commit()
{
    if (!m_file.commit())
        throw IoError(m_path, QStringLiteral("save"), m_file.errorString());
    m_committed = true;
}

} // namespace QuantFit
