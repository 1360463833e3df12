#pragma once

// Built-in model catalog: the shape facts of popular open-weight models, from each model's
// published config.json, stored as JSON in resources/catalog.json (compiled into quantfit_core as
// the Qt resource :/quantfit/catalog.json).

#include "modelshape.h"

#include <QByteArray>
#include <QString>

#include <memory>
#include <vector>

namespace QuantFit {

/// An immutable list of model shapes. Thread-safe for reads.
class Catalog
{
public:
    /// The built-in catalog, parsed once on first use. Throws FormatError if the compiled-in data
    /// is malformed (a build defect).
    static std::shared_ptr<const Catalog> builtIn();
    /// Parses catalog JSON (`{"models": [ {...}, ... ]}`); `source` names it in messages.
    /// Throws FormatError naming the entry and field for a missing or out-of-range value.
    static Catalog fromJson(const QByteArray &json, const QString &source);

    const std::vector<ModelShape> &models() const { return m_models; }
    /// Case-insensitive lookup by id.
    const ModelShape *find(const QString &id) const;
    /// Like find(), but throws Error "unknown model id 'x'" listing close ids.
    const ModelShape &get(const QString &id) const;

private:
    std::vector<ModelShape> m_models;
};

/// Checks a shape's consistency (non-zero widths, heads divisible by KV heads, MoE facts,
/// window layers <= layers). Throws Error naming `what` and the field.
void validateShape(const ModelShape &shape, const QString &what);

} // namespace QuantFit
