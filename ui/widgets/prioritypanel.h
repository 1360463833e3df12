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
    /// A request is still being computed.
    bool isBusy() const { return m_pending > 0; }

signals:
    /// isBusy() turned false: the newest request's rows (or its error) are shown.
    void idle();

private:
    void showRows(const QuantFit::SystemAdvice &advice);
    void showError(const QString &message);

    std::shared_ptr<QuantFit::Advisor> m_advisor;
    int m_generation = 0;
    int m_pending = 0;
    QLabel *m_title;
    QTreeWidget *m_rows;
    QLabel *m_explanation;
};
