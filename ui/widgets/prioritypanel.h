#pragma once

#include <QWidget>

#include <memory>

namespace QuantFit {
class Advisor;
struct AdviceOptions;
struct SystemAdvice;
}

class QLabel;
class QTreeWidget;

/// The brief's "Recommendations by System" rows for one machine (best balance, higher quality,
/// maximum quality, maximum size), computed by the advisor on a pool thread because sizing the
/// whole catalog can take longer than a GUI frame. The selected row's reasoning shows below.
/// Only the newest request's answer is shown.
class PriorityPanel : public QWidget
{
    Q_OBJECT

public:
    PriorityPanel(std::shared_ptr<QuantFit::Advisor> advisor, QWidget *parent = nullptr);
    ~PriorityPanel() override;

    /// Starts computing the rows for `options` (ram, reserve, KV type, flash attention).
    void request(const QuantFit::AdviceOptions &options);
    bool isBusy() const { return m_pending > 0; }
    /// "llama-3.1-70b Q4_K_M" for a Priority value, empty when absent or not computed yet.
    QString rowText(int priority) const;

signals:
    void finished();

private:
    std::shared_ptr<QuantFit::Advisor> m_advisor;
    std::unique_ptr<QuantFit::SystemAdvice> m_system;
    int m_generation = 0;
    int m_pending = 0;
    QLabel *m_title;
    QTreeWidget *m_rows;
    QLabel *m_explanation;
};
