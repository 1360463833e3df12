#include "mappedfile.h"

#include "regularfile.h"

#include "util/error.h"

namespace QuantFit {

MappedFile::MappedFile(const QString &path)
    : m_path(path)
    , m_file(path)
{
    requireRegularFile(path);
    if (!m_file.open(QIODevice::ReadOnly))
        throw IoError(path, QStringLiteral("open"), m_file.errorString());
    m_size = std::uint64_t(m_file.size());
    if (m_size == 0)
        return;
    uchar *p = m_file.map(0, qint64(m_size));
    if (!p)
        throw IoError(path, QStringLiteral("map"), m_file.errorString());
    m_data = p;
}

MappedFile::~MappedFile()
{
    if (m_data)
        m_file.unmap(const_cast<uchar *>(m_data));
}

} // namespace QuantFit
