#include "quanttips.h"

#include "gguf/ggmltype.h"

#include <QCoreApplication>

static QString tr(const char *text)
{
    return QCoreApplication::translate("QuantTips", text);
}

QString quantTooltip(QuantFit::FileType type)
{
    using QuantFit::FileType;
    const auto &facts = QuantFit::fileTypeFacts(type);
    const auto &bulk = QuantFit::typeFacts(facts.defaultType);
    const QString name = QString::fromLatin1(facts.name.data(), qsizetype(facts.name.size()));
    QString text = QStringLiteral("<b>%1</b>: %2<br>").arg(name,
        QString::fromUtf8(facts.summary.data(), qsizetype(facts.summary.size())).toHtmlEscaped());
    text += tr("Bulk tensors: %1 at %2 bits per weight.")
                .arg(QString::fromLatin1(bulk.name.data(), qsizetype(bulk.name.size())))
                .arg(bulk.bitsPerWeight(), 0, 'f', 2);
    text += QStringLiteral("<br>");
    if (name.contains(QStringLiteral("_K"))) {
        text += tr("K-quant: blocks of 256 weights with per-sub-block scales; the mix keeps "
                   "sensitive tensors (attention V, FFN down, output) at more bits.");
        if (name.endsWith(QStringLiteral("_S")))
            text += tr(" <i>_S</i> (small): fewest bumped tensors, smallest file.");
        else if (name.endsWith(QStringLiteral("_M")))
            text += tr(" <i>_M</i> (medium): the balanced choice, recommended.");
        else if (name.endsWith(QStringLiteral("_L")))
            text += tr(" <i>_L</i> (large): more tensors bumped, larger and better.");
    } else if (name.startsWith(QStringLiteral("IQ"))) {
        text += tr("I-quant: non-linear or lattice codebooks. Works best with an importance "
                   "matrix (imatrix) computed from calibration text.");
    } else if (type == FileType::F32 || type == FileType::F16 || type == FileType::BF16) {
        text += tr("Full precision: no quality loss, the largest file.");
    } else if (type == FileType::Q8_0) {
        text += tr("8-bit blocks of 32: near-perfect quality; use it when there is room for "
                   "the context too.");
    } else {
        text += tr("Legacy block quant (32 weights per block); K-quants of the same size are "
                   "usually better.");
    }
    return text;
}
