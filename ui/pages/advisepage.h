#pragma once

#include "charts/chartdata.h"

#include <QWidget>

#include <cstdint>
#include <memory>

namespace QuantFit {
class Advisor;
struct ModelShape;
struct ModelAdvice;
class GgufFile;
}

class AdviceTableModel;
class MemoryBar;
class PriorityPanel;
class QAbstractButton;
class QButtonGroup;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSlider;
class QTableView;

/// Advise: the machine (RAM presets, detected, custom; OS reserve), the model (catalog search or
/// an opened GGUF), context, KV type and flash attention; then every quant level in a table with
/// the recommendation highlighted and explained, a memory bar that follows every change, and the
/// brief's priority rows for the RAM. Per-model advice is computed in the GUI thread (the advisor
/// answers in well under 50 ms); the priority rows, which size the whole catalog, on a pool
/// thread.
class AdvisePage : public QWidget
{
    Q_OBJECT

public:
    explicit AdvisePage(QWidget *parent = nullptr);
    ~AdvisePage() override;

    void setRamGb(double gb);
    double ramGb() const;
    /// Selects a catalog model by id; false when the id is unknown.
    bool selectCatalogModel(const QString &id);
    void openGguf(const QString &path);
    /// Advises for a shape the user entered (not in the catalog).
    void setCustomShape(const QuantFit::ModelShape &shape);
    void setContextTokens(int tokens);
    void saveSettings() const;
    /// Sends the current advice to the charts (chartDataChanged).
    void publishChartData();
    /// Processes events until background work (GGUF loading, priority rows) is done (max 20 s).
    void waitUntilIdle();

    /// For tests and the screenshot: what the page currently shows.
    QString currentModelId() const;
    QString recommendedQuant() const;          ///< "Q4_K_M", empty when nothing fits
    QString priorityRowText(int priority) const; ///< "llama-3.1-70b Q4_K_M", empty when absent
    QString explanationText() const;
    MemoryBar *memoryBar() const { return m_memoryBar; }
    QTableView *table() const { return m_table; }

signals:
    void convertRequested(const QString &fileType, const QString &sourcePath);
    void chartDataChanged(const AdviceChartData &data);
    void fileOpened(const QString &path);

private:
    void recompute();
    void syncRamControls();
    void recomputeSystem();
    void updateMemoryBar();
    void updateContextRange();
    void fillModelCombo();
    void onModelChosen(int index);
    void showError(const QString &message);
    std::uint64_t ramBytes() const;

    std::shared_ptr<QuantFit::Advisor> m_advisor;
    std::shared_ptr<const QuantFit::GgufFile> m_gguf; ///< when a GGUF is the current model
    std::unique_ptr<QuantFit::ModelShape> m_custom;    ///< when an entered shape is the current model
    QString m_ggufPath;
    std::unique_ptr<QuantFit::ModelAdvice> m_advice;
    int m_pending = 0;
    std::uint64_t m_detectedRamBytes = 0;

    QButtonGroup *m_ramPresets;
    QDoubleSpinBox *m_ram;
    QDoubleSpinBox *m_reserve;
    QComboBox *m_model;
    QLabel *m_modelInfo;
    QSlider *m_context;
    QLabel *m_contextLabel;
    QComboBox *m_kvType;
    QCheckBox *m_flash;
    QCheckBox *m_qualityCritical;
    MemoryBar *m_memoryBar;
    QLabel *m_recommendation;
    QLabel *m_alternative;
    AdviceTableModel *m_tableModel;
    QTableView *m_table;
    QPushButton *m_convertButton;
    PriorityPanel *m_priorities;
};
