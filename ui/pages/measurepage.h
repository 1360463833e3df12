#pragma once

#include "tasks/measurementtask.h"

#include <QStringList>
#include <QWidget>

class ComparePanel;
class JobProgressWidget;
class JobRunner;
class LivePerplexityChart;
class QCheckBox;
class QComboBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QTabWidget;
class QTableView;
class ResultsModel;

/// Measure: quantized model(s), an optional base model for KL divergence, the evaluation text
/// (a file, an archive member, or the built-in sample), context and chunks; Run shows the running
/// perplexity as a live curve with its error band, KLD statistics with a base, tokens/s, ETA and
/// Cancel. Results are saved as JSON in the app's data folder and listed; "Compare outputs" runs
/// one prompt on every selected model side by side.
class MeasurePage : public QWidget
{
    Q_OBJECT

public:
    MeasurePage(JobRunner *runner, ResultsModel *results, QWidget *parent = nullptr);

    void addModel(const QString &path);
    void setBaseModel(const QString &path);
    void setContext(int tokens);
    void setChunks(int chunks);
    /// Empty: the built-in sample text.
    void setTextSource(const QString &source);
    /// The request the widgets describe (what Run starts).
    QuantFit::MeasurementRequest request() const;
    void startMeasurement();
    void startCompare();
    void saveSettings() const;

    QStringList models() const;

signals:
    void measurementFinished(bool success);
    void compareFinished(bool success);
    void fileOpened(const QString &path);

private:
    // Layout: one function per group of controls.
    QGroupBox *createModelBox();
    QGroupBox *createEvaluationBox();
    QWidget *createLiveTab();
    QWidget *createResultsTab();
    void restoreSettings();
    void connectControls();

    // Controller.
    void browseModels();
    void browseText();
    void deleteResult();
    void setRunning(bool running);
    void log(const QString &line);
    void showChunk(int model, const QuantFit::ChunkReport &report);
    void keepRecord(const QuantFit::MeasurementRecord &record);
    void importResultFile();

    JobRunner *m_runner;
    ResultsModel *m_results;
    bool m_running = false;
    QString m_summaryText; ///< one paragraph per finished record of the current run

    QTabWidget *m_tabs = nullptr;
    QListWidget *m_models;
    QPushButton *m_addModels;
    QPushButton *m_removeModels;
    QLineEdit *m_base;
    QPushButton *m_browseBase;
    QRadioButton *m_sampleText;
    QRadioButton *m_fileText;
    QLineEdit *m_textPath;
    QPushButton *m_browseText;
    QSpinBox *m_context;
    QSpinBox *m_chunks;
    QPushButton *m_runButton;
    JobProgressWidget *m_progress;
    LivePerplexityChart *m_chart;
    QLabel *m_live;
    QLabel *m_summary;
    QTableView *m_resultsView;
    QPushButton *m_addResult;
    QPushButton *m_deleteResult;
    ComparePanel *m_compare;
};
