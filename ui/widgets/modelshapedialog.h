#pragma once

#include "catalog/modelshape.h"

#include <QDialog>

class QCheckBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

/// Lets the user enter a model's shape (from its config.json) when it is neither in the
/// catalog nor at hand as a GGUF. Validates with the catalog's own checks before accepting.
class ModelShapeDialog : public QDialog
{
    Q_OBJECT

public:
    explicit ModelShapeDialog(const QuantFit::ModelShape &start, QWidget *parent = nullptr);

    QuantFit::ModelShape shape() const;

    void accept() override;

private:
    QuantFit::ModelShape m_start;
    QLineEdit *m_name;
    QSpinBox *m_layers;
    QSpinBox *m_embd;
    QSpinBox *m_ff;
    QSpinBox *m_heads;
    QSpinBox *m_headsKv;
    QSpinBox *m_headDim;
    QSpinBox *m_vocab;
    QSpinBox *m_ctx;
    QCheckBox *m_tied;
};
