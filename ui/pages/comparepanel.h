#pragma once

#include <QStringList>
#include <QWidget>

class Job;
class JobRunner;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

/// The Measure page's "Compare outputs": one prompt, greedy decoding on each given model, the
/// outputs side by side in one column per model with tokens/s — the brief's "same prompt,
/// different quants".
class ComparePanel : public QWidget
{
    Q_OBJECT

public:
    ComparePanel(JobRunner *runner, QWidget *parent = nullptr);

    /// Queues the generation job for `paths` and returns it (to follow its progress), or nullptr
    /// when there is nothing to run (no model or an empty prompt; the panel says so).
    Job *start(const QStringList &paths);
    void setStartEnabled(bool enabled);

signals:
    void startRequested();
    void finished(bool success);

private:
    JobRunner *m_runner;
    QLineEdit *m_prompt;
    QSpinBox *m_nPredict;
    QPushButton *m_button;
    QLabel *m_status;
    QWidget *m_columns;
};
