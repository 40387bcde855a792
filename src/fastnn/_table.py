"""Raw tables to the network's input matrix: ``TableEncoder``.

A table is a pandas or polars DataFrame, or a 2-D array.  Its columns are
numeric or categorical, told apart by dtype as HistGradientBoosting's
``categorical_features="from_dtype"`` does: pandas ``category``, object,
string and bool columns (polars: categorical, enum, string, boolean) are
categorical, every other column numeric.  A NumPy array is numeric, but
for an object array whose column holds values other than numbers.

Numeric columns are scaled robustly (median and inter-quartile range;
standard deviation, then 1, where that range is zero), then clipped
smoothly, ``z / sqrt(1 + (z / 3)^2)``, so that an outlier stays below 3 in
size without a kink; a missing value becomes 0 and, for a column that had
missing values at fit time, sets an indicator column.  Categorical columns
are one-hot encoded over their ``max_categories - 1`` most frequent values
seen at fit time plus one column for all others; missing values get a
column of their own where the fit saw them, and values never seen encode
as "other" (or as zeros, where no value fell into "other").  With
``embed``, a column of more than ``max_categories`` values is encoded
instead as one column of codes, for a learned embedding
(``_embeddings``): its ``MAX_CODES - 2`` most frequent values seen at fit
time numbered from 0 by frequency, then a code for all others (and values
never seen), then one for missing values.

Each numeric column also gets a piecewise-linear encoding over ``n_bins``
quantile bins of its training values (Gorishniy et al., "On Embeddings for
Numerical Features in Tabular Deep Learning", 2022): one output per bin,
1 for the bins below the value, its position within its own bin, 0 above.
With ``n_bins="auto"``, a table of at most ``AUTO_BINS_COLUMNS`` numeric
columns gets ``AUTO_BINS`` bins a column, a wider one none: there the
encodings would multiply the width of the network's input, and the cost
of its first layer, for little gain beside the periodic embeddings of the
numeric columns that the tabular estimators add.

The output is a float32 (or float64) C-contiguous matrix: the scaled
numeric columns, their missing-value indicators, the piecewise-linear
blocks, the one-hot blocks, then the code columns, each in column order.
"""

import numbers

import numpy as np

# Smooth clipping: z / sqrt(1 + (z / _CLIP) ** 2) stays within +-_CLIP.
_CLIP = 3.0

# Pandas tables of at most this many rows are read row by row (``_few_rows``).
_FEW_ROWS = 4

# Codes of an embedded categorical column at most (module docstring).
MAX_CODES = 1024

# n_bins="auto" (module docstring).
AUTO_BINS = 16
AUTO_BINS_COLUMNS = 8


def _is_missing(v):
    """None, NaN or pandas' NA (never compared: NA's truth value is an error)."""
    return (v is None or (isinstance(v, (float, np.floating)) and v != v)
            or type(v).__name__ == "NAType")


def _frame_kind(X):
    """"pandas", "polars" or None (an array) for the table ``X``."""
    module = type(X).__module__
    if module.startswith("pandas") and hasattr(X, "columns"):
        return "pandas"
    if module.startswith("polars") and hasattr(X, "columns"):
        return "polars"
    return None


def _column_is_categorical(kind, column):
    """Whether a DataFrame column is categorical by its dtype (module docstring)."""
    if kind == "pandas":
        from pandas.api import types

        dtype = column.dtype
        return (isinstance(dtype, types.CategoricalDtype) or types.is_object_dtype(dtype)
                or types.is_string_dtype(dtype) or types.is_bool_dtype(dtype))
    dtype = column.dtype  # polars
    return not (dtype.is_numeric() or dtype.is_temporal())


def _values_categorical(values):
    """Whether an object-array column holds anything but numbers (and missing values)."""
    for v in values:
        if _is_missing(v):
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            return True
    return False


def _columns(X):
    """``(names, is_categorical, columns)`` of the table ``X``: a column is a
    float64 array (numeric) or an object array (categorical, missing values
    as None or NaN)."""
    kind = _frame_kind(X)
    if kind is not None:
        names = [str(c) for c in X.columns]
        series = [X[c] for c in X.columns] if kind == "pandas" else X.get_columns()
        flags = [_column_is_categorical(kind, s) for s in series]
        cols = [_as_object(s) if cat else _as_float(s, name)
                for s, cat, name in zip(series, flags, names)]
        return names, flags, cols
    A = np.asarray(X)
    if A.ndim != 2:
        raise ValueError(f"Expected a 2-D table, got an array of shape {A.shape}.")
    names = [f"x{j}" for j in range(A.shape[1])]
    if A.dtype.kind in "biuf":
        return names, [False] * A.shape[1], [A[:, j].astype(np.float64) for j in range(A.shape[1])]
    if A.dtype.kind not in "OUS":
        raise TypeError(f"Unsupported array dtype {A.dtype} for a table.")
    A = A.astype(object)
    flags = [_values_categorical(A[:, j]) for j in range(A.shape[1])]
    cols = [A[:, j] if cat else _as_float(A[:, j], name)
            for j, (cat, name) in enumerate(zip(flags, names))]
    return names, flags, cols


def _as_float(values, name):
    """A numeric column as float64, missing values (NaN, None, pandas' NA) as NaN."""
    try:
        if type(values).__module__.startswith("pandas"):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        if hasattr(values, "to_numpy"):  # polars: nulls become NaN
            values = values.to_numpy()
        if values.dtype == object:
            values = [np.nan if _is_missing(v) else v for v in values]
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Column {name!r} holds values that are not numbers: {exc}") from None


def _block_columns(X):
    """The columns of the pandas DataFrame ``X`` as its blocks hold them (one
    call a block, not one a column): a row of a 2-D NumPy block, or a 1-D
    extension array (a ``Categorical``, a string or masked array); and the
    dtype of each.  None if this pandas keeps its blocks otherwise."""
    try:
        cols, dtypes = [None] * X.shape[1], [None] * X.shape[1]
        for block in X._mgr.blocks:
            values = block.values
            locations = block.mgr_locs.as_array
            if isinstance(values, np.ndarray) and values.ndim == 2:
                for j, v in zip(locations, values):
                    cols[j], dtypes[j] = v, values.dtype
            elif len(locations) == 1 and getattr(values, "ndim", 0) == 1:
                cols[locations[0]], dtypes[locations[0]] = values, values.dtype
            else:
                return None
    except (AttributeError, TypeError):
        return None
    return (cols, dtypes) if all(c is not None for c in cols) else None


def _as_object(values):
    """A categorical column as an object array, or a pandas ``Categorical``
    as it is (read through its codes: ``_categorical_counts``,
    ``TableEncoder._codes``)."""
    if _is_categorical_array(getattr(values, "array", None)):
        return values.array
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    return np.asarray(values, dtype=object)


def _is_categorical_array(values):
    """Whether ``values`` is a pandas ``Categorical`` (asked of its class: the
    instance's ``codes`` is a property that makes an array each time)."""
    kind = type(values)
    return kind.__name__ == "Categorical" and hasattr(kind, "codes")


class TableEncoder:
    """Encode a raw table into the network's input matrix (module docstring).

    Parameters
    ----------
    max_categories : int, default=32
        One-hot columns per categorical column at most (the most frequent
        values, then one column for all others).
    n_bins : int or "auto", default=16
        Quantile bins of the piecewise-linear encoding of a numeric column
        (fewer where the column has fewer distinct quantiles; 0: none;
        "auto": ``AUTO_BINS`` for a table of at most ``AUTO_BINS_COLUMNS``
        numeric columns, else none).
    embed : bool, default=False
        Whether a categorical column of more than ``max_categories`` values
        is encoded as a column of codes, for an embedding, instead of
        one-hot.
    dtype : {"float32", "float64"}, default="float32"
        The output's dtype.

    Attributes
    ----------
    n_codes_ : list of int
        Codes of each code column (the last ``len(n_codes_)`` columns of
        the output).
    """

    def __init__(self, max_categories=32, n_bins=16, embed=False, dtype="float32"):
        self.max_categories = max_categories
        self.n_bins = n_bins
        self.embed = embed
        self.dtype = dtype

    def __getstate__(self):
        state = self.__dict__.copy()
        # (``_fitted_dtypes``' and ``_category_codes``' caches, for tables seen here)
        state.pop("_seen_dtypes", None)
        state.pop("_code_table", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # pickled before code columns existed
        self.__dict__.setdefault("embed", False)
        self.__dict__.setdefault("embedded_", {})
        if "n_outputs_" in state:
            self.__dict__.setdefault("code_start_", self.n_outputs_)
            self.__dict__.setdefault("n_codes_", [])

    def to_dict(self):
        """The fitted encoding as plain values, lists and arrays (``from_dict``):
        what a file stores, pickle's or a safe format's such as skops'.

        Per numeric column (in column order) its center, scale, whether it
        has an indicator column, and its bin edges; per categorical column
        its values in the order of their codes, whether it has an "other"
        and a "missing" column, and whether it is embedded.  The layout
        ``transform`` works with is derived from these again on load.
        """
        numeric = self.numeric_
        categorical = [j for j, cat in enumerate(self.categorical_) if cat]
        return {
            "max_categories": self.max_categories,
            "n_bins": self.n_bins,
            "embed": self.embed,
            "dtype": np.dtype(self.dtype).name,
            "names": list(self.names_),
            "categorical": [bool(cat) for cat in self.categorical_],
            "dtypes": None if self.dtypes_ is None else [str(d) for d in self.dtypes_],
            "center": self.center_vec_,
            "scale": self.scale_vec_,
            "indicate": [bool(self.indicate_[j]) for j in numeric],
            "edges": [self.edges_[j] for j in numeric],
            "levels": [list(self.levels_[j]) for j in categorical],
            "has_other": [bool(self.has_other_.get(j, False)) for j in categorical],
            "has_missing": [bool(self.has_missing_.get(j, False)) for j in categorical],
            "embedded": [j in self.embedded_ for j in categorical],
        }

    @classmethod
    def from_dict(cls, state):
        """The fitted encoder of ``to_dict``'s dict.

        Raises
        ------
        ValueError
            When the lists do not match the columns.
        """
        encoder = cls(max_categories=state["max_categories"], n_bins=state["n_bins"],
                      embed=bool(state["embed"]), dtype=state["dtype"])
        flags = [bool(cat) for cat in state["categorical"]]
        numeric = [j for j, cat in enumerate(flags) if not cat]
        categorical = [j for j, cat in enumerate(flags) if cat]
        per_numeric = ("center", "scale", "indicate", "edges")
        per_categorical = ("levels", "has_other", "has_missing", "embedded")
        if (len(state["names"]) != len(flags)
                or any(len(state[key]) != len(numeric) for key in per_numeric)
                or any(len(state[key]) != len(categorical) for key in per_categorical)):
            raise ValueError("The encoder's lists do not match its columns.")
        encoder.names_ = [str(name) for name in state["names"]]
        encoder.categorical_ = flags
        encoder.dtypes_ = None if state["dtypes"] is None else [str(d) for d in state["dtypes"]]
        encoder.center_ = dict(zip(numeric, np.asarray(state["center"], dtype=np.float64)))
        encoder.scale_ = dict(zip(numeric, np.asarray(state["scale"], dtype=np.float64)))
        encoder.indicate_ = dict(zip(numeric, map(bool, state["indicate"])))
        encoder.edges_ = {j: np.asarray(e, dtype=np.float64)
                          for j, e in zip(numeric, state["edges"])}
        encoder.levels_, encoder.has_other_, encoder.has_missing_ = {}, {}, {}
        encoder.embedded_ = {}
        for j, values, other, missing, embedded in zip(
                categorical, state["levels"], state["has_other"], state["has_missing"],
                state["embedded"]):
            encoder.levels_[j] = {v: k for k, v in enumerate(values)}
            if embedded:
                encoder.embedded_[j] = len(values) + 2
            else:
                encoder.has_other_[j], encoder.has_missing_[j] = bool(other), bool(missing)
        encoder._layout()
        return encoder

    def fit(self, X):
        """Learn the columns' kinds, scalings, bins and categories from ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The table.

        Returns
        -------
        self : TableEncoder
            The fitted encoder.
        """
        self._fit(X, *_columns(X))
        return self

    def _fit(self, X, names, flags, cols):
        self.names_, self.categorical_ = names, flags
        # a dtype equals its name (``_few_rows`` compares a table's dtypes with these)
        self.dtypes_ = [str(d) for d in X.dtypes] if _frame_kind(X) == "pandas" else None
        self.center_, self.scale_, self.indicate_, self.edges_ = {}, {}, {}, {}
        self.levels_, self.has_other_, self.has_missing_ = {}, {}, {}
        self.embedded_ = {}  # embedded column -> its number of codes
        n_bins = self.n_bins
        if isinstance(n_bins, str):  # "auto"
            n_bins = AUTO_BINS if len(flags) - sum(flags) <= AUTO_BINS_COLUMNS else 0
        for j, (name, cat, col) in enumerate(zip(names, flags, cols)):
            if cat:
                self._fit_categorical(j, col)
            else:
                self._fit_numeric(j, name, col, n_bins)
        self._layout()

    def _fit_numeric(self, j, name, col, n_bins):
        if np.isinf(col).any():
            raise ValueError(f"Column {name!r} holds an infinite value.")
        finite = col[~np.isnan(col)]
        if finite.size == 0:
            raise ValueError(f"Column {name!r} has no value (all missing): it cannot be"
                             " scaled.")
        q25, median, q75 = np.percentile(finite, [25, 50, 75])
        scale = q75 - q25
        if not scale > 0:
            scale = finite.std()
        if not scale > 0:
            scale = 1.0
        self.center_[j], self.scale_[j] = median, scale
        self.indicate_[j] = finite.size < col.size
        self.edges_[j] = _bin_edges(finite, n_bins)

    def _fit_categorical(self, j, col):
        if _is_categorical_array(col):
            values, counts, any_missing = _categorical_counts(col)
        else:
            missing = np.fromiter((_is_missing(v) for v in col), dtype=bool, count=len(col))
            values, counts = _unique_counts(col[~missing])
            any_missing = bool(missing.any())
        order = np.argsort(-counts, kind="stable")
        if self.embed and len(values) > self.max_categories:
            # codes: the levels, "other", "missing"
            self.levels_[j] = {values[i]: k for k, i in enumerate(order[:MAX_CODES - 2])}
            self.embedded_[j] = len(self.levels_[j]) + 2
            return
        keep = self.max_categories - 1 if len(values) > self.max_categories else len(values)
        self.levels_[j] = {values[i]: k for k, i in enumerate(order[:keep])}
        self.has_other_[j] = len(values) > keep
        self.has_missing_[j] = any_missing

    def _layout(self):
        """Output column offsets (numeric, indicators, piecewise-linear blocks,
        one-hot blocks) and the per-column vectors ``transform`` works with."""
        numeric = [j for j, cat in enumerate(self.categorical_) if not cat]
        self.numeric_ = numeric
        self.indicated_ = [k for k, j in enumerate(numeric) if self.indicate_[j]]
        self.ple_start_ = len(numeric) + len(self.indicated_)
        # every bin of every numeric column: its column (within the numeric
        # ones), lower edge and inverse width, consecutive in the output
        src, lo, inv = [], [], []
        for k, j in enumerate(numeric):
            edges = self.edges_[j]
            src += [k] * (edges.size - 1 if edges.size else 0)
            lo.append(edges[:-1])
            inv.append(1.0 / np.diff(edges))
        self.ple_src_ = np.array(src, dtype=np.intp)
        self.ple_lo_ = np.concatenate(lo) if lo else np.empty(0)
        self.ple_inv_ = np.concatenate(inv) if inv else np.empty(0)
        self.center_vec_ = np.array([self.center_[j] for j in numeric])
        self.scale_vec_ = np.array([self.scale_[j] for j in numeric])
        offset = self.ple_start_ + len(src)
        self.block_ = {}
        for j, cat in enumerate(self.categorical_):
            if cat and j not in self.embedded_:
                width = len(self.levels_[j]) + self.has_other_[j] + self.has_missing_[j]
                self.block_[j] = (offset, width)
                offset += width
        self.block_offsets_ = np.array([o for o, _ in self.block_.values()], dtype=np.intp)
        self.code_start_ = offset
        self.n_codes_ = list(self.embedded_.values())
        self.n_outputs_ = offset + len(self.embedded_)

    def fit_transform(self, X):
        """``fit(X)``, then ``transform(X)``, reading the table once."""
        names, flags, cols = _columns(X)
        self._fit(X, names, flags, cols)
        return self._encode(*self._split(cols))

    def transform(self, X):
        """Encode the table ``X``, whose columns must be those of the fit.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The table.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_outputs_)
            The network's input (module docstring).
        """
        few = self._few_rows(X)
        if few is not None:
            return self._encode(*few)
        names, flags, cols = _columns(X)
        if len(names) != len(self.names_):
            raise ValueError(f"X has {len(names)} columns, but the model was fitted with"
                             f" {len(self.names_)}.")
        for name, cat, fitted in zip(self.names_, flags, self.categorical_):
            if cat != fitted:
                was, now = ("categorical", "numeric") if fitted else ("numeric", "categorical")
                raise TypeError(f"Column {name!r} was {was} at fit time and is {now} now.")
        return self._encode(*self._split(cols))

    def _split(self, cols):
        """``_encode``'s arguments from the columns of a table."""
        numbers = [cols[j] for j in self.numeric_]
        N = np.column_stack(numbers) if numbers else np.empty((len(cols[0]), 0))
        return N, [cols[j] for j in (*self.block_, *self.embedded_)]

    def _few_rows(self, X):
        """``_encode``'s arguments for a pandas table of a few rows with the
        fitted dtypes, read from its blocks of columns (``_block_columns``)
        or else row by row: one pandas call a block or a row instead of one
        a column, so that a 1-row table is served in tens of microseconds;
        None for other tables."""
        if self.dtypes_ is None or _frame_kind(X) != "pandas" or len(X) > _FEW_ROWS:
            return None
        blocks = _block_columns(X)
        if blocks is not None:
            cols, dtypes = blocks
            if not self._fitted_dtypes(dtypes):
                return None
            numbers = [cols[j] for j in self.numeric_]
            if all(isinstance(v, np.ndarray) and v.dtype.kind in "biuf" for v in numbers):
                N = np.array(numbers, dtype=np.float64).T.reshape(len(X), -1)
            else:  # (extension arrays: missing values as NaN)
                N = np.column_stack([_as_float(v, self.names_[j])
                                     for v, j in zip(numbers, self.numeric_)])
            return (N, [cols[j] for j in (*self.block_, *self.embedded_)],
                    self._category_codes(cols) if self.block_ or self.embedded_ else None)
        if X.dtypes.tolist() != self.dtypes_:
            return None
        rows = [X.iloc[i].tolist() for i in range(len(X))]
        N = np.array([[np.nan if _is_missing(row[j]) else row[j] for j in self.numeric_]
                      for row in rows], dtype=np.float64).reshape(len(rows), -1)
        return N, [[row[j] for row in rows] for j in (*self.block_, *self.embedded_)], None

    def _fitted_dtypes(self, dtypes):
        """Whether the columns' ``dtypes`` are the fitted ones (the last such
        list is kept, and then compared by identity: tables cut from one
        DataFrame share their dtypes)."""
        seen = self.__dict__.get("_seen_dtypes")
        if seen is not None and len(seen) == len(dtypes) and all(
                a is b for a, b in zip(seen, dtypes)):
            return True
        if len(dtypes) != len(self.dtypes_) or any(d != s for d, s in zip(dtypes, self.dtypes_)):
            return False
        self._seen_dtypes = dtypes
        return True

    def _encode(self, N, categories, codes=None):
        """The output for the numeric columns ``N`` (rows by columns) and the
        values of each categorical column (one-hot ones in ``block_``'s
        order, then embedded ones in ``embedded_``'s), or their codes
        (``codes``, rows by columns in the same order)."""
        n = N.shape[0]
        out = np.zeros((n, self.n_outputs_), dtype=self.dtype)
        if N.shape[1]:
            infinite = np.isinf(N)
            if infinite.any():
                name = self.names_[self.numeric_[np.flatnonzero(infinite.any(axis=0))[0]]]
                raise ValueError(f"Column {name!r} holds an infinite value.")
            missing = np.isnan(N)
            z = (N - self.center_vec_) / self.scale_vec_
            z /= np.sqrt(1.0 + (z / _CLIP) ** 2)
            out[:, :N.shape[1]] = np.where(missing, 0.0, z)
            out[:, N.shape[1]:self.ple_start_] = missing[:, self.indicated_]
            # piecewise-linear encoding: 1 for the bins below a value, its
            # position within its own bin, 0 above (missing values: all 0)
            with np.errstate(invalid="ignore"):
                fraction = (N[:, self.ple_src_] - self.ple_lo_) * self.ple_inv_
            fraction = np.clip(fraction, 0.0, 1.0)
            fraction[missing[:, self.ple_src_]] = 0.0
            out[:, self.ple_start_:self.ple_start_ + self.ple_src_.size] = fraction
        if self.block_:
            # every categorical column's codes, then one scatter of the ones
            if codes is None:
                block = np.empty((n, len(self.block_)), dtype=np.intp)
                for c, (j, values) in enumerate(zip(self.block_, categories)):
                    self._codes(j, values, block[:, c])
            else:
                block = codes[:, :len(self.block_)]
            rows, which = np.nonzero(block >= 0)
            out[rows, self.block_offsets_[which] + block[rows, which]] = 1.0
        if self.embedded_:
            column = np.empty(n, dtype=np.intp)
            embedded = categories[len(self.block_):]
            for c, (j, values) in enumerate(zip(self.embedded_, embedded)):
                if codes is None:
                    self._codes(j, values, column)
                else:
                    column = codes[:, len(self.block_) + c]
                out[:, self.code_start_ + c] = column
        return out

    def _codes(self, j, col, codes):
        """Write each value's column within its one-hot block, or -1 for
        none, into ``codes``."""
        if _is_categorical_array(col):
            # one lookup by the column's category codes (-1: missing, the last)
            codes[:] = self._category_table(j, col.categories)[col.codes]
            return
        levels = self.levels_[j]
        n_levels = len(levels)
        if j in self.embedded_:
            other, missing = n_levels, n_levels + 1
        else:
            other = n_levels if self.has_other_[j] else -1
            missing = n_levels + self.has_other_[j] if self.has_missing_[j] else -1
        for i, v in enumerate(col):
            # a known value first (the common case: one dictionary lookup);
            # missing values are never keys of ``levels``
            try:
                code = levels.get(v)
            except TypeError:  # pandas' NA compared with a key on a hash collision
                code = None
            if code is None:
                code = missing if _is_missing(v) else other
            codes[i] = code

    def _category_table(self, j, categories):
        """``_codes`` of column ``j``'s ``categories``, then of a missing value."""
        table = np.empty(len(categories) + 1, dtype=np.intp)
        self._codes(j, [*categories, None], table)
        return table

    def _category_codes(self, cols):
        """The categorical columns' codes (as ``_codes``, rows by columns;
        one-hot columns in ``block_``'s order, then embedded ones in
        ``embedded_``'s) for ``_few_rows``' columns ``cols``.  Those held as pandas
        ``Categorical`` arrays are read from their category codes, through
        one table of the codes of every such column's categories (and last,
        of a missing value) made for the dtypes seen last (kept by identity:
        tables cut from one DataFrame share their dtypes)."""
        columns = [*self.block_, *self.embedded_]
        arrays = [cols[j] for j in columns]
        dtypes = [a.dtype if _is_categorical_array(a) else None for a in arrays]
        seen = self.__dict__.get("_code_table")
        if seen is None or any(a is not b for a, b in zip(seen[0], dtypes)):
            which = [c for c, dtype in enumerate(dtypes) if dtype is not None]
            tables = [np.empty(0, dtype=np.intp)]
            tables += [self._category_table(columns[c], dtypes[c].categories) for c in which]
            sizes = np.array([len(t) for t in tables[1:]], dtype=np.intp)
            seen = self._code_table = (dtypes, np.array(which, dtype=np.intp),
                                       np.concatenate(tables), np.cumsum(sizes) - sizes, sizes - 1)
        _, which, table, offsets, missing = seen
        codes = np.empty((len(arrays[0]), len(arrays)), dtype=np.intp)
        if which.size:
            raw = np.array([arrays[c].codes for c in which], dtype=np.intp)  # (-1: missing)
            codes[:, which] = table[np.where(raw < 0, missing[:, None], raw) + offsets[:, None]].T
        for c, dtype in enumerate(dtypes):
            if dtype is None:
                self._codes(columns[c], arrays[c], codes[:, c])
        return codes


def _bin_edges(finite, n_bins):
    """The edges of ``n_bins`` quantile bins of a column's values; where one value
    holds many rows its quantiles coincide, and the bins lost are made up by
    quantiles of the other values (a column that is mostly 0: bins over its
    non-zero values too)."""
    q = np.linspace(0, 100, n_bins + 1)
    edges = np.unique(np.percentile(finite, q))
    if 2 < edges.size < q.size:
        values, counts = np.unique(finite, return_counts=True)
        rest = finite[finite != values[np.argmax(counts)]]
        edges = np.unique(np.concatenate([edges, np.percentile(rest, q)]))
    return edges if edges.size > 2 else edges[:0]


def _categorical_counts(values):
    """``_unique_counts`` of the values present in a pandas ``Categorical``,
    read from its codes, and whether any value is missing."""
    codes = np.asarray(values.codes, dtype=np.intp)
    present = codes[codes >= 0]
    counts = np.bincount(present, minlength=len(values.categories))
    seen, first = np.unique(present, return_index=True)
    order = seen[np.argsort(first, kind="stable")]
    return (np.asarray(values.categories, dtype=object)[order], counts[order],
            present.size < codes.size)


def _unique_counts(values):
    """Distinct values of an object array and their counts, in first-seen order."""
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    keys = list(counts)
    out = np.empty(len(keys), dtype=object)
    out[:] = keys
    return out, np.fromiter(counts.values(), dtype=np.int64, count=len(keys))
