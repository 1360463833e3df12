#include "systeminfo.h"

#include <QFile>
#include <QList>
#include <QThread>

#include <unistd.h>

namespace QuantFit {

SystemInfo parseMeminfo(const QByteArray &text)
{
    SystemInfo info;
    const QList<QByteArray> lines = text.split('\n');
    for (const QByteArray &line : lines) {
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue;
        const QByteArray key = line.left(colon).trimmed();
        std::uint64_t *target = nullptr;
        if (key == "MemTotal")
            target = &info.totalRamBytes;
        else if (key == "MemAvailable")
            target = &info.availableRamBytes;
        else
            continue;
        // "  16314588 kB": value and unit (kB means KiB in the kernel's wording).
        const QList<QByteArray> parts = line.mid(colon + 1).simplified().split(' ');
        bool ok = false;
        const qulonglong value = parts.value(0).toULongLong(&ok);
        if (!ok || value > (~0ull >> 10))
            continue;
        const bool kib = parts.size() > 1 && parts.at(1).toLower() == "kb";
        *target = kib ? value * 1024 : value;
    }
    return info;
}

SystemInfo SystemInfo::current()
{
    SystemInfo info;
    QFile meminfo(QStringLiteral("/proc/meminfo"));
    // /proc files report size 0: read until EOF instead of trusting size().
    if (meminfo.open(QIODevice::ReadOnly))
        info = parseMeminfo(meminfo.readAll());
    if (info.totalRamBytes == 0) {
        const long pages = sysconf(_SC_PHYS_PAGES);
        const long pageSize = sysconf(_SC_PAGESIZE);
        if (pages > 0 && pageSize > 0)
            info.totalRamBytes = std::uint64_t(pages) * std::uint64_t(pageSize);
    }
    if (info.availableRamBytes == 0) {
#ifdef _SC_AVPHYS_PAGES
        const long pages = sysconf(_SC_AVPHYS_PAGES);
        const long pageSize = sysconf(_SC_PAGESIZE);
        if (pages > 0 && pageSize > 0)
            info.availableRamBytes = std::uint64_t(pages) * std::uint64_t(pageSize);
#endif
    }
    info.cpuThreads = QThread::idealThreadCount();
    return info;
}

} // namespace QuantFit
