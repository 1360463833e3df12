#include "planpreview.h"

#include "gguf/ggmltype.h"
#include "io/diskspace.h"
#include "quant/quantplan.h"
#include "util/units.h"

#include <QBoxLayout>
#include <QDir>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QTreeWidget>

#include <map>

using namespace QuantFit;

PlanPreview::PlanPreview(QWidget *parent)
    : QWidget(parent)
    , m_tree(new QTreeWidget(this))
    , m_disk(new QLabel(this))
{
    m_tree->setHeaderLabels({tr("Output"), tr("Exact size"), tr("Bits/weight"), tr("Tensors")});
    m_tree->setRootIsDecorated(true);
    m_tree->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_disk->setWordWrap(true);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_tree, 1);
    layout->addWidget(m_disk);
}

bool PlanPreview::setEntries(const QList<Entry> &entries, const QString &outputDir, const QString &message)
{
    m_tree->clear();
    if (!message.isEmpty()) {
        m_disk->setText(message);
        return false;
    }
    std::uint64_t totalBytes = 0;
    bool ok = !entries.isEmpty();
    for (const Entry &e : entries) {
        auto *row = new QTreeWidgetItem(m_tree);
        row->setText(0, e.title);
        row->setToolTip(0, e.outputPath);
        if (!e.plan) {
            row->setText(1, tr("cannot convert"));
            row->setToolTip(1, e.error);
            auto *why = new QTreeWidgetItem(row, {e.error});
            why->setFirstColumnSpanned(true);
            ok = false;
            continue;
        }
        const QuantPlan &plan = *e.plan;
        totalBytes += plan.outputFileBytes;
        std::map<int, std::pair<int, std::uint64_t>> byType; // type -> (tensors, bytes)
        for (const PlannedTensor &pt : plan.tensors) {
            auto &slot = byType[int(pt.targetType)];
            slot.first += 1;
            slot.second += pt.targetBytes;
        }
        row->setText(1, QStringLiteral("%1 (%2 bytes)").arg(formatBytes(plan.outputFileBytes),
                                                            QLocale().toString(qulonglong(plan.outputFileBytes))));
        row->setText(2, QString::number(plan.bitsPerWeight(), 'f', 2));
        row->setText(3, QString::number(plan.tensors.size()));
        for (const auto &[type, slot] : byType) {
            const auto name = typeFacts(GgmlType(type)).name;
            auto *child = new QTreeWidgetItem(row);
            child->setText(0, tr("%1 tensors").arg(QString::fromLatin1(name.data(), qsizetype(name.size()))));
            child->setText(1, formatBytes(slot.second));
            child->setText(3, QString::number(slot.first));
        }
        for (const QString &w : plan.warnings) {
            auto *warn = new QTreeWidgetItem(row, {tr("note: %1").arg(w)});
            warn->setFirstColumnSpanned(true);
        }
    }
    m_tree->expandAll(); // the per-type breakdown is the point of the preview
    for (int c = 1; c < 4; ++c)
        m_tree->resizeColumnToContents(c);

    QString text = tr("Total to write: <b>%1</b>").arg(formatBytes(totalBytes));
    if (!QDir(outputDir).exists()) {
        text += tr(" · the output folder does not exist");
        ok = false;
    } else if (const auto freeBytes = availableDiskBytes(outputDir)) {
        text += tr(" · free on that disk: %1").arg(formatBytes(*freeBytes));
        if (*freeBytes < totalBytes) {
            text += tr(" — <b>not enough free space</b>");
            ok = false;
        }
    } else {
        text += tr(" · free space unknown");
    }
    m_disk->setText(text);
    return ok;
}
