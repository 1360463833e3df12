#pragma once

#include <QList>
#include <QString>
#include <QWidget>

namespace QuantFit {
struct QuantPlan;
}

class QLabel;
class QTreeWidget;

/// The dry run of a conversion: per output file its exact size, bits per weight and tensor
/// count, the breakdown by tensor type and the plan's notes; below, the total against the free
/// space of the output folder's file system.
class PlanPreview : public QWidget
{
    Q_OBJECT

public:
    struct Entry {
        QString title;                               ///< output file name (or the quant)
        QString outputPath;
        const QuantFit::QuantPlan *plan = nullptr;   ///< null when planning failed
        QString error;                               ///< why it cannot be converted
    };

    explicit PlanPreview(QWidget *parent = nullptr);

    /// Shows `entries`; with a non-empty `message` (nothing to plan yet) shows only that.
    /// Returns true when every entry has a plan and the total fits on the disk of `outputDir`.
    bool setEntries(const QList<Entry> &entries, const QString &outputDir, const QString &message = {});
    QTreeWidget *tree() const { return m_tree; }

private:
    QTreeWidget *m_tree;
    QLabel *m_disk;
};
