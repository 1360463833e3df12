#pragma once

#include "discovery/modeldiscovery.h"

#include <QStringList>
#include <QWidget>

class DiscoveredModelsFilter;
class DiscoveredModelsModel;
class HandoffPanel;
class JobRunner;
class QCheckBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableView;

/// Your models: the GGUF files already on this machine (LM Studio, Ollama, the Hugging Face
/// cache, llama.cpp's cache, folders the user adds), found without any configuration, with the
/// columns of `quantfit-cli models` and a search box. A chosen model goes to Advise (the advice
/// for that exact file), Convert (as the source; a quantized model offers its full-precision
/// sibling) or Measure; the hand-off panel gives a file, or a conversion just finished, to
/// Ollama or LM Studio. The scan runs on a pool thread the first time the page is shown and on
/// Refresh; it only reads.
class ModelsPage : public QWidget
{
    Q_OBJECT

public:
    ModelsPage(JobRunner *runner, QWidget *parent = nullptr);
    ~ModelsPage() override;

    /// Scans again (stores switched on, plus the added folders).
    void refresh();
    bool isScanning() const { return m_scanning; }
    const std::vector<QuantFit::DiscoveredModel> &models() const;
    /// Selects the row of the model whose file is `path`; false when it is not listed.
    bool selectModel(const QString &path);
    const QuantFit::DiscoveredModel *selectedModel() const;
    void setSearchText(const QString &text);
    void setFolders(const QStringList &folders);
    QStringList folders() const { return m_folders; }
    /// A conversion finished: hand its first output to a runner (the source's Ollama template
    /// and LM Studio folders apply).
    void offerHandoff(const QStringList &outputs, const QString &sourcePath);
    HandoffPanel *handoffPanel() const { return m_handoff; }
    void saveSettings() const;

signals:
    void adviseRequested(const QString &path);
    /// `outputFolder` is set when the source lies in a runner's store: conversions never
    /// land in a store unless handed off.
    void convertRequested(const QString &sourcePath, const QString &outputFolder);
    void measureRequested(const QString &path);
    void scanFinished();

protected:
    void showEvent(QShowEvent *event) override;

private:
    QWidget *createListBox();
    QWidget *createDetails();
    void restoreSettings();
    void showScan(const QuantFit::DiscoveryResult &result);
    void updateDetails();
    void addFolder();
    void removeFolders();
    void requestConvert();
    QuantFit::DiscoveryOptions scanOptions() const;

    HandoffPanel *m_handoff;
    DiscoveredModelsModel *m_model;
    DiscoveredModelsFilter *m_filter;
    QStringList m_folders;
    QStringList m_problems;
    bool m_scanning = false;
    bool m_rescan = false;
    bool m_scannedOnce = false;

    QLineEdit *m_search;
    QList<QCheckBox *> m_sourceBoxes;
    QPushButton *m_refresh;
    QPushButton *m_addFolder;
    QPushButton *m_removeFolders;
    QLabel *m_status;
    QTableView *m_table;
    QLabel *m_details;
    QPushButton *m_advise;
    QPushButton *m_convert;
    QPushButton *m_measure;
    QPushButton *m_useSibling;
};
