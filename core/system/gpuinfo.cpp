#include "gpuinfo.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>

#include <algorithm>

namespace QuantFit {

namespace {

// sysfs attributes are one short line; more than 4 KiB is not an attribute.
QByteArray readAttribute(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.read(4096).trimmed();
}

// "0x1002" -> 0x1002; anything else -> 0.
std::uint16_t parsePciId(const QByteArray &text)
{
    if (!text.startsWith("0x") && !text.startsWith("0X"))
        return 0;
    bool ok = false;
    const uint value = text.mid(2).toUInt(&ok, 16);
    return ok && value <= 0xffff ? std::uint16_t(value) : 0;
}

// A decimal byte count ("68719476736"); garbage or overflow -> 0.
std::uint64_t parseBytes(const QByteArray &text)
{
    bool ok = false;
    const qulonglong value = text.toULongLong(&ok, 10);
    return ok ? value : 0;
}

} // namespace

QString GpuDevice::vendorName() const
{
    switch (vendorId) {
    case 0x1002:
        return QStringLiteral("AMD");
    case 0x10de:
        return QStringLiteral("NVIDIA");
    case 0x8086:
        return QStringLiteral("Intel");
    case 0x106b:
        return QStringLiteral("Apple");
    default:
        return QStringLiteral("PCI vendor 0x%1").arg(vendorId, 4, 16, QLatin1Char('0'));
    }
}

QString GpuDevice::describe() const
{
    QString text = QStringLiteral("%1 GPU 0x%2 (%3%4)")
                       .arg(vendorName())
                       .arg(deviceId, 4, 16, QLatin1Char('0'))
                       .arg(driver.isEmpty() ? QStringLiteral("no driver") : driver,
                            integrated ? QStringLiteral(", integrated") : QString());
    const auto gb = [](std::uint64_t b) { return QString::number(double(b) / 1e9, 'f', 1); };
    if (vramBytes)
        text += QStringLiteral(": VRAM %1 GB").arg(gb(vramBytes));
    else
        text += QStringLiteral(": VRAM not published by the driver");
    if (gttBytes)
        text += QStringLiteral(", GTT %1 GB").arg(gb(gttBytes));
    return text;
}

std::vector<GpuDevice> detectGpus(const QString &drmRoot)
{
    std::vector<GpuDevice> gpus;
    static const QRegularExpression cardName(QStringLiteral("^card(\\d+)$"));
    const QStringList entries = QDir(drmRoot).entryList(QDir::Dirs | QDir::NoDotAndDotDot
                                                        | QDir::System);
    std::vector<std::pair<int, QString>> cards;
    for (const QString &e : entries) {
        const auto m = cardName.match(e);
        if (m.hasMatch())
            cards.emplace_back(m.captured(1).toInt(), e);
    }
    std::sort(cards.begin(), cards.end());
    for (const auto &[number, card] : cards) {
        const QString dev = drmRoot + QLatin1Char('/') + card + QStringLiteral("/device/");
        GpuDevice g;
        g.card = card;
        g.vendorId = parsePciId(readAttribute(dev + QStringLiteral("vendor")));
        if (g.vendorId == 0)
            continue;
        g.deviceId = parsePciId(readAttribute(dev + QStringLiteral("device")));
        const QFileInfo driverLink(dev + QStringLiteral("driver"));
        if (driverLink.isSymLink())
            g.driver = QFileInfo(driverLink.symLinkTarget()).fileName();
        g.vramBytes = parseBytes(readAttribute(dev + QStringLiteral("mem_info_vram_total")));
        g.gttBytes = parseBytes(readAttribute(dev + QStringLiteral("mem_info_gtt_total")));
        const bool hasVramVendor = !readAttribute(dev + QStringLiteral("mem_info_vram_vendor"))
                                        .isEmpty();
        if (g.driver == QLatin1String("amdgpu"))
            g.integrated = !hasVramVendor && g.gttBytes > 0;
        else if (g.vendorId == 0x8086)
            g.integrated = g.vramBytes == 0;
        gpus.push_back(g);
    }
    return gpus;
}

} // namespace QuantFit
