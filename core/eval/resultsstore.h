#pragma once

#include "evalresult.h"

#include <QString>
#include <QStringList>

#include <vector>

namespace QuantFit {

/// A folder of measurement records, one JSON file each: the app saves every run there, and
/// `quantfit-cli perplexity --save` and `quantfit-cli results` use the same folder, so each
/// shell lists what the other measured. Files of every known record format are listed; other
/// JSON files in the folder are reported as problems and otherwise ignored.
///
/// Not thread-safe; each call reads or writes the folder anew (no cache).
class ResultsStore
{
public:
    /// `folder` empty: defaultFolder().
    explicit ResultsStore(QString folder = {});

    /// The shared results folder: `$XDG_DATA_HOME/QuantFit/quantfit/results` on Linux
    /// (QStandardPaths' generic data location), the app's own data folder. The environment
    /// variable QUANTFIT_RESULTS_DIR overrides it.
    static QString defaultFolder();

    QString folder() const { return m_folder; }

    /// Every record, newest first, with `id` set to its file name stem. Unreadable or foreign
    /// files are skipped; `problems` (when given) receives one line per skipped file.
    std::vector<MeasurementRecord> list(QStringList *problems = nullptr) const;
    /// Writes `record` atomically as `<model name>-<date>.json` (creating the folder) and
    /// returns the path; record.date is set to now when invalid. Throws IoError.
    QString save(const MeasurementRecord &record) const;
    /// Reads a record file from anywhere (the CLI's --json output, another machine's results)
    /// and saves a copy here in the current schema. Returns the new path. Throws IoError or
    /// FormatError naming the file.
    QString import(const QString &path) const;
    /// Deletes the record with this id. Throws IoError when it cannot be removed.
    void remove(const QString &id) const;
    /// Path of the file holding the record with this id.
    QString pathOf(const QString &id) const;

private:
    QString m_folder;
};

} // namespace QuantFit
