#pragma once

#include <QWidget>

#include <memory>

namespace QuantFit {
class GgufFile;
struct ModelAdvice;
struct MachineProfile;
struct MachineAdvice;
}

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QTableWidget;

/// Advise page, "Placement and speed": a machine selector (RAM only, the presets, this machine
/// as detected, custom VRAM and bandwidth) and, for the page's model and run settings, where
/// llama.cpp puts the model (-ngl, --n-cpu-moe), the memory on each device, the longest context,
/// tokens/s for generation and prompt with their basis, and the command line to run it. Every
/// machine limit is shown with its source. The computation is the advisor's (machineadvice.h):
/// quantfit-cli advise --machine prints the same facts.
class MachinePanel : public QWidget
{
    Q_OBJECT

public:
    explicit MachinePanel(QWidget *parent = nullptr);
    ~MachinePanel() override;

    /// The page's advice (model, context, KV type, flash attention, RAM and reserve); `file`
    /// when the model is an opened GGUF (its real tensors are placed).
    void setAdvice(const QuantFit::ModelAdvice &advice,
                   std::shared_ptr<const QuantFit::GgufFile> file, const QString &path);
    void clear();
    /// Selects a machine by preset id, "detect", "custom" or "" (RAM only); false if unknown.
    bool selectMachine(const QString &id);
    QString machineId() const;

signals:
    void machineChanged(const QString &id);

private:
    void recompute();
    QuantFit::MachineProfile currentMachine() const;
    void showAdvice(const QuantFit::MachineAdvice &a);

    std::unique_ptr<QuantFit::ModelAdvice> m_advice;
    /// The weight maps of the current catalog/entered model (planned once per model).
    struct MapCache;
    std::unique_ptr<MapCache> m_maps;
    std::shared_ptr<const QuantFit::GgufFile> m_file;
    QString m_path;

    QComboBox *m_machine;
    QDoubleSpinBox *m_vram;
    QDoubleSpinBox *m_gpuBandwidth;
    QLabel *m_machineFacts;
    QLabel *m_summary;
    QLabel *m_speed;
    QLineEdit *m_command;
    QLabel *m_runners;
    QTableWidget *m_levels;
};
