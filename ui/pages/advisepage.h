#pragma once

#include "advisor/advisor.h"
#include "advisor/estimates.h"
#include "charts/chartdata.h"

#include <QWidget>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace QuantFit {
class Advisor;
struct AdviceOptions;
struct ModelShape;
struct ModelAdvice;
struct QuantRow;
class GgufFile;
class JobContext;
}

struct LoadedModel;
class AdviceTableModel;
class MachinePanel;
class MemoryBar;
class PriorityPanel;
class RecommendationPanel;
class QAbstractButton;
class QButtonGroup;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QPushButton;
class QSlider;
class QTableView;
class QTabWidget;

/// Advise: the machine (RAM presets, detected, custom; OS reserve), the model (catalog search or
/// an opened GGUF), context, KV type and flash attention on the left; on the right the
/// recommendation explained and a memory bar that follows every change, over three tabs: every
/// quant level in a table (the recommendation highlighted, a "Fit exactly" row between the levels
/// around this machine's budget, the user's measurements in place of estimates), the placement
/// and speed on a machine profile with a GPU (MachinePanel), and the brief's priority rows for the
/// RAM. Per-model advice is computed in the GUI thread (the advisor answers in well under 50 ms);
/// the priority rows, which size the whole catalog, on a pool thread.
class AdvisePage : public QWidget
{
    Q_OBJECT

public:
    explicit AdvisePage(QWidget *parent = nullptr);
    ~AdvisePage() override;

    void setRamGb(double gb);
    /// Selects a catalog model by id; false when the id is unknown.
    bool selectCatalogModel(const QString &id);
    void openGguf(const QString &path);
    /// Advises for a shape the user entered (not in the catalog).
    void setCustomShape(const QuantFit::ModelShape &shape);
    void setContextTokens(int tokens);
    void saveSettings() const;
    /// Sends the current advice to the charts (chartDataChanged).
    void publishChartData();
    /// Background work is running: a GGUF being read, or the priority rows being computed.
    bool isBusy() const;
    /// The catalog id, the opened GGUF's path, or the entered shape's id.
    QString currentModelId() const;
    /// The user's saved measurements (newest first): levels measured on the current model show
    /// the measured quality instead of the published estimate (applyMeasuredQuality).
    void setMeasurements(std::vector<QuantFit::QualityMeasurement> runs);
    /// Selects a machine of the placement tab (preset id, "detect", "custom", "" for RAM only)
    /// and shows that tab; false when the id is unknown.
    bool selectMachine(const QString &id);
    /// Shows the quant-level table (the first tab).
    void showLevels();

    /// "Fit exactly" / "Fit to this machine": what Convert's fit needs to reach the budget the
    /// row showed.
    struct FitRequest {
        std::uint64_t ramBytes = 0;
        std::uint32_t contextTokens = 0;
        QuantFit::KvCacheType kvType = QuantFit::KvCacheType::F16;
        std::optional<std::uint64_t> reserveBytes; ///< nullopt: the default by RAM size
        bool flashAttention = false;
        QString sourcePath; ///< the opened GGUF, else empty
    };

signals:
    void convertRequested(const QString &fileType, const QString &sourcePath);
    /// "Fit exactly": convert to a mix fitted to this machine at this context.
    void fitRequested(const AdvisePage::FitRequest &request);
    void chartDataChanged(const AdviceChartData &data);
    void fileOpened(const QString &path);
    /// isBusy() turned false: everything the page shows is computed.
    void idle();

private:
    // Layout: one function per group of controls.
    QGroupBox *createMachineBox();
    QGroupBox *createModelBox();
    QGroupBox *createRunBox();
    QWidget *createResults();
    void restoreSettings();
    void connectControls();

    // Controller.
    void recompute();
    void syncRamControls();
    void recomputeSystem();
    void updateMemoryBar();
    void updateContextRange();
    void fillModelCombo();
    void onModelChosen(int index);
    void onGgufLoaded(const LoadedModel &model);
    void browseGguf();
    void enterShape();
    void requestConvert();
    void requestFit();
    /// Plans the fit row's mix on a pool thread (tasks/fitpreview.h) when it is selected, so its
    /// size becomes the plan's exact one; a newer budget cancels an older plan.
    void planExactFit();
    void updateActionButtons();
    /// The recommended row when it is an I-quant (not in the table), else nullptr.
    const QuantFit::QuantRow *recommendedIQuant() const;
    const QuantFit::QuantRow *levelOrRecommended(int current) const;
    void emitIdleWhenDone();
    void showError(const QString &message);
    /// RAM, reserve, KV type and flash attention: what the priority rows depend on.
    QuantFit::AdviceOptions machineOptions() const;
    std::uint64_t ramBytes() const;

    std::shared_ptr<QuantFit::Advisor> m_advisor;
    std::shared_ptr<const QuantFit::GgufFile> m_gguf; ///< when a GGUF is the current model
    std::unique_ptr<QuantFit::ModelShape> m_custom;    ///< when an entered shape is the current model
    QString m_ggufPath;
    std::unique_ptr<QuantFit::ModelAdvice> m_advice;
    std::vector<QuantFit::QualityMeasurement> m_measurements;
    std::shared_ptr<QuantFit::JobContext> m_fitPlan; ///< the running fit plan, to cancel it
    std::uint64_t m_fitPlanBudget = 0;               ///< its budget
    QString m_fitPlanSource;                         ///< and its model (ExactFit::source)
    int m_pending = 0;
    std::uint64_t m_detectedRamBytes = 0;

    QButtonGroup *m_ramPresets;
    QDoubleSpinBox *m_ram;
    QDoubleSpinBox *m_reserve;
    QComboBox *m_model;
    QPushButton *m_openGguf;
    QPushButton *m_enterShape;
    QLabel *m_modelInfo;
    QSlider *m_context;
    QLabel *m_contextLabel;
    QComboBox *m_kvType;
    QCheckBox *m_flash;
    QCheckBox *m_qualityCritical;
    QCheckBox *m_vision;
    MemoryBar *m_memoryBar;
    RecommendationPanel *m_recommendation;
    AdviceTableModel *m_tableModel;
    QTableView *m_table;
    QPushButton *m_convertButton;
    QPushButton *m_fitButton = nullptr; ///< "Fit exactly" (the table's fit row)
    QTabWidget *m_tabs = nullptr;
    MachinePanel *m_machinePanel = nullptr;
    PriorityPanel *m_priorities;
};

Q_DECLARE_METATYPE(AdvisePage::FitRequest)
