#pragma once

#include "advisor/advisor.h"
#include "tasks/fittask.h"

#include <QGroupBox>

#include <optional>

class QButtonGroup;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QTreeWidget;

/// Convert's "Fit to a budget" group: instead of the checked mixes, one file whose per-tensor
/// types are chosen for a file size or for this machine (RAM, context and KV type, as the Advise
/// page has them; tasks/fittask.h). "Preview recipe" plans the fit (seconds: the costs are
/// measured) and shows the recipe table before anything is written. "Sensitivity" chooses how
/// each tensor's loss is weighed (FitSensitivityMode: measured where quick, the default as for
/// `quantize`; always measured; the documented factors); when measured, each recipe line
/// unfolds to its tensors with their measured KLD and sensitivity.
class FitPanel : public QGroupBox
{
    Q_OBJECT

public:
    explicit FitPanel(QWidget *parent = nullptr);

    /// The target the widgets describe; nullopt when the group is unchecked.
    std::optional<QuantFit::FitTarget> target() const;
    /// Fit to a machine (checks the group): Advise's "Fit exactly" and "Fit to this machine".
    /// The reserve (default: by RAM size) and flash attention come along from the Advise page
    /// without widgets of their own, so the budget is the one Advise showed.
    void setMachine(std::uint64_t ramBytes, std::uint32_t contextTokens, QuantFit::KvCacheType kv,
                    std::optional<std::uint64_t> reserveBytes = std::nullopt,
                    bool flashAttention = false);
    /// Fit to a file size (checks the group), to the byte although the box shows it in MB.
    void setFileSize(std::uint64_t bytes);

    void showFitted(const QuantFit::FittedConversion &fitted);
    void showMessage(const QString &text);
    void setPreviewEnabled(bool enabled);
    QTreeWidget *recipeTree() const { return m_recipe; }

signals:
    void previewRequested();
    void changed();

private:
    QRadioButton *m_bySize;
    QRadioButton *m_byMachine;
    QDoubleSpinBox *m_sizeGb;
    QDoubleSpinBox *m_ramGb;
    QSpinBox *m_context;
    QComboBox *m_kv;
    QComboBox *m_sensitivity;
    QPushButton *m_preview;
    QLabel *m_summary;
    QTreeWidget *m_recipe;
    std::optional<std::uint64_t> m_fileBytes;    ///< from setFileSize, exact, until the size is edited
    std::optional<std::uint64_t> m_reserveBytes; ///< from setMachine
    bool m_flashAttention = false;
};
