#pragma once

#include <QGroupBox>

namespace QuantFit {
struct ConversionRequest;
}

class QCheckBox;
class QComboBox;
class QLineEdit;
class QPushButton;
class QSpinBox;

/// Convert's "Advanced" group: importance matrix, --pure, re-quantizing, output and token
/// embedding tensor types, threads. Checkable; while unchecked only its title shows and a
/// request gets none of its options but the thread count.
class ConversionOptionsBox : public QGroupBox
{
    Q_OBJECT

public:
    explicit ConversionOptionsBox(QWidget *parent = nullptr);

    /// Writes the options into `request`: the thread count always, the rest while checked.
    void applyTo(QuantFit::ConversionRequest &request) const;

signals:
    /// The importance matrix applyTo() gives may be another one (path edited, box toggled).
    void imatrixChanged();
    /// An option that changes the plan changed.
    void optionsChanged();

private:
    void browseImatrix();

    QLineEdit *m_imatrix;
    QPushButton *m_browseImatrix;
    QCheckBox *m_pure;
    QCheckBox *m_requantize;
    QComboBox *m_outputType;
    QComboBox *m_embdType;
    QSpinBox *m_threads;
};
