#pragma once

#include "tasks/conversiontask.h"

#include <QGroupBox>

#include <optional>

class QLabel;
class QLineEdit;
class QPushButton;
class QRadioButton;
class QSpinBox;

/// Convert's calibration route: when a checked mix needs an importance matrix and none is
/// given, the page shows this group to compute one from a text within the conversion (a text
/// file, or the built-in sample with a note that a text of the model's domain is better).
/// Neither choice is made at first: the page keeps Convert disabled until one is.
class CalibrationBox : public QGroupBox
{
    Q_OBJECT

public:
    explicit CalibrationBox(QWidget *parent = nullptr);

    /// The calibration the box describes; nullopt until a text file or the sample is chosen.
    std::optional<QuantFit::CalibrationRequest> calibration() const;
    QString textFile() const;
    void setTextFile(const QString &path);
    /// Names the checked mixes that need the matrix in the box's explanation.
    void setMixes(const QStringList &names);

signals:
    /// The calibration() result may have changed.
    void changed();

private:
    void browse();

    QRadioButton *m_sample;
    QRadioButton *m_file;
    QLineEdit *m_path;
    QPushButton *m_browse;
    QSpinBox *m_chunks;
    QSpinBox *m_ctx;
    QLabel *m_note;
};
