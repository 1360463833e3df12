#pragma once

#include <QGroupBox>
#include <QPointer>

class Job;
class JobProgressWidget;
class JobRunner;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;

/// "Hand off": gives one GGUF file to a runner. "Add to Ollama" writes a Modelfile (with the
/// template and parameters of the source model when it came from Ollama) and runs `ollama
/// create NAME`, or shows the command when ollama is not installed; "Add to LM Studio" places
/// the file under LM Studio's models/<publisher>/<repository>/ (hard link, else a copy with
/// progress and Cancel). Nothing is written anywhere until a button is pressed.
class HandoffPanel : public QGroupBox
{
    Q_OBJECT

public:
    explicit HandoffPanel(JobRunner *runner, QWidget *parent = nullptr);

    /// The file to hand off and the model it was made from (an Ollama blob or manifest gives
    /// the template and parameters; an LM Studio or HF cache path the default folder names).
    /// Fills in the default Ollama name and LM Studio folders. `note` says where it came from.
    void setSubject(const QString &ggufPath, const QString &sourcePath = {},
                    const QString &sourceManifest = {}, const QString &note = {});
    QString subject() const { return m_path; }
    QString ollamaName() const;
    void setLmStudioFolders(const QString &publisher, const QString &repository);

    void addToOllama();
    void addToLmStudio();
    bool isBusy() const { return !m_job.isNull(); }
    QString logText() const;

signals:
    /// A hand-off ended; `runner` is "ollama" or "lmstudio". A missing ollama program with the
    /// command shown counts as success = false.
    void handoffFinished(const QString &runner, bool success);

private:
    void start(Job *job, const QString &runner);
    void log(const QString &line);
    void updateButtons();

    JobRunner *m_runner;
    QPointer<Job> m_job;
    QString m_path;
    QString m_sourcePath;
    QString m_sourceManifest;

    QLabel *m_subject;
    QLineEdit *m_ollamaName;
    QPushButton *m_ollamaButton;
    QLineEdit *m_publisher;
    QLineEdit *m_repository;
    QPushButton *m_lmStudioButton;
    JobProgressWidget *m_progress;
    QPlainTextEdit *m_log;
};
