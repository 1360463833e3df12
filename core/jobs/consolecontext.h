#pragma once

#include "jobcontext.h"

namespace QuantFit {

/// JobContext for the CLI: a throttled one-line progress display on stderr (percent, rate, ETA,
/// live metric), and Ctrl+C (SIGINT/SIGTERM) requests cancellation. Only one ConsoleContext may
/// exist at a time. `quiet` suppresses the display but keeps cancellation.
class ConsoleContext : public JobContext
{
public:
    explicit ConsoleContext(bool quiet = false);
    ~ConsoleContext() override;

    /// Ends the progress line (prints a newline if a line is open).
    void finishLine();

protected:
    void report(const Progress &progress) override;

private:
    bool m_quiet;
    bool m_tty;
    bool m_lineOpen = false;
};

} // namespace QuantFit
