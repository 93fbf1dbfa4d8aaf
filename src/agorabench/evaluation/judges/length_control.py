"""AlpacaEval 2.0's length-controlled win rate (Dubois, Galambosi, Liang and Hashimoto, arXiv 2404.04475), as
alpaca_eval (tatsu-lab/alpaca_eval, the `alpaca-eval` package) computes it, and its refit on resampled
instructions for intervals and the paired PGR bootstrap. The judging is in `judges/alpaca_eval.py`.

alpaca_eval's GLMs (`alpaca_eval.metrics.glm_winrate.GLM_INFO`), a logistic regression of the preference on

    length_controlled_v1       tanh(std_delta_len) + instruction_difficulty + not_gamed_baseline - 1,
                               fitted together with the annotations of a verbose and a concise variant
                               of the baseline (`df_gamed.csv`; not_gamed_baseline 0, weight 0.2 / 2);
    length_controlled_noreg    the same formula without those rows;
    length_controlled_minimal  tanh(std_delta_len) + not_gamed_baseline - 1 (no difficulty),

std_delta_len = (len(reference) - len(output)) / std over the model's instructions, in characters;
not_gamed_baseline is 1 on the model's rows (its identity term). The fit: soft labels, no intercept,
L1 penalty with its strength chosen by 5-fold cross-validation (GroupKFold; the 10 strengths of
LogisticRegressionCV, 1e-4 ... 1e4; liblinear). LC win rate = 100 * the mean prediction with
std_delta_len set to 0: a model that wins only by writing more is pulled toward 50%.

Which variant runs: the best the data allow (or `lc_model`), named in the result (`lc_model`) and in the
grader's metric. `length_controlled_v1` is the leaderboard's; it needs `df_gamed.csv` (which carries the
instruction difficulties too), `noreg` only the difficulties (`instruction_difficulty.csv`, or any
mapping, e.g. `estimate_instruction_difficulty` over models judged here). Each is a local path or a Hub
dataset id, by default the official `tatsu-lab/alpaca_eval` (offline: what the local Hub cache holds);
when a file cannot be had, the next variant runs and `lc_notes` says why.

The fit itself: with the package, its own `make_dmatrix_for_model` and `fit_LogisticRegressionCV` on our
annotations, featurised as its `_get_featurized_data` does (that function always downloads
`df_gamed.csv` itself, so its few lines of featurising are repeated here with the file from where it was
given); without the package, ours (`_fit_ours`: numpy and scikit-learn, the same computation; tests
compare the two on the same annotations). alpaca-eval 0.6.6 imports `pkg_resources`, which setuptools
82 removed: a stand-in with the two functions it uses is in place during the import only.

Intervals and the paired PGR bootstrap: `resampled_lc_win_rates` refits on resampled instructions with
the L1 strength fixed at the one the full fit chose (a vectorised Newton fit on a smoothed L1 penalty,
ours whether or not the package is installed: 1000 rounds in seconds), the gamed rows fixed as they are
in every official fit. On the original sample it reproduces the headline (tests: within 0.01 points).
"""

from __future__ import annotations

import csv
import functools
import importlib
import importlib.metadata
import importlib.util
import logging
import math
import re
import sys
import types
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges.pairwise import (
    _sigmoid,
    fit_logistic,
)

GlmName = Literal["length_controlled_v1", "length_controlled_noreg", "length_controlled_minimal"]
GLMS: tuple[GlmName, ...] = ("length_controlled_v1", "length_controlled_noreg", "length_controlled_minimal")
Implementation = Literal["auto", "alpaca_eval", "agorabench"]

HUB_DATASET = "tatsu-lab/alpaca_eval"  # where alpaca_eval downloads both files from
GAMED_FILE = "df_gamed.csv"
DIFFICULTY_FILE = "instruction_difficulty.csv"
GAMED_WEIGHT = 0.2  # GLM_INFO["length_controlled_v1"]["regularize_to_baseline_lambda"], split over 2 variants
CV_SPLITS = 5  # GLM_INFO[...]["kwargs"]["n_splits"]
CS = np.logspace(-4, 4, 10)  # LogisticRegressionCV(Cs=10)
NO_CV_C = 100.0  # fit_LogisticRegressionCV's C when there are too few rows to cross-validate (n_splits=0)

_SMOOTH_L1 = 1e-4  # |b| ~ sqrt(b^2 + eps^2) in the vectorised refit



# ----------------------------------------------------------------------------- the length-control data


@dataclass(frozen=True)
class GamedBaselines:
    """alpaca_eval's `df_gamed.csv`: the baseline's verbose and concise variants judged against it, one
    row per (variant, instruction), featurised as the GLM uses them (preference in [0, 1])."""

    index: np.ndarray  # instruction index (our id as an int)
    preference: np.ndarray
    std_delta_len: np.ndarray
    instruction_difficulty: np.ndarray
    not_gamed_baseline: np.ndarray  # bool: False on these rows (the file's column when it has one)
    source: str

    def difficulty(self) -> dict[str, float]:
        """Per instruction id, the difficulty on its first row (alpaca_eval: `drop_duplicates("index")`)."""
        values: dict[str, float] = {}
        for index, value in zip(self.index, self.instruction_difficulty, strict=True):
            values.setdefault(str(int(index)), float(value))
        return values


def load_instruction_difficulty(path: Path | str) -> dict[str, float]:
    """Per-instruction difficulty from a CSV of (index, difficulty) rows with a header line, the format
    of alpaca_eval's `instruction_difficulty.csv`; keys are our ids (the index as a string)."""
    values: dict[str, float] = {}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        try:
            values[str(int(float(parts[0])))] = float(parts[-1])
        except (ValueError, IndexError):
            raise AgorabenchError(f"{path}: line {number} is not 'index,difficulty'") from None
    return values


def load_gamed_baselines(path: Path | str) -> GamedBaselines:
    """alpaca_eval's `df_gamed.csv` (columns index, preference in [0, 1], std_delta_len,
    instruction_difficulty, and not_gamed_baseline, False when absent; others, such as model, unused)."""
    needed = ("index", "preference", "std_delta_len", "instruction_difficulty")
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise AgorabenchError(f"{path}: cannot read the gamed-baseline annotations ({exc})") from None
    if not rows or any(name not in rows[0] for name in needed):
        raise AgorabenchError(f"{path}: expected a CSV with columns {', '.join(needed)}")
    try:
        columns = {name: np.array([float(row[name]) for row in rows]) for name in needed}
    except ValueError as exc:
        raise AgorabenchError(f"{path}: a value is not a number ({exc})") from None
    if not ((columns["preference"] >= 0) & (columns["preference"] <= 1)).all():
        raise AgorabenchError(f"{path}: preferences must lie in [0, 1] (the GLM's scale)")
    flags = [str(row.get("not_gamed_baseline", "False")).strip().lower() for row in rows]
    if not set(flags) <= {"true", "false", "1", "0", "1.0", "0.0"}:
        raise AgorabenchError(f"{path}: not_gamed_baseline must be True or False")
    return GamedBaselines(
        index=columns["index"].astype(int),
        preference=columns["preference"],
        std_delta_len=columns["std_delta_len"],
        instruction_difficulty=columns["instruction_difficulty"],
        not_gamed_baseline=np.array([flag in ("true", "1", "1.0") for flag in flags]),
        source=str(path),
    )


@dataclass
class LengthControlData:
    """What the length-controlled fit can use, where it came from, and why anything is missing."""

    difficulty: dict[str, float] | None = None
    gamed: GamedBaselines | None = None
    sources: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def best_model(self) -> GlmName:
        if self.gamed is not None:
            return "length_controlled_v1"
        return "length_controlled_noreg" if self.difficulty is not None else "length_controlled_minimal"


_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def _fetch(spec: str | Path, filename: str, official_default: bool) -> tuple[Path | None, str, str | None]:
    """(local file or None, where it came from, why not). A path (a folder: the file inside it) must
    exist; a Hub dataset id is fetched (offline: from the local cache), failing softly when the Hub is
    unreachable or, for the official default, for any reason."""
    text = str(spec)
    path = Path(text).expanduser()
    looks_like_path = isinstance(spec, Path) or text.endswith(".csv") or text.startswith(("/", ".", "~"))
    if path.exists() or looks_like_path or not _HUB_ID.match(text):
        if path.is_dir():
            path = path / filename
        if not path.exists():
            raise AgorabenchError(f"{path}: file not found")
        return path, str(path), None
    from agorabench.data.hub import hub_reachable

    online = hub_reachable()
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id=text, filename=filename, repo_type="dataset")), f"hf:{text}", None
    except Exception as exc:  # noqa: BLE001 - offline, not cached, no such repo or file
        reason = f"{filename} from the Hub dataset {text}: {type(exc).__name__}"
        if not online:
            return None, f"hf:{text}", f"{reason} (the Hub is unreachable and it is not in the local cache)"
        if official_default:
            return None, f"hf:{text}", reason
        raise AgorabenchError(f"cannot fetch {reason}: {exc}") from None


def length_control_data(
    instruction_difficulty: Mapping[str, float] | str | Path | Literal[False] | None = None,
    gamed_baselines: str | Path | Literal[False] | None = None,
) -> LengthControlData:
    """Gather the length-controlled fit's extra data.

    `gamed_baselines`: a `df_gamed.csv` path (or a folder holding one), a Hub dataset id holding one,
    None for the official `tatsu-lab/alpaca_eval`, False (or "none") for none.
    `instruction_difficulty`: a mapping (id -> difficulty), an `instruction_difficulty.csv` path or
    folder, a Hub dataset id, False (or "none") for none, or None: the gamed file's column when that
    file is there (as alpaca_eval's fit takes it), else the official Hub dataset's file. Given both, the
    model's rows take `instruction_difficulty` and the gamed rows keep their file's column.
    """
    data = LengthControlData()
    if isinstance(gamed_baselines, str) and gamed_baselines.lower() == "none":
        gamed_baselines = False
    if isinstance(instruction_difficulty, str) and instruction_difficulty.lower() == "none":
        instruction_difficulty = False
    if gamed_baselines is not False:
        path, source, why = _fetch(gamed_baselines or HUB_DATASET, GAMED_FILE, gamed_baselines is None)
        if path is not None:
            data.gamed = load_gamed_baselines(path)
            data.sources["gamed_baselines"] = source
        elif why:
            data.notes.append(f"no gamed baselines ({why}): length_controlled_v1 cannot run")
    if isinstance(instruction_difficulty, Mapping):
        data.difficulty = {str(k): float(v) for k, v in instruction_difficulty.items()}
        data.sources["instruction_difficulty"] = "given"
    elif instruction_difficulty is None and data.gamed is not None:
        data.difficulty = data.gamed.difficulty()
        data.sources["instruction_difficulty"] = data.sources["gamed_baselines"]
    elif instruction_difficulty is not False:
        spec = instruction_difficulty or HUB_DATASET
        path, source, why = _fetch(spec, DIFFICULTY_FILE, instruction_difficulty is None)
        if path is not None:
            data.difficulty = load_instruction_difficulty(path)
            data.sources["instruction_difficulty"] = source
        elif why:
            data.notes.append(f"no instruction difficulty ({why})")
    return data


# ----------------------------------------------------------------------------- alpaca_eval itself


def _pkg_resources_stand_in() -> types.ModuleType:
    """What alpaca_eval.utils uses of `pkg_resources` (gone from setuptools 82): parse_version and
    get_distribution(name).version."""
    from packaging.version import parse

    module = types.ModuleType("pkg_resources")
    module.parse_version = parse  # type: ignore[attr-defined]
    module.get_distribution = lambda name: types.SimpleNamespace(  # type: ignore[attr-defined]
        version=importlib.metadata.version(name)
    )
    return module


@functools.cache
def alpaca_eval_glm() -> tuple[types.ModuleType | None, str]:
    """(`alpaca_eval.metrics.glm_winrate`, its version), or (None, why not). Importing alpaca_eval also
    sets the root logger to INFO; the level is put back."""
    if importlib.util.find_spec("alpaca_eval") is None:
        return None, "alpaca-eval is not installed"
    root_level = logging.getLogger().level
    stand_in = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            stand_in = _pkg_resources_stand_in()
            sys.modules["pkg_resources"] = stand_in
        try:
            glm = importlib.import_module("alpaca_eval.metrics.glm_winrate")
        except Exception as exc:  # noqa: BLE001 - a broken install must not stop the evaluation
            return None, f"alpaca-eval cannot be imported ({type(exc).__name__}: {exc})"
        finally:
            if stand_in is not None and sys.modules.get("pkg_resources") is stand_in:
                del sys.modules["pkg_resources"]
            logging.getLogger().setLevel(root_level)
    return glm, importlib.metadata.version("alpaca-eval")


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Annotation:
    """One instruction's outcome for the evaluated model against the reference."""

    id: str
    preference: float  # P(the model's output preferred), in [0, 1]; 0/1 from a text verdict
    model_length: int  # characters
    baseline_length: int


def win_rate(annotations: Sequence[Annotation]) -> float:
    """Percent: the mean preference (alpaca_eval's `win_rate`; a split decision counts half)."""
    if not annotations:
        raise ValueError("no annotations")
    return 100.0 * float(np.mean([a.preference for a in annotations]))


@dataclass(frozen=True)
class LengthControlled:
    win_rate: float  # percent
    coefficients: dict[str, float]  # "length" (on tanh(std_delta_len)), "difficulty", "model"
    length_std: float  # the std of the length differences that scales the tanh term
    model: GlmName
    C: float  # liblinear's C (inverse L1 strength) the fit used; inf: unpenalised
    implementation: str  # "alpaca_eval <version>" or "agorabench"


@dataclass(frozen=True)
class _Design:
    """The GLM's training rows (the model's, then the gamed baselines') and its prediction rows."""

    X: np.ndarray  # columns: tanh(std_delta_len), [difficulty], not_gamed_baseline
    y: np.ndarray
    weight: np.ndarray
    X_test: np.ndarray
    names: list[str]
    length_std: float


def _design(
    annotations: Sequence[Annotation],
    difficulty: Mapping[str, float] | None,
    gamed: GamedBaselines | None,
    model: GlmName,
) -> _Design:
    delta = np.array([a.baseline_length - a.model_length for a in annotations], dtype=float)
    std = float(delta.std(ddof=1)) if len(delta) > 1 else math.nan
    scaled = delta / std if std > 0 else np.zeros_like(delta)  # pandas: x / 0 -> nan; no length signal
    n = len(annotations)
    columns, names = [np.tanh(scaled)], ["length"]
    if model != "length_controlled_minimal":
        if difficulty is None:
            raise ValueError(f"{model} needs the instruction difficulties")
        missing = [a.id for a in annotations if a.id not in difficulty]
        if missing:
            raise ValueError(f"no instruction difficulty for ids {missing[:5]}")
        columns.append(np.array([difficulty[a.id] for a in annotations], dtype=float))
        names.append("difficulty")
    columns.append(np.ones(n))
    names.append("model")
    X = np.column_stack(columns)
    X_test = X.copy()
    X_test[:, 0] = 0.0  # "what if the two outputs had the same length"
    y = np.array([a.preference for a in annotations], dtype=float)
    weight = np.ones(n)
    if model == "length_controlled_v1":
        if gamed is None:
            raise ValueError("length_controlled_v1 needs the gamed-baseline annotations")
        flag = gamed.not_gamed_baseline.astype(float)
        G = np.column_stack([np.tanh(gamed.std_delta_len), gamed.instruction_difficulty, flag])
        X = np.vstack([G, X])  # alpaca_eval: pd.concat([df_gamed, df])
        y = np.concatenate([gamed.preference, y])
        weight = np.concatenate([flag + GAMED_WEIGHT * (1 - flag) / 2, weight])
    return _Design(X, y, weight, X_test, names, std)


def _l1_logistic(C: float, random_state: int = 123) -> Any:
    """liblinear's L1-penalised logistic regression without intercept, as alpaca_eval configures it
    (`penalty="l1"`, spelled `l1_ratio=1` from scikit-learn 1.8 on)."""
    import sklearn
    from packaging.version import Version
    from sklearn.linear_model import LogisticRegression

    penalty = {"l1_ratio": 1.0} if Version(sklearn.__version__) >= Version("1.8") else {"penalty": "l1"}
    return LogisticRegression(C=C, solver="liblinear", fit_intercept=False, random_state=random_state, **penalty)


def _fit_ours(design: _Design) -> tuple[np.ndarray, float]:
    """(coefficients, C): alpaca_eval's `fit_LogisticRegressionCV(is_ytrue_proba=True)` with numpy and
    scikit-learn. Each row is duplicated as a win weighted y and a loss weighted 1 - y (times its
    weight); C is chosen among `CS` by GroupKFold cross-validation (a row's two copies in one fold) on the
    weighted soft log loss, then refitted on everything."""
    from sklearn.model_selection import GroupKFold

    X, y, w = design.X, design.y, design.weight
    n = len(y)
    X2 = np.vstack([X, X])
    y2 = np.concatenate([np.ones(n), np.zeros(n)])
    sample_weight = np.concatenate([y, 1 - y]) * np.concatenate([w, w])
    splits = min(CV_SPLITS, n)
    if splits < 2:
        C = NO_CV_C
    else:
        groups = np.concatenate([np.arange(n), np.arange(n)])
        true = np.concatenate([y, y])
        true_weight = np.concatenate([w, w])
        scores = np.zeros(len(CS))
        folds = list(GroupKFold(n_splits=splits).split(X2, y2, groups))
        for train, test in folds:
            for k, C in enumerate(CS):
                fitted = _quiet_fit(_l1_logistic(C), X2[train], y2[train], sample_weight[train])
                q = np.clip(fitted.predict_proba(X2[test])[:, 1], 1e-15, 1 - 1e-15)
                loss = -np.mean((true[test] * np.log(q) + (1 - true[test]) * np.log(1 - q)) * true_weight[test])
                scores[k] -= loss / len(folds)
        C = float(CS[int(np.argmax(scores))])
    fitted = _quiet_fit(_l1_logistic(C), X2, y2, sample_weight)
    return fitted.coef_[0].astype(float), C


def _quiet_fit(model: Any, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray) -> Any:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, sample_weight=sample_weight)


def _fit_package(
    glm: types.ModuleType,
    annotations: Sequence[Annotation],
    difficulty: Mapping[str, float] | None,
    gamed: GamedBaselines | None,
    model: GlmName,
) -> tuple[float, np.ndarray, float]:
    """(LC win rate, coefficients, C) from alpaca_eval's own GLM code: `get_length_controlled_winrate`'s
    steps after featurising, on a frame featurised as its `_get_featurized_data` does."""
    import pandas as pd
    import sklearn

    info = glm.GLM_INFO[model]
    delta = pd.Series([a.baseline_length - a.model_length for a in annotations], dtype=float)  # output_1 - output_2
    diff = [difficulty[a.id] for a in annotations] if difficulty is not None else [0.0] * len(annotations)
    df = pd.DataFrame({
        "preference": [a.preference for a in annotations],  # already (alpaca_eval's 1..2) - 1
        "index": [int(a.id) for a in annotations],
        "std_delta_len": delta / delta.std(),
        "instruction_difficulty": diff,
        "not_gamed_baseline": True,
    })
    df_test = df[["instruction_difficulty", "not_gamed_baseline"]].copy()
    df_test["std_delta_len"] = 0
    lam = info["regularize_to_baseline_lambda"]
    if lam:
        assert gamed is not None
        df_gamed = pd.DataFrame({
            "index": gamed.index,
            "preference": gamed.preference,
            "std_delta_len": gamed.std_delta_len,
            "instruction_difficulty": gamed.instruction_difficulty,
            "not_gamed_baseline": gamed.not_gamed_baseline,
        })
        both = pd.concat([df_gamed, df], axis=0)
        train, test = glm.make_dmatrix_for_model(both, df_test, formula=info["formula"])
        sample_weight = both["not_gamed_baseline"].astype(float) + (lam * ~both["not_gamed_baseline"]).astype(float) / 2
    else:
        train, test = glm.make_dmatrix_for_model(df, df_test, formula=info["formula"])
        sample_weight = None
    kwargs = dict(info["kwargs"])
    if len(train) < kwargs.get("n_splits", CV_SPLITS):  # too few rows for its 5 folds (a tiny --limit)
        kwargs["n_splits"] = len(train) if len(train) >= 2 else 0
    with sklearn.config_context(), warnings.catch_warnings():  # it sets enable_metadata_routing globally
        warnings.simplefilter("ignore")
        fitted = glm.fit_LogisticRegressionCV(
            train, "preference", is_ytrue_proba=True, sample_weight=sample_weight, **kwargs
        )
        predicted = fitted.predict_proba(test)[:, 1]
    C = float(fitted.C_[0]) if hasattr(fitted, "C_") else float(fitted.C)
    return 100.0 * float(predicted.mean()), fitted.coef_[0].astype(float), C


def length_controlled_win_rate(
    annotations: Sequence[Annotation],
    difficulty: Mapping[str, float] | None = None,
    gamed: GamedBaselines | None = None,
    *,
    model: GlmName | None = None,
    implementation: Implementation = "auto",
    penalty: Literal["official", "none"] = "official",
) -> LengthControlled:
    """The length-controlled win rate (percent) by the GLM `model` (default: the best the data allow;
    module docstring). `implementation`: alpaca_eval's code ("auto": when it can be imported) or ours.
    `penalty="none"`: ours, unpenalised (for checks against closed forms)."""
    if not annotations:
        raise ValueError("no annotations")
    if difficulty is None and gamed is not None:
        difficulty = gamed.difficulty()
    if model is None:
        model = LengthControlData(difficulty, gamed).best_model()
    if model not in GLMS:
        raise ValueError(f"unknown length-control model {model!r} (known: {', '.join(GLMS)})")
    design = _design(annotations, difficulty, gamed, model)
    glm, version = alpaca_eval_glm() if implementation != "agorabench" and penalty == "official" else (None, "")
    if implementation == "alpaca_eval" and glm is None:
        raise AgorabenchError(f"implementation='alpaca_eval' needs the alpaca-eval package: {version}")
    if not design.length_std > 0:  # one instruction, or equal length differences: alpaca_eval divides by 0
        glm = None
    used, failed = "", ""
    if glm is not None:
        try:
            lc, beta, C = _fit_package(glm, annotations, difficulty, gamed, model)
            used = f"alpaca_eval {version}"
        except Exception as exc:  # e.g. a scikit-learn release its code does not know (penalty="l1")
            if implementation == "alpaca_eval":
                raise
            glm, failed = None, f" (alpaca_eval {version} failed: {type(exc).__name__})"
    if glm is None:
        if penalty == "none":
            beta, C = fit_logistic(design.X, design.y, sample_weight=design.weight), math.inf
        else:
            beta, C = _fit_ours(design)
        lc = 100.0 * float(np.mean(_sigmoid(design.X_test @ beta)))
        used = "agorabench" + failed
    coefficients = dict(zip(design.names, map(float, beta), strict=True))
    return LengthControlled(lc, coefficients, design.length_std, model, C, used)


# ----------------------------------------------------------------------------- resampled refits


def question_rows(
    annotations: Sequence[Annotation],
    lc: LengthControlled,
    difficulty: Mapping[str, float] | None,
    gamed: GamedBaselines | None,
) -> list[dict[str, Any]]:
    """Per instruction, what `resampled_lc_win_rates` refits on: the preference, both lengths, the
    difficulty (when the GLM uses it), the GLM and its C. For length_controlled_v1 `gamed` holds the
    gamed-baseline rows ([std_delta_len, difficulty, preference]) of the row's own instruction and, spread
    round-robin, those of instructions without a row (not asked, or failed), so that the rows together
    carry every gamed row the headline's fit used (a 4th value, 1, marks the rare not_gamed_baseline row)."""
    rows = []
    for a in annotations:
        row: dict[str, Any] = {
            "id": a.id,
            "preference": a.preference,
            "output_length": a.model_length,
            "baseline_length": a.baseline_length,
            "lc_model": lc.model,
            "lc_C": lc.C,
        }
        if lc.model != "length_controlled_minimal":
            assert difficulty is not None
            row["instruction_difficulty"] = difficulty[a.id]
        rows.append(row)
    if lc.model == "length_controlled_v1" and gamed is not None and rows:
        where = {row["id"]: row for row in rows}
        spare = 0
        for index, sd, diff, pref, flag in zip(
            gamed.index, gamed.std_delta_len, gamed.instruction_difficulty, gamed.preference,
            gamed.not_gamed_baseline, strict=True,
        ):
            row = where.get(str(int(index)))
            if row is None:
                row, spare = rows[spare % len(rows)], spare + 1
            row.setdefault("gamed", []).append([float(sd), float(diff), float(pref)] + ([1.0] if flag else []))
    return rows


def resampled_lc_win_rates(rows: Sequence[Mapping[str, Any]], draws: np.ndarray) -> np.ndarray:
    """The LC win rate (percent) of each round of resampled instructions: `draws` (rounds, n) are indices
    into `rows` (`question_rows`). Each round refits the GLM with the length std recomputed on the drawn
    rows, the C of the full fit, and the gamed rows unchanged (a penalty, as in every official fit);
    vectorised Newton on the L1 penalty smoothed to sqrt(b^2 + 1e-8), warm-started at the full fit."""
    draws = np.atleast_2d(np.asarray(draws, dtype=int))
    models = {row["lc_model"] for row in rows}
    if len(models) != 1 or not models <= set(GLMS):
        raise ValueError(f"rows of one length-control model expected, got {sorted(map(str, models))}")
    (model,) = models
    C = float(rows[0]["lc_C"])
    pref = np.array([float(row["preference"]) for row in rows])
    delta = np.array([float(row["baseline_length"]) - float(row["output_length"]) for row in rows])
    with_difficulty = model != "length_controlled_minimal"
    diff = np.array([float(row["instruction_difficulty"]) for row in rows]) if with_difficulty else None
    gamed = np.array([[*g, 0.0][:4] for row in rows for g in row.get("gamed", ())], dtype=float).reshape(-1, 4)
    if model == "length_controlled_v1" and not len(gamed):
        raise ValueError("length_controlled_v1 rows carry no gamed-baseline rows")

    k = 3 if with_difficulty else 2
    d = delta[draws]  # (R, n)
    std = d.std(axis=1, ddof=1, keepdims=True) if d.shape[1] > 1 else np.full((len(d), 1), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        length = np.where(std > 0, np.tanh(d / std), 0.0)
    F = [length] + ([diff[draws]] if diff is not None else []) + [np.ones_like(length)]
    X = np.stack(F, axis=-1)  # (R, n, k)
    y = pref[draws]
    if model == "length_controlled_v1":
        G = np.column_stack([np.tanh(gamed[:, 0]), gamed[:, 1], gamed[:, 3]])
        yg, wg = gamed[:, 2], gamed[:, 3] + GAMED_WEIGHT * (1 - gamed[:, 3]) / 2
    else:
        G, yg, wg = np.zeros((0, k)), np.zeros(0), np.zeros(0)
    X_test = X.copy()
    X_test[..., 0] = 0.0
    beta = _batched_l1_logistic(X, y, G, yg, wg, C)
    return 100.0 * _sigmoid(np.einsum("rnk,rk->rn", X_test, beta)).mean(axis=1)


def _softplus_and_sigmoid(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log(1 + e^z), 1 / (1 + e^-z)), stably, with one exp."""
    e = np.exp(-np.abs(z))
    return np.maximum(z, 0.0) + np.log1p(e), np.where(z >= 0, 1.0, e) / (1.0 + e)


def _batched_l1_logistic(
    X: np.ndarray, y: np.ndarray, G: np.ndarray, yg: np.ndarray, wg: np.ndarray, C: float, iters: int = 100
) -> np.ndarray:
    """Per round r, argmin_b sum_i l(X[r,i] b, y[r,i]) + sum_g wg l(G[g] b, yg[g]) + |b|_1 / C (soft-label
    log loss l, |b| smoothed), by damped Newton on every round at once, from the fit of the first round."""
    k = X.shape[2]
    inv_c = 1.0 / C if math.isfinite(C) else 0.0
    eps2 = _SMOOTH_L1**2
    GG = (G[:, :, None] * G[:, None, :]).reshape(len(G), k * k)

    def evaluate(b: np.ndarray, Xr: np.ndarray, yr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = np.einsum("rnk,rk->rn", Xr, b)
        zg = b @ G.T
        soft, p = _softplus_and_sigmoid(z)
        soft_g, pg = _softplus_and_sigmoid(zg)
        value = (soft - yr * z).sum(axis=1) + ((soft_g - yg * zg) @ wg) + inv_c * np.sqrt(b * b + eps2).sum(axis=1)
        return value, p, pg

    def newton(b: np.ndarray, Xr: np.ndarray, yr: np.ndarray) -> np.ndarray:
        value, p, pg = evaluate(b, Xr, yr)
        Xt = Xr.transpose(0, 2, 1)
        for _ in range(iters):
            root = np.sqrt(b * b + eps2)
            grad = (Xt @ (p - yr)[..., None])[..., 0] + ((pg - yg) * wg) @ G + inv_c * b / root
            hess = Xt @ (Xr * (p * (1 - p))[..., None]) + ((pg * (1 - pg) * wg) @ GG).reshape(-1, k, k)
            hess += (inv_c * eps2 / root**3 + 1e-12)[:, :, None] * np.eye(k)
            step = np.linalg.solve(hess, grad[..., None])[..., 0]
            t = np.ones(len(b))
            candidate = b - step
            new_value, new_p, new_pg = evaluate(candidate, Xr, yr)
            for _ in range(40):  # backtracking, only for the rounds whose step overshot
                worse = new_value > value + 1e-12 * np.maximum(1.0, np.abs(value))
                if not worse.any():
                    break
                t = np.where(worse, t / 2, t)
                candidate = b - t[:, None] * step
                new_value, new_p, new_pg = evaluate(candidate, Xr, yr)
            b, value, p, pg = candidate, new_value, new_p, new_pg
            if np.max(np.abs(t[:, None] * step)) < 1e-9:
                break
        return b

    start = newton(np.zeros((1, k)), X[:1], y[:1])
    return newton(np.repeat(start, len(X), axis=0), X, y) if len(X) > 1 else start


# ----------------------------------------------------------------------------- difficulty from models here


def estimate_instruction_difficulty(
    annotations_by_model: Mapping[str, Sequence[Annotation]], l2: float = 1.0
) -> dict[str, float]:
    """Per-instruction difficulty from several models judged against the same reference (a stand-in for
    alpaca_eval's, which it estimated once across its leaderboard).

    Fits logit P(model m preferred on x) = theta_m + phi_m * tanh(len diff / std_m) + gamma_x jointly
    (gamma ridge-penalised) and returns -gamma standardised to mean 0, std 1: higher means the models
    beat the reference less often there. With a single model gamma is not identifiable from the data.
    """
    models = [m for m, rows in annotations_by_model.items() if rows]
    if len(models) < 2:
        raise ValueError("estimating instruction difficulty needs judgments of at least two models")
    ids = sorted({a.id for m in models for a in annotations_by_model[m]}, key=lambda i: (len(i), i))
    column = {i: k for k, i in enumerate(ids)}
    n_rows = sum(len(annotations_by_model[m]) for m in models)
    X = np.zeros((n_rows, 2 * len(models) + len(ids)))
    y = np.zeros(n_rows)
    row = 0
    for j, model in enumerate(models):
        rows = annotations_by_model[model]
        length = _design(rows, None, None, "length_controlled_minimal").X[:, 0]
        for a, value in zip(rows, length, strict=True):
            X[row, j] = 1.0
            X[row, len(models) + j] = value
            X[row, 2 * len(models) + column[a.id]] = 1.0
            y[row] = a.preference
            row += 1
    penalty = np.concatenate([np.full(2 * len(models), 1e-6), np.full(len(ids), l2)])
    gamma = fit_logistic(X, y, l2=penalty)[2 * len(models) :]
    gamma = gamma - gamma.mean()
    scale = gamma.std()
    values = -gamma / scale if scale > 0 else np.zeros_like(gamma)
    return {i: float(v) for i, v in zip(ids, values, strict=True)}
